"""Assignment rules on leads: conditions, rule order, the three strategies, capacity with its
fall-through to the next rule and the pool, and the pending pool assigned best score first."""

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team, Workspace
from huike.core.models import OutboxMessage
from huike.sales.assignment import (
    PENDING_BATCH_SIZE,
    AssignmentRuleData,
    RuleConditions,
    assignment_rule_create,
    leads_assign_pending,
)
from huike.sales.models import AssignmentRule, LeadHistory, LeadSettings, LeadStatus, Notification
from huike.sales.ownership import lead_owner_change
from huike.sales.tasks_assignment import assign_pool_leads_everywhere
from huike.sales.tests import test_assignment_support as support
from huike.sales.tests.test_assignment_support import (
    MakeLead,
    MakeRule,
    assign,
    owner_of,
)

make_lead = support.make_lead
make_rule = support.make_rule
team = support.team
manager = support.manager
ann = support.ann
bob = support.bob
cy = support.cy


# --- conditions -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("conditions", "fields", "matches"),
    [
        (RuleConditions(), {}, True),
        (RuleConditions(regions=("Shanghai", "Beijing")), {"region": "shanghai"}, True),
        (RuleConditions(regions=("Shanghai",)), {"region": "Hangzhou"}, False),
        (RuleConditions(regions=("Shanghai",)), {"region": ""}, False),
        (RuleConditions(sources=("web_form",)), {"source": "web_form"}, True),
        (RuleConditions(sources=("web_form",)), {"source": "import"}, False),
        (RuleConditions(industries=("Retail",)), {"industry": "RETAIL"}, True),
        (RuleConditions(languages=("en",)), {"language": "zh-hans"}, False),
        (RuleConditions(min_score=50), {"score": 50}, True),
        (RuleConditions(min_score=50), {"score": 49}, False),
        (RuleConditions(max_score=100), {"score": 101}, False),
        (RuleConditions(min_score=10, max_score=20), {"score": 15}, True),
        (
            RuleConditions(regions=("Shanghai",), industries=("Retail",)),
            {"region": "Shanghai", "industry": "Banking"},
            False,
        ),
    ],
)
def test_conditions_match_in_python_and_in_sql_alike(
    make_lead: MakeLead, conditions: RuleConditions, fields: dict[str, object], matches: bool
) -> None:
    # given
    lead = make_lead(**fields)

    # when
    in_python = conditions.matches(lead)
    in_sql = type(lead).objects.filter(pk=lead.pk).filter(conditions.as_q()).exists()

    # then
    assert (in_python, in_sql) == (matches, matches)


def test_rules_are_evaluated_in_order_and_the_first_match_wins(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership, bob: Membership
) -> None:
    # given: a catch-all rule first, a Shanghai rule second
    catch_all = make_rule("Everyone to Ann", "owner", owner=ann)
    make_rule("Shanghai to Bob", "owner", RuleConditions(regions=("Shanghai",)), owner=bob)
    lead = make_lead(region="Shanghai")

    # when
    chosen = assign(lead)

    # then
    assert chosen == ann
    lead.refresh_from_db()
    assert (lead.owner, lead.assignment_rule, lead.team_id) == (ann, catch_all, ann.team_id)


def test_a_rule_that_does_not_match_is_skipped(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership, bob: Membership
) -> None:
    # given
    make_rule("Shanghai to Bob", "owner", RuleConditions(regions=("Shanghai",)), owner=bob)
    make_rule("Everyone to Ann", "owner", owner=ann)

    # when
    chosen = [assign(make_lead(region=region)) for region in ("Beijing", "SHANGHAI")]

    # then
    assert chosen == [ann, bob]


def test_a_paused_rule_assigns_nothing(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership
) -> None:
    # given
    make_rule("Ann", "owner", owner=ann, is_active=False)
    lead = make_lead()

    # when
    chosen = assign(lead)

    # then
    assert chosen is None
    assert owner_of(lead) is None


def test_no_rule_leaves_the_lead_in_the_pool(make_lead: MakeLead) -> None:
    # given
    lead = make_lead()

    # when / then
    assert assign(lead) is None
    assert owner_of(lead) is None
    assert LeadHistory.objects.filter(lead=lead).count() == 0


# --- strategies -----------------------------------------------------------------------------
def test_round_robin_takes_the_members_in_turn(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership, bob: Membership, cy: Membership
) -> None:
    # given
    rule = make_rule("Round", "round_robin", members=[cy, ann, bob])

    # when
    chosen = [assign(make_lead(f"Lead {number}")) for number in range(5)]

    # then
    assert chosen == [ann, bob, cy, ann, bob]
    rule.refresh_from_db()
    assert rule.last_assigned == bob


def test_round_robin_over_the_teams_usable_members_when_the_rule_names_none(
    make_lead: MakeLead,
    make_rule: MakeRule,
    team: Team,
    ann: Membership,
    bob: Membership,
    cy: Membership,
) -> None:
    # given: Bob left, Cy has not accepted the invitation yet
    bob.is_active = False
    bob.save(update_fields=["is_active"])
    cy.accepted_at = None
    cy.save(update_fields=["accepted_at"])
    make_rule("Team East", "round_robin", team=team)

    # when
    chosen = [assign(make_lead(f"Lead {number}")) for number in range(2)]

    # then
    assert chosen == [ann, ann]


def test_round_robin_passes_over_a_rep_at_capacity(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership, bob: Membership
) -> None:
    # given: Ann already holds two open leads, a converted one does not count
    for status in (LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.CONVERTED):
        make_lead(owner=ann, status=status)
    make_rule("Round", "round_robin", members=[ann, bob], capacity=2)

    # when
    chosen = [assign(make_lead(f"Lead {number}")) for number in range(3)]

    # then: Bob gets everything until he is full too, then the pool
    assert chosen == [bob, bob, None]


def test_least_load_gives_the_lead_to_the_rep_with_fewest_open_leads(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership, bob: Membership, cy: Membership
) -> None:
    # given: open leads Ann 2, Bob 0 (his unqualified one does not count), Cy 1
    make_lead(owner=ann)
    make_lead(owner=ann, status=LeadStatus.QUALIFIED)
    make_lead(owner=bob, status=LeadStatus.UNQUALIFIED)
    make_lead(owner=cy)
    make_rule("Least", "least_load", members=[ann, bob, cy])

    # when
    chosen = [assign(make_lead(f"Lead {number}")) for number in range(4)]

    # then: Bob (0); Bob and Cy tie at 1, the turn after Bob is Cy's; Bob (1); all tie at 2,
    # the turn after Bob is Cy's again
    assert chosen == [bob, cy, bob, cy]


def test_least_load_uses_the_workspace_claim_limit_without_a_rule_capacity(
    workspace: Workspace, make_lead: MakeLead, make_rule: MakeRule, ann: Membership
) -> None:
    # given
    LeadSettings.objects.create(workspace=workspace, claim_limit=1)
    make_rule("Least", "least_load", members=[ann])

    # when
    chosen = [assign(make_lead(f"Lead {number}")) for number in range(2)]

    # then
    assert chosen == [ann, None]


def test_a_full_rule_falls_through_to_the_next_rule_and_finally_the_pool(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership, bob: Membership
) -> None:
    # given
    make_lead(owner=ann)
    first = make_rule("Ann first", "least_load", members=[ann], capacity=1)
    second = make_rule("Then Bob", "least_load", members=[bob], capacity=1)

    # when
    leads = [make_lead(f"Lead {number}") for number in range(2)]
    chosen = [assign(lead) for lead in leads]

    # then
    assert chosen == [bob, None]
    leads[0].refresh_from_db()
    assert leads[0].assignment_rule == second
    assert first.pk != second.pk
    assert owner_of(leads[1]) is None


def test_a_named_owner_gets_every_lead_whatever_their_load(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership
) -> None:
    # given
    for _ in range(3):
        make_lead(owner=ann)
    make_rule("Key accounts", "owner", owner=ann, capacity=None)

    # when / then
    assert assign(make_lead()) == ann


def test_a_named_owner_who_left_passes_the_lead_to_the_next_rule(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership, bob: Membership
) -> None:
    # given
    make_rule("Ann", "owner", owner=ann)
    make_rule("Bob", "owner", owner=bob)
    ann.is_active = False
    ann.save(update_fields=["is_active"])

    # when / then
    assert assign(make_lead()) == bob


def test_an_owned_or_closed_lead_is_left_alone(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership, bob: Membership
) -> None:
    # given
    make_rule("Ann", "owner", owner=ann)
    owned = make_lead(owner=bob)
    converted = make_lead(status=LeadStatus.CONVERTED)

    # when / then
    assert (assign(owned), assign(converted)) == (None, None)
    assert (owner_of(owned), owner_of(converted)) == (bob, None)


# --- what an assignment writes ------------------------------------------------------------
def test_assignment_records_history_sla_outbox_and_notifies_the_rep(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership
) -> None:
    # given
    rule = make_rule("Web leads", "owner", owner=ann, sla_minutes=30)
    lead = make_lead("Wang Fang", source="web_form")
    before = timezone.now()

    # when
    assign(lead)

    # then
    lead.refresh_from_db()
    assert lead.assigned_at is not None
    assert lead.assigned_at >= before
    assert lead.first_contact_due_at == lead.assigned_at + timedelta(minutes=30)
    history = LeadHistory.objects.get(lead=lead)
    assert (history.kind, history.from_owner, history.to_owner, history.actor) == (
        LeadHistory.Kind.ASSIGNED,
        None,
        ann,
        None,
    )
    assert history.details == {"rule": "Web leads", "strategy": "owner"}
    notification = Notification.objects.get(recipient=ann)
    assert (notification.kind, notification.title, notification.url) == (
        "lead.assigned",
        "Lead assigned to you: Wang Fang",
        reverse("sales:lead_detail", args=[lead.public_id]),
    )
    assert notification.body.startswith("Rule “Web leads”. First contact due by ")
    message = OutboxMessage.objects.get(kind="lead.assigned")
    assert message.payload == {
        "lead_id": str(lead.public_id),
        "owner_id": str(ann.public_id),
        "rule_id": str(rule.public_id),
        "first_contact_due_at": lead.first_contact_due_at.isoformat(),
    }


def test_a_rule_without_sla_sets_no_due_time(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership
) -> None:
    # given
    make_rule("Ann", "owner", owner=ann)
    lead = make_lead()

    # when
    assign(lead)

    # then
    lead.refresh_from_db()
    assert (lead.owner, lead.first_contact_due_at) == (ann, None)
    assert Notification.objects.get(recipient=ann).body == "Rule “Ann”."


def test_the_notification_is_written_in_the_reps_language(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership
) -> None:
    # given
    ann.user.language = "zh-hans"
    ann.user.save(update_fields=["language"])
    make_rule("Ann", "owner", owner=ann, sla_minutes=60)

    # when
    assign(make_lead("Wang Fang"))

    # then: the due time is in the Chinese date format
    body = Notification.objects.get(recipient=ann).body
    assert "年" in body
    assert "月" in body


# --- the pending pool -----------------------------------------------------------------------
def test_pending_pool_leads_are_assigned_highest_score_first(
    workspace: Workspace, make_lead: MakeLead, make_rule: MakeRule, ann: Membership
) -> None:
    # given: three pool leads captured before the rule; Ann has room for two
    low = make_lead("Low", score=5)
    high = make_lead("High", score=90)
    middle = make_lead("Middle", score=40)
    make_rule("Least", "least_load", members=[ann], capacity=2)

    # when
    assigned = leads_assign_pending(workspace_id=ann.workspace_id)

    # then
    assert assigned == 2
    assert [owner_of(lead) for lead in (high, middle, low)] == [ann, ann, None]


def test_pending_leaves_returned_leads_and_unmatched_leads_in_the_pool(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership, bob: Membership
) -> None:
    # given: one lead Bob released, one from another region, one never owned
    released = make_lead("Released")
    lead_owner_change(lead=released, to_owner=bob, kind=LeadHistory.Kind.CLAIMED, actor=bob)
    lead_owner_change(lead=released, to_owner=None, kind=LeadHistory.Kind.RELEASED, actor=bob)
    elsewhere = make_lead("Elsewhere", region="Beijing")
    fresh = make_lead("Fresh", region="Shanghai")
    make_rule("Shanghai", "owner", RuleConditions(regions=("Shanghai",)), owner=ann)

    # when
    assigned = leads_assign_pending(workspace_id=ann.workspace_id)

    # then
    assert assigned == 1
    assert [owner_of(lead) for lead in (released, elsewhere, fresh)] == [None, None, ann]


def test_pending_goes_through_more_leads_than_one_batch(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership, bob: Membership
) -> None:
    # given
    leads = [make_lead(f"Lead {number}", score=number) for number in range(PENDING_BATCH_SIZE + 3)]
    make_rule("Round", "round_robin", members=[ann, bob])

    # when
    assigned = leads_assign_pending(workspace_id=ann.workspace_id)

    # then
    assert assigned == PENDING_BATCH_SIZE + 3
    owners = [owner_of(lead) for lead in sorted(leads, key=lambda lead: -lead.score)]
    assert owners[:4] == [ann, bob, ann, bob]
    assert AssignmentRule.objects.get().last_assigned == (
        ann if (PENDING_BATCH_SIZE + 3) % 2 else bob
    )


def test_pending_of_a_workspace_without_rules_assigns_nothing(make_lead: MakeLead) -> None:
    # given
    lead = make_lead()

    # when / then
    assert leads_assign_pending(workspace_id=lead.workspace_id) == 0
    assert owner_of(lead) is None


def test_pending_with_a_catch_all_rule_behind_a_narrow_one_takes_every_lead(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership, bob: Membership
) -> None:
    # given
    make_rule("Shanghai", "owner", RuleConditions(regions=("Shanghai",)), owner=ann)
    make_rule("The rest", "owner", owner=bob)
    leads = [make_lead(region=region) for region in ("Shanghai", "Beijing", "")]

    # when
    assigned = leads_assign_pending(workspace_id=ann.workspace_id)

    # then
    assert assigned == 3
    assert [owner_of(lead) for lead in leads] == [ann, bob, bob]


def test_a_rule_change_assigns_the_waiting_pool_once_committed(
    make_lead: MakeLead,
    make_rule: MakeRule,
    ann: Membership,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given
    lead = make_lead()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        make_rule("Ann", "owner", owner=ann)

    # then
    assert owner_of(lead) == ann


def test_the_periodic_task_assigns_the_pools_of_every_workspace(
    make_lead: MakeLead,
    make_rule: MakeRule,
    ann: Membership,
    outsider: Membership,
    outsider_actor: Actor,
) -> None:
    # given: a waiting lead in each workspace, each with its own rule
    ours = make_lead()
    theirs = support.new_lead(outsider.workspace)
    make_rule("Ann", "owner", owner=ann)
    assignment_rule_create(
        actor=outsider_actor,
        data=AssignmentRuleData(name="Outsider", strategy="owner", owner=outsider),
    )

    # when
    result = assign_pool_leads_everywhere.enqueue()

    # then
    assert result.return_value == 2
    assert (owner_of(ours), owner_of(theirs)) == (ann, outsider)
