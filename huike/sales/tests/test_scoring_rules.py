"""Rule-based scoring: attribute operators, event points with decay and limits, thresholds and
bands, the event stream (outbox) and the decay job. Leads are built with the ORM."""

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Workspace
from huike.core.errors import PermissionDeniedError
from huike.core.models import OutboxMessage
from huike.core.outbox import outbox_dispatch
from huike.core.schedule import PERIODIC_JOBS
from huike.customers.events import event_record
from huike.customers.models import Customer, Event
from huike.sales.models import (
    Lead,
    LeadHistory,
    LeadSettings,
    LeadStatus,
    ScoreBand,
    ScoreChange,
    ScoringRule,
)
from huike.sales.scoring import lead_rescore, lead_score_attributes, lead_thresholds_update
from huike.sales.tasks_scoring import decay_lead_scores, rescore_workspace_leads

pytestmark = pytest.mark.django_db


def make_lead(workspace: Workspace, **fields: Any) -> Lead:
    customer = Customer.objects.create(workspace=workspace, name=fields.pop("name", "Li Lei"))
    return Lead.objects.create(
        workspace=workspace, customer=customer, source=fields.pop("source", "manual"), **fields
    )


def attribute_rule(workspace: Workspace, field: str, operator: str, value: Any, points: int):
    return ScoringRule.objects.create(
        workspace=workspace,
        name=f"{field} {operator}",
        kind=ScoringRule.Kind.ATTRIBUTE,
        field=field,
        operator=operator,
        value=value,
        points=points,
    )


def event_rule(workspace: Workspace, kind: str, points: int, **fields: Any) -> ScoringRule:
    return ScoringRule.objects.create(
        workspace=workspace,
        name=kind,
        kind=ScoringRule.Kind.EVENT,
        event_kind=kind,
        points=points,
        **fields,
    )


def add_event(lead: Lead, kind: str, days_ago: float) -> Event:
    return Event.objects.create(
        workspace_id=lead.workspace_id,
        customer_id=lead.customer_id,
        kind=kind,
        occurred_at=timezone.now() - dt.timedelta(days=days_ago),
    )


def reasons(lead: Lead) -> list[tuple[int, int, str]]:
    return list(
        ScoreChange.objects.filter(lead=lead)
        .order_by("id")
        .values_list("points", "score_after", "reason")
    )


# --- attribute rules ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "operator", "value", "lead_fields", "matches"),
    [
        ("industry", "eq", "SaaS", {"industry": "saas "}, True),
        ("industry", "eq", "SaaS", {"industry": "Retail"}, False),
        ("region", "in", ["Shanghai", "Beijing"], {"region": "Beijing"}, True),
        ("region", "in", ["Shanghai", "Beijing"], {"region": "Shenzhen"}, False),
        ("job_title", "contains", "cto", {"job_title": "Deputy CTO"}, True),
        ("job_title", "contains", "cto", {"job_title": "Sales manager"}, False),
        ("company_size", "gte", "50-249", {"company_size": "250-999"}, True),
        ("company_size", "gte", "50-249", {"company_size": "10-49"}, False),
        ("company_size", "lte", "10-49", {"company_size": "1-9"}, True),
        ("custom.budget", "gte", 10000, {"custom_fields": {"budget": "25000"}}, True),
        ("custom.budget", "lte", 10000, {"custom_fields": {"budget": 25000}}, False),
        ("custom.budget", "gte", 10000, {"custom_fields": {"budget": "n/a"}}, False),
        ("language", "present", None, {"language": "zh"}, True),
        ("language", "present", None, {"language": ""}, False),
        ("source", "eq", "web_form", {"source": "web_form"}, True),
    ],
)
def test_attribute_operator(
    workspace: Workspace,
    field: str,
    operator: str,
    value: Any,
    lead_fields: dict[str, Any],
    matches: bool,
) -> None:
    # given
    attribute_rule(workspace, field, operator, value, 10)
    lead = make_lead(workspace, **lead_fields)
    # when
    lead_score_attributes(lead=lead)
    # then
    lead.refresh_from_db()
    assert lead.score == (10 if matches else 0)
    assert ScoreChange.objects.filter(lead=lead).count() == (1 if matches else 0)


def test_attribute_points_follow_the_lead_when_it_changes(workspace: Workspace) -> None:
    # given
    attribute_rule(workspace, "industry", "eq", "SaaS", 10)
    attribute_rule(workspace, "company_size", "gte", "50-249", 20)
    lead = make_lead(workspace, industry="SaaS", company_size="1-9")
    lead_score_attributes(lead=lead)
    # when: the company turns out to be larger, and not SaaS
    lead.industry = "Retail"
    lead.company_size = "1000+"
    lead.save()
    lead_score_attributes(lead=lead)
    # then
    lead.refresh_from_db()
    assert lead.score == 20
    assert reasons(lead) == [
        (10, 10, "Industry is SaaS: +10"),
        (-10, 0, "No longer: Industry is SaaS: \u221210"),
        (20, 20, "Company size at least 50-249: +20"),
    ]


def test_changed_rule_points_write_the_difference(workspace: Workspace) -> None:
    # given
    rule = attribute_rule(workspace, "industry", "eq", "SaaS", 10)
    lead = make_lead(workspace, industry="SaaS")
    lead_score_attributes(lead=lead)
    # when
    rule.points = 25
    rule.save()
    rescore_workspace_leads.call(workspace.pk)
    # then
    lead.refresh_from_db()
    assert lead.score == 25
    assert reasons(lead)[-1] == (15, 25, "Industry is SaaS: +15")


# --- event rules and decay ----------------------------------------------------------------------
def test_event_points_decay_by_half_life(workspace: Workspace) -> None:
    # given: 8 points halving every 10 days; events now, 10 and 20 days ago
    event_rule(workspace, "email.clicked", 8, half_life_days=10)
    lead = make_lead(workspace)
    add_event(lead, "email.clicked", 0)
    add_event(lead, "email.clicked", 10)
    add_event(lead, "email.clicked", 20)
    # when
    lead_rescore(lead=lead)
    # then: 8 + 4 + 2
    lead.refresh_from_db()
    assert lead.score == 14
    assert sorted(points for points, _after, _reason in reasons(lead)) == [2, 4, 8]
    assert {reason for _points, _after, reason in reasons(lead)} == {
        "email.clicked: +8",
        "email.clicked: +4",
        "email.clicked: +2",
    }


def test_decayed_points_are_summed_before_rounding(workspace: Workspace) -> None:
    # given: 5 points, half-life 2 days: 5 * 0.5^(1/2) = 3.54 and 5 * 0.5^(3/2) = 1.77
    event_rule(workspace, "page.viewed", 5, half_life_days=2)
    lead = make_lead(workspace)
    add_event(lead, "page.viewed", 1)
    add_event(lead, "page.viewed", 3)
    # when
    lead_rescore(lead=lead)
    # then: each counted row is rounded (4 and 2), the score is round(5.30) = 5
    lead.refresh_from_db()
    assert lead.score == 5
    assert [points for points, _after, _reason in reasons(lead)] == [4, 2, -1]
    assert reasons(lead)[-1] == (-1, 5, "decay: \u22121")


def test_max_occurrences_counts_the_most_recent(workspace: Workspace) -> None:
    # given
    rule = event_rule(workspace, "page.viewed", 3, max_occurrences=2)
    lead = make_lead(workspace)
    oldest = add_event(lead, "page.viewed", 5)
    newer = [add_event(lead, "page.viewed", 2), add_event(lead, "page.viewed", 1)]
    # when
    lead_rescore(lead=lead)
    lead_rescore(lead=lead)
    # then
    lead.refresh_from_db()
    assert lead.score == 6
    counted = set(
        ScoreChange.objects.filter(lead=lead, rule=rule).values_list("event_id", flat=True)
    )
    assert counted == {event.pk for event in newer}
    assert oldest.pk not in counted


def test_decay_job_writes_one_decay_change(workspace: Workspace) -> None:
    # given: 8 points today, half-life 10 days
    event_rule(workspace, "message.received", 8, half_life_days=10)
    event_rule(workspace, "form.submitted", 6)  # no decay: not touched by the job
    lead = make_lead(workspace)
    event = add_event(lead, "message.received", 0)
    untouched = make_lead(workspace, name="Han Meimei")
    add_event(untouched, "form.submitted", 0)
    lead_rescore(lead=lead)
    lead_rescore(lead=untouched)
    # when: ten days pass
    Event.objects.filter(pk=event.pk).update(occurred_at=event.occurred_at - dt.timedelta(days=10))
    result = decay_lead_scores.call()
    # then
    lead.refresh_from_db()
    assert lead.score == 4
    assert reasons(lead) == [(8, 8, "message.received: +8"), (-4, 4, "decay: \u22124")]
    assert result == {str(workspace.pk): 1}
    assert reasons(untouched) == [(6, 6, "form.submitted: +6")]


def test_inactive_and_closed(workspace: Workspace) -> None:
    # given
    event_rule(workspace, "page.viewed", 3, is_active=False)
    lead = make_lead(workspace)
    add_event(lead, "page.viewed", 0)
    closed = make_lead(workspace, name="Closed", status=LeadStatus.CONVERTED)
    add_event(closed, "page.viewed", 0)
    ScoringRule.objects.update(is_active=True)
    # when
    result = rescore_workspace_leads.call(workspace.pk)
    # then: the converted lead keeps the score it ended with
    assert result == 1
    lead.refresh_from_db()
    closed.refresh_from_db()
    assert (lead.score, closed.score) == (3, 0)


# --- thresholds and bands -----------------------------------------------------------------------
def test_bands_move_up_and_down_with_history_and_outbox(workspace: Workspace) -> None:
    # given
    LeadSettings.objects.create(workspace=workspace, mql_threshold=10, sql_threshold=20)
    rule = event_rule(workspace, "email.clicked", 6, half_life_days=10)
    lead = make_lead(workspace)
    add_event(lead, "email.clicked", 0)
    add_event(lead, "email.clicked", 0)
    # when: 12 points
    lead_rescore(lead=lead)
    # then
    lead.refresh_from_db()
    assert (lead.score, lead.score_band) == (12, ScoreBand.MQL)
    # when: two more clicks, 24 points
    add_event(lead, "email.clicked", 0)
    add_event(lead, "email.clicked", 0)
    lead_rescore(lead=lead)
    lead.refresh_from_db()
    assert (lead.score, lead.score_band) == (24, ScoreBand.SQL)
    # when: 20 days pass, 6 points are left
    Event.objects.filter(customer_id=lead.customer_id).update(
        occurred_at=timezone.now() - dt.timedelta(days=20)
    )
    lead_rescore(lead=lead)
    lead.refresh_from_db()
    assert (lead.score, lead.score_band) == (6, ScoreBand.NONE)
    # then: two upward crossings recorded and published, none for the way down
    history = LeadHistory.objects.filter(lead=lead, kind=LeadHistory.Kind.QUALIFIED)
    assert sorted((row.details["from_band"], row.details["band"]) for row in history) == [
        ("", "mql"),
        ("mql", "sql"),
    ]
    published = OutboxMessage.objects.filter(kind="lead.qualified").order_by("id")
    assert [message.payload for message in published] == [
        {
            "lead_id": lead.pk,
            "lead_public_id": str(lead.public_id),
            "customer_id": lead.customer_id,
            "band": "mql",
            "score": 12,
        },
        {
            "lead_id": lead.pk,
            "lead_public_id": str(lead.public_id),
            "customer_id": lead.customer_id,
            "band": "sql",
            "score": 24,
        },
    ]
    assert rule.pk is not None


def test_settings_row_is_made_on_first_use(workspace: Workspace) -> None:
    # given
    attribute_rule(workspace, "industry", "eq", "SaaS", 60)
    lead = make_lead(workspace, industry="SaaS")
    # when
    lead_score_attributes(lead=lead)
    # then: the default thresholds (50 / 100)
    lead.refresh_from_db()
    assert lead.score_band == ScoreBand.MQL
    assert LeadSettings.objects.filter(workspace=workspace).count() == 1


# --- the event stream ---------------------------------------------------------------------------
def test_event_stream_scores_once_on_redelivery(workspace: Workspace) -> None:
    # given
    event_rule(workspace, "page.viewed", 4)
    lead = make_lead(workspace)
    other = make_lead(workspace, name="Other", status=LeadStatus.UNQUALIFIED)
    outbox_dispatch()
    # when: a page view is recorded and the outbox delivers it
    event = event_record(customer=lead.customer, kind="page.viewed")
    event_record(customer=other.customer, kind="page.viewed")
    outbox_dispatch()
    # then
    lead.refresh_from_db()
    assert lead.score == 4
    assert reasons(lead) == [(4, 4, "page.viewed: +4")]
    assert ScoreChange.objects.get(lead=lead).event_id == event.pk
    assert not ScoreChange.objects.filter(lead=other).exists()
    # when: the same message comes back (a crash after the handler, a replay)
    message = OutboxMessage.objects.filter(kind="event.page.viewed").order_by("id").first()
    assert message is not None
    message.deliveries.filter(subscriber="sales.scoring_events").delete()
    OutboxMessage.objects.filter(pk=message.pk).update(status=OutboxMessage.Status.PENDING)
    report = outbox_dispatch()
    # then: delivered again, nothing added
    assert report.deliveries >= 1
    lead.refresh_from_db()
    assert lead.score == 4
    assert ScoreChange.objects.filter(lead=lead).count() == 1


def test_events_without_a_rule_leave_scores_alone(workspace: Workspace) -> None:
    # given
    event_rule(workspace, "email.clicked", 5)
    lead = make_lead(workspace)
    # when
    event_record(customer=lead.customer, kind="page.viewed")
    outbox_dispatch()
    # then
    lead.refresh_from_db()
    assert (lead.score, lead.score_updated_at) == (0, None)


def test_other_workspace_events_do_not_score(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    # given: a rule in the other workspace only
    event_rule(other_workspace, "page.viewed", 5)
    lead = make_lead(workspace)
    # when
    event_record(customer=lead.customer, kind="page.viewed")
    outbox_dispatch()
    # then
    lead.refresh_from_db()
    assert lead.score == 0


def test_new_lead_counts_the_customers_earlier_events(workspace: Workspace) -> None:
    # given
    event_rule(workspace, "page.viewed", 2)
    attribute_rule(workspace, "industry", "eq", "SaaS", 10)
    customer = Customer.objects.create(workspace=workspace, name="Known")
    Event.objects.create(workspace=workspace, customer=customer, kind="page.viewed")
    lead = Lead.objects.create(
        workspace=workspace, customer=customer, source="manual", industry="SaaS"
    )
    # when
    lead_score_attributes(lead=lead)
    # then
    lead.refresh_from_db()
    assert lead.score == 12
    assert [reason for _p, _a, reason in reasons(lead)] == [
        "Industry is SaaS: +10",
        "page.viewed: +2",
    ]


def test_lower_thresholds_qualify_leads_after_commit(
    workspace: Workspace,
    owner: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given: a lead at 30 points, below the default MQL threshold of 50
    attribute_rule(workspace, "industry", "eq", "SaaS", 30)
    lead = make_lead(workspace, industry="SaaS")
    lead_score_attributes(lead=lead)
    lead.refresh_from_db()
    assert lead.score_band == ScoreBand.NONE
    # when
    with django_capture_on_commit_callbacks(execute=True):
        lead_thresholds_update(
            actor=Actor.for_membership(owner),
            mql_threshold=20,
            sql_threshold=40,
            predictive_enabled=True,
        )
    # then
    lead.refresh_from_db()
    assert (lead.score, lead.score_band) == (30, ScoreBand.MQL)
    assert LeadHistory.objects.filter(lead=lead, kind=LeadHistory.Kind.QUALIFIED).count() == 1


def test_thresholds_need_configure(workspace: Workspace, member: Any) -> None:
    # when / then
    with pytest.raises(PermissionDeniedError):
        lead_thresholds_update(
            actor=Actor.for_membership(member),
            mql_threshold=1,
            sql_threshold=2,
            predictive_enabled=False,
        )
    assert not LeadSettings.objects.filter(workspace=workspace).exists()


def test_periodic_jobs_are_declared() -> None:
    jobs = {job.name: job for job in PERIODIC_JOBS}
    assert jobs["sales.decay_lead_scores"].task() is decay_lead_scores
    assert jobs["sales.decay_lead_scores"].every == dt.timedelta(days=1)
    assert jobs["sales.train_lead_models"].task().name == "train_predictive_models"
