"""The first-contact SLA: the owner is reminded when it passes, the manager told one SLA period
later, each exactly once (in-app and by e-mail), whatever how often the minute job runs."""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team
from huike.accounts.services import team_create
from huike.sales.assignment import SlaReport, escalation_recipients, leads_check_first_contact
from huike.sales.models import Lead, LeadHistory, LeadStatus, Notification
from huike.sales.ownership import lead_owner_change
from huike.sales.tasks_assignment import check_first_contact_slas, mail_lead_notification
from huike.sales.tests import test_assignment_support as support
from huike.sales.tests.test_assignment_support import MakeLead, MakeRule, assign

make_lead = support.make_lead
make_rule = support.make_rule
team = support.team
manager = support.manager
ann = support.ann

Check = Callable[[datetime], SlaReport]


@pytest.fixture
def overdue(make_lead: MakeLead, make_rule: MakeRule, ann: Membership) -> Lead:
    """A lead given to Ann with a 60-minute first-contact SLA."""
    make_rule("Ann", "owner", owner=ann, sla_minutes=60)
    lead = make_lead("Wang Fang")
    assign(lead)
    lead.refresh_from_db()
    return lead


@pytest.fixture
def check(django_capture_on_commit_callbacks: Any) -> Check:
    """One run of the minute job at `moment`, its mail tasks run after commit."""

    def run(moment: datetime) -> SlaReport:
        with django_capture_on_commit_callbacks(execute=True):
            return leads_check_first_contact(now=moment)

    return run


def _after(lead: Lead, minutes: int) -> datetime:
    assert lead.assigned_at is not None
    return lead.assigned_at + timedelta(minutes=minutes)


def _history(lead: Lead) -> list[str]:
    return list(
        LeadHistory.objects.filter(lead=lead)
        .order_by("created_at", "pk")
        .values_list("kind", flat=True)
    )


def test_nothing_happens_before_the_due_time(overdue: Lead, check: Check) -> None:
    # when
    report = check(_after(overdue, 59))

    # then
    assert report == SlaReport(reminded=0, escalated=0)
    assert Notification.objects.exclude(kind="lead.assigned").count() == 0
    assert mail.outbox == []


def test_the_owner_is_reminded_once_when_the_due_time_passes(
    overdue: Lead, check: Check, ann: Membership
) -> None:
    # given
    moment = _after(overdue, 61)

    # when
    first = check(moment)
    again = check(moment + timedelta(minutes=1))

    # then
    assert (first, again) == (SlaReport(1, 0), SlaReport(0, 0))
    overdue.refresh_from_db()
    assert (overdue.sla_reminded_at, overdue.escalated_at) == (moment, None)
    assert _history(overdue) == ["assigned", "reminded"]
    reminder = Notification.objects.get(kind="lead.sla_reminder")
    assert (reminder.recipient, reminder.title, reminder.url) == (
        ann,
        "First contact overdue: Wang Fang",
        reverse("sales:lead_detail", args=[overdue.public_id]),
    )
    (message,) = mail.outbox
    assert (message.to, message.subject) == (["ann@acme.test"], "First contact overdue: Wang Fang")
    assert message.body.endswith(reverse("sales:lead_detail", args=[overdue.public_id]))
    assert "This lead was due a first contact by " in message.body


def test_the_manager_is_told_once_a_further_sla_period_later(
    overdue: Lead, check: Check, manager: Membership
) -> None:
    # given: reminded at 61 minutes
    check(_after(overdue, 61))
    mail.outbox.clear()

    # when
    early = check(_after(overdue, 119))
    escalated = check(_after(overdue, 120))
    again = check(_after(overdue, 125))

    # then
    assert (early, escalated, again) == (SlaReport(0, 0), SlaReport(0, 1), SlaReport(0, 0))
    overdue.refresh_from_db()
    assert overdue.escalated_at == _after(overdue, 120)
    assert _history(overdue) == ["assigned", "reminded", "escalated"]
    entry = LeadHistory.objects.get(lead=overdue, kind=LeadHistory.Kind.ESCALATED)
    assert entry.details["recipients"] == [str(manager.public_id)]
    notice = Notification.objects.get(kind="lead.sla_escalated")
    assert (notice.recipient, notice.title) == (manager, "Lead not contacted in time: Wang Fang")
    assert notice.body.startswith("ann@acme.test has not contacted this lead, due by ")
    (message,) = mail.outbox
    assert message.to == ["manager@acme.test"]


def test_the_periodic_task_runs_the_same_check(overdue: Lead) -> None:
    # given: assigned 61 minutes ago with a 60-minute SLA
    moment = timezone.now()
    Lead.objects.filter(pk=overdue.pk).update(
        assigned_at=moment - timedelta(minutes=61),
        first_contact_due_at=moment - timedelta(minutes=1),
    )

    # when
    result = check_first_contact_slas.enqueue()

    # then
    assert result.return_value == {"reminded": 1, "escalated": 0}


def test_a_contacted_lead_is_neither_reminded_nor_escalated(overdue: Lead, check: Check) -> None:
    # given
    Lead.objects.filter(pk=overdue.pk).update(first_contacted_at=_after(overdue, 10))

    # when
    report = check(_after(overdue, 200))

    # then
    assert report == SlaReport(0, 0)
    assert _history(overdue) == ["assigned"]


def test_a_lead_closed_meanwhile_is_left_alone(overdue: Lead, check: Check) -> None:
    # given
    Lead.objects.filter(pk=overdue.pk).update(status=LeadStatus.UNQUALIFIED)

    # when / then
    assert check(_after(overdue, 200)) == SlaReport(0, 0)


def test_reassignment_starts_the_sla_over(
    overdue: Lead, check: Check, make_rule: MakeRule, ann: Membership
) -> None:
    # given: reminded once, then released and assigned to Ann again
    check(_after(overdue, 61))
    lead_owner_change(lead=overdue, to_owner=None, kind=LeadHistory.Kind.RELEASED, actor=ann)
    assign(overdue)
    overdue.refresh_from_db()

    # when
    report = check(_after(overdue, 61))

    # then: a second reminder for the second assignment
    assert report == SlaReport(1, 0)
    assert Notification.objects.filter(kind="lead.sla_reminder", recipient=ann).count() == 2


def test_without_a_team_manager_the_admins_are_told(
    make_lead: MakeLead,
    make_rule: MakeRule,
    make_member: Callable[..., Membership],
    owner: Membership,
    check: Check,
) -> None:
    # given: a rep in no team
    rep = make_member("solo@acme.test", "sales")
    make_rule("Solo", "owner", owner=rep, sla_minutes=15)
    lead = make_lead()
    assign(lead)
    lead.refresh_from_db()

    # when
    check(_after(lead, 16))
    check(_after(lead, 31))

    # then
    assert list(
        Notification.objects.filter(kind="lead.sla_escalated").values_list("recipient", flat=True)
    ) == [owner.pk]


def test_a_manager_who_owns_the_lead_escalates_to_the_team_above(
    owner_actor: Actor, team: Team, manager: Membership, make_member: Callable[..., Membership]
) -> None:
    # given: East sits under Sales, managed by the head of sales
    head = make_member("head@acme.test", "manager")
    sales = team_create(actor=owner_actor, name="Sales")
    sales.manager = head
    sales.save(update_fields=["manager"])
    team.parent = sales
    team.save(update_fields=["parent"])
    manager.refresh_from_db()

    # when / then
    assert escalation_recipients(manager) == [head]


def test_the_mail_task_sends_nothing_to_someone_who_left(
    overdue: Lead, check: Check, ann: Membership
) -> None:
    # given
    check(_after(overdue, 61))
    mail.outbox.clear()
    reminder = Notification.objects.get(kind="lead.sla_reminder")
    ann.is_active = False
    ann.save(update_fields=["is_active"])

    # when
    result = mail_lead_notification.enqueue(notification_id=reminder.pk)

    # then
    assert result.return_value == 0
    assert mail.outbox == []
