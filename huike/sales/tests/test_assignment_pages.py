"""The lead-assignment settings page: rules in order with move up/down, creating, changing and
deleting a rule, the per-rep load against capacity, and assigning the pool now. A role without
leads.configure gets 403 and changes nothing; another workspace gets 404 and changes
nothing."""

from collections.abc import Callable

from django.test import Client
from django.urls import reverse

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.core.navigation import nav_items
from huike.sales.assignment import RuleConditions
from huike.sales.demo_assignment import assignment_demo_seed
from huike.sales.models import AssignmentRule, LeadStatus
from huike.sales.tests import test_assignment_support as support
from huike.sales.tests.test_assignment_support import MakeLead, MakeRule, owner_of

make_lead = support.make_lead
make_rule = support.make_rule
team = support.team
manager = support.manager
ann = support.ann
bob = support.bob

PAGE = reverse("sales:settings_assignment")


def _rules() -> list[tuple[str, int]]:
    return list(AssignmentRule.objects.order_by("position").values_list("name", "position"))


def _text(response: object) -> str:
    content: bytes = response.content  # type: ignore[attr-defined]
    return content.decode()


def test_the_page_lists_rules_in_order_with_loads_and_waiting_leads(
    owner_client: Client, make_rule: MakeRule, make_lead: MakeLead, ann: Membership, bob: Membership
) -> None:
    # given
    make_lead(owner=ann)
    make_lead(owner=ann, status=LeadStatus.CONVERTED)
    make_lead(region="Shanghai")
    make_rule(
        "Shanghai team",
        "least_load",
        RuleConditions(regions=("Shanghai",), min_score=10),
        members=[ann, bob],
        capacity=5,
        sla_minutes=60,
    )
    make_rule("Everything else", "owner", owner=bob)

    # when
    response = owner_client.get(PAGE)

    # then
    assert response.status_code == 200
    text = _text(response)
    assert text.index("Shanghai team") < text.index("Everything else")
    assert "Region:</span> Shanghai" in text
    assert "Score:</span> at least 10" in text
    assert "within 60 minutes" in text
    assert 'max="5" value="1"' in text  # Ann: one open lead of five
    # the Shanghai lead scores 0, below the first rule's 10, but the second takes any lead
    assert "1 lead in the pool is taken by an active rule" in text
    loads = {load.membership: load.open_leads for load in response.context["loads"]}
    assert loads == {ann: 1, bob: 0}
    assert response.context["pending"] == 1


def test_the_settings_menu_shows_the_page_to_roles_with_leads_configure(
    owner_client: Client, owner_actor: Actor, member_actor: Actor
) -> None:
    # when
    page = owner_client.get(PAGE)

    # then
    assert f'href="{PAGE}" aria-current="page">Lead assignment</a>' in _text(page)
    assert "sales:settings_assignment" in {
        item.url_name for item in nav_items("settings", owner_actor.permissions)
    }
    assert "sales:settings_assignment" not in {
        item.url_name for item in nav_items("settings", member_actor.permissions)
    }


def test_a_rule_is_created_from_the_page(
    owner_client: Client, ann: Membership, bob: Membership
) -> None:
    # when
    response = owner_client.post(
        PAGE,
        {
            "name": "Web leads",
            "is_active": "on",
            "regions": "Shanghai，Suzhou、 Hangzhou",
            "sources": ["web_form", "channel"],
            "min_score": "30",
            "strategy": "round_robin",
            "members": [str(ann.pk), str(bob.pk)],
            "sla_minutes": "45",
        },
    )

    # then
    assert response.status_code == 302
    rule = AssignmentRule.objects.get()
    assert (rule.name, rule.strategy, rule.sla_minutes, rule.capacity, rule.is_active) == (
        "Web leads",
        "round_robin",
        45,
        None,
        True,
    )
    assert rule.conditions == {
        "regions": ["Shanghai", "Suzhou", "Hangzhou"],
        "sources": ["web_form", "channel"],
        "industries": [],
        "languages": [],
        "min_score": 30,
        "max_score": None,
    }
    assert set(rule.members.all()) == {ann, bob}


def test_an_owner_rule_without_an_owner_is_refused_on_the_form(owner_client: Client) -> None:
    # when
    response = owner_client.post(PAGE, {"name": "Nobody", "strategy": "owner"})

    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {"owner": ["Choose the owner who gets the leads."]}
    assert AssignmentRule.objects.count() == 0


def test_a_rule_is_changed_moved_and_deleted(
    owner_client: Client, make_rule: MakeRule, ann: Membership, bob: Membership
) -> None:
    # given
    first = make_rule("First", "owner", owner=ann)
    second = make_rule("Second", "owner", owner=ann)
    edit = reverse("sales:settings_assignment_rule", args=[second.public_id])

    # when
    form = owner_client.get(edit)
    changed = owner_client.post(
        edit,
        {"name": "Second, to Bob", "strategy": "owner", "owner": str(bob.pk), "capacity": ""},
    )
    moved = owner_client.post(
        reverse("sales:settings_assignment_rule_move", args=[second.public_id]),
        {"direction": "up"},
    )

    # then
    assert form.status_code == 200
    assert form.context["form"].initial["owner"] == ann
    assert (changed.status_code, moved.status_code) == (302, 302)
    second.refresh_from_db()
    assert (second.owner, second.is_active) == (bob, False)  # the box was left unticked
    assert _rules() == [("Second, to Bob", 0), ("First", 1)]

    # when
    deleted = owner_client.post(
        reverse("sales:settings_assignment_rule_delete", args=[first.public_id])
    )

    # then
    assert deleted.status_code == 302
    assert _rules() == [("Second, to Bob", 0)]


def test_assign_pool_now_assigns_the_waiting_leads(
    owner_client: Client, make_rule: MakeRule, make_lead: MakeLead, ann: Membership
) -> None:
    # given
    leads = [make_lead(f"Lead {number}") for number in range(2)]
    make_rule("Ann", "owner", owner=ann)

    # when
    response = owner_client.post(reverse("sales:settings_assignment_pool"), follow=True)

    # then
    assert "2 pool leads assigned." in _text(response)
    assert [owner_of(lead) for lead in leads] == [ann, ann]


# --- access ---------------------------------------------------------------------------------
def _every_request(client: Client, rule: AssignmentRule, member: Membership) -> list[int]:
    rule_page = reverse("sales:settings_assignment_rule", args=[rule.public_id])
    return [
        client.get(PAGE).status_code,
        client.post(
            PAGE, {"name": "Mine", "strategy": "owner", "owner": str(member.pk)}
        ).status_code,
        client.get(rule_page).status_code,
        client.post(
            rule_page, {"name": "Changed", "strategy": "owner", "owner": str(member.pk)}
        ).status_code,
        client.post(
            reverse("sales:settings_assignment_rule_move", args=[rule.public_id]),
            {"direction": "down"},
        ).status_code,
        client.post(
            reverse("sales:settings_assignment_rule_delete", args=[rule.public_id])
        ).status_code,
    ]


def test_a_role_without_leads_configure_gets_403_and_changes_nothing(
    member_client: Client, make_rule: MakeRule, make_lead: MakeLead, ann: Membership
) -> None:
    # given
    rule = make_rule("Ann", "owner", owner=ann)
    lead = make_lead()

    # when
    statuses = _every_request(member_client, rule, ann)
    pool = member_client.post(reverse("sales:settings_assignment_pool"))

    # then
    assert statuses == [403] * 6
    assert pool.status_code == 403
    assert _rules() == [("Ann", 0)]
    assert owner_of(lead) is None


def test_another_workspace_gets_404_on_the_rules_and_changes_nothing(
    outsider_client: Client, make_rule: MakeRule, make_lead: MakeLead, ann: Membership
) -> None:
    # given
    rule = make_rule("Ann's rule", "owner", owner=ann)
    lead = make_lead()

    # when
    page = outsider_client.get(PAGE)
    statuses = _every_request(outsider_client, rule, ann)
    pool = outsider_client.post(reverse("sales:settings_assignment_pool"), follow=True)

    # then: their own page shows none of ours; our rule's pages are 404; naming our member in
    # a rule of theirs is refused by the form
    assert page.status_code == 200
    assert "Ann&#x27;s rule" not in _text(page)
    assert statuses == [200, 200, 404, 404, 404, 404]
    assert "0 pool leads assigned." in _text(pool)
    assert _rules() == [("Ann's rule", 0)]
    assert owner_of(lead) is None


# --- the demo -------------------------------------------------------------------------------
def test_the_demo_rule_shares_web_form_leads_between_the_reps(
    manager: Membership, ann: Membership, make_member: Callable[..., Membership]
) -> None:
    # given: the demo's reps (sales and a manager) and people who are not reps
    make_member("analyst@acme.test", "analyst")

    # when
    assignment_demo_seed(ann.workspace_id)
    assignment_demo_seed(ann.workspace_id)

    # then
    rule = AssignmentRule.objects.get()
    assert (rule.strategy, rule.sla_minutes, rule.conditions["sources"]) == (
        "round_robin",
        60,
        ["web_form"],
    )
    assert set(rule.members.all()) == {manager, ann}


def test_the_demo_makes_no_rule_for_a_single_rep(ann: Membership) -> None:
    # when
    assignment_demo_seed(ann.workspace_id)

    # then
    assert AssignmentRule.objects.count() == 0
