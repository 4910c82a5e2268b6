"""Task services: create, change, complete, reopen, cancel, delete; who may give a task to
whom (a rep only to themselves, a manager to the team subtree, an admin to anyone); the
subject must be visible; completing a task on a lead is a follow-up of it."""

import datetime as dt
from collections.abc import Callable

import pytest
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from huike.customers.models import Customer
from huike.customers.services import CustomerData, customer_create
from huike.sales import tasks_service
from huike.sales.access import access_task
from huike.sales.models import Deal, Lead, Notification, Task, TaskPriority, TaskStatus
from huike.sales.tasks_service import TaskChanges, TaskSubject
from huike.sales.tests import test_tasks_support

pytestmark = pytest.mark.django_db

east = test_tasks_support.east
west = test_tasks_support.west
manager = test_tasks_support.manager
rep = test_tasks_support.rep
other_rep = test_tasks_support.other_rep
west_rep = test_tasks_support.west_rep
rep_actor = test_tasks_support.rep_actor
manager_actor = test_tasks_support.manager_actor
customer = test_tasks_support.customer
lead = test_tasks_support.lead
deal = test_tasks_support.deal
make_task = test_tasks_support.make_task

MakeTask = Callable[..., Task]


def _in(hours: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(hours=hours)


# --- create and assignment rules --------------------------------------------------------------
def test_create_gives_the_task_to_the_actor_by_default(
    rep_actor: Actor, rep: Membership, east: object
) -> None:
    # given
    due = _in(3)
    # when
    task = tasks_service.task_create(
        actor=rep_actor, title="  Call Lin  ", due_at=due, priority=TaskPriority.HIGH
    )
    # then
    task.refresh_from_db()
    assert (task.title, task.owner_id, task.team_id, task.created_by_id) == (
        "Call Lin",
        rep.pk,
        rep.team_id,
        rep.pk,
    )
    assert (task.status, task.priority, task.due_at, task.reminded_at) == (
        TaskStatus.OPEN,
        TaskPriority.HIGH,
        due,
        None,
    )
    # nobody else gave it: no "new task" notice to oneself
    assert not Notification.objects.filter(recipient=rep).exists()


def test_a_time_without_offset_is_read_in_the_workspace_time_zone(rep_actor: Actor) -> None:
    # given: Acme works in Asia/Shanghai (UTC+8)
    naive = dt.datetime(2030, 3, 11, 9, 30)
    # when
    task = tasks_service.task_create(actor=rep_actor, title="Visit", due_at=naive)
    # then
    task.refresh_from_db()
    assert task.due_at == dt.datetime(2030, 3, 11, 1, 30, tzinfo=dt.UTC)


def test_rep_cannot_give_a_task_to_another_rep(rep_actor: Actor, other_rep: Membership) -> None:
    # when / then
    with pytest.raises(PermissionDeniedError):
        tasks_service.task_create(actor=rep_actor, title="Call", assignee=other_rep)
    assert not Task.objects.exists()


def test_manager_gives_a_task_to_a_rep_of_the_team_who_is_notified(
    manager_actor: Actor, manager: Membership, rep: Membership
) -> None:
    # when
    task = tasks_service.task_create(actor=manager_actor, title="Send the quote", assignee=rep)
    # then
    assert (task.owner_id, task.team_id, task.created_by_id) == (rep.pk, rep.team_id, manager.pk)
    notice = Notification.objects.get(recipient=rep)
    assert (notice.kind, notice.title, notice.body, notice.url) == (
        "task.assigned",
        "New task: Send the quote",
        "From manager@acme.test",
        f"/sales/tasks/{task.public_id}/",
    )


def test_manager_cannot_give_a_task_outside_the_team_subtree(
    manager_actor: Actor, west_rep: Membership
) -> None:
    with pytest.raises(PermissionDeniedError):
        tasks_service.task_create(actor=manager_actor, title="Call", assignee=west_rep)
    assert not Task.objects.exists()


def test_admin_gives_a_task_to_anyone_but_not_to_a_role_without_tasks(
    owner_actor: Actor, west_rep: Membership, make_member: Callable[..., Membership]
) -> None:
    # given
    finance = make_member("finance@acme.test", "finance")
    # when
    task = tasks_service.task_create(actor=owner_actor, title="Call", assignee=west_rep)
    # then
    assert task.owner_id == west_rep.pk
    with pytest.raises(InvalidInputError) as refused:
        tasks_service.task_create(actor=owner_actor, title="Invoice", assignee=finance)
    assert refused.value.field == "assignee_id"
    assert Task.objects.count() == 1


def test_member_of_another_workspace_cannot_be_assigned(
    owner_actor: Actor, outsider: Membership
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        tasks_service.task_create(actor=owner_actor, title="Call", assignee=outsider)
    assert refused.value.field == "assignee_id"
    assert not Task.objects.exists()


def test_role_without_tasks_manage_cannot_create(
    make_member: Callable[..., Membership],
) -> None:
    analyst = Actor.for_membership(make_member("analyst@acme.test", "analyst"))
    with pytest.raises(PermissionDeniedError):
        tasks_service.task_create(actor=analyst, title="Call")
    assert not Task.objects.exists()


@pytest.mark.parametrize("title", ["", "   ", "x" * 201])
def test_title_is_required_and_bounded(rep_actor: Actor, title: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        tasks_service.task_create(actor=rep_actor, title=title)
    assert refused.value.field == "title"


# --- subjects ---------------------------------------------------------------------------------
def test_task_on_a_lead_is_also_about_its_customer(
    rep_actor: Actor, lead: Lead, customer: Customer
) -> None:
    task = tasks_service.task_create(actor=rep_actor, title="Call", lead=lead)
    assert (task.lead_id, task.deal_id, task.customer_id) == (lead.pk, None, customer.pk)


def test_task_on_a_deal_is_also_about_its_customer(
    rep_actor: Actor, deal: Deal, customer: Customer
) -> None:
    task = tasks_service.task_create(actor=rep_actor, title="Demo", deal=deal)
    assert (task.lead_id, task.deal_id, task.customer_id) == (None, deal.pk, customer.pk)


def test_a_task_is_about_a_lead_or_a_deal_not_both(
    rep_actor: Actor, lead: Lead, deal: Deal
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        tasks_service.task_create(actor=rep_actor, title="Call", lead=lead, deal=deal)
    assert refused.value.field == "deal_id"
    assert not Task.objects.exists()


def test_customer_must_be_the_leads_customer(
    rep_actor: Actor, owner_actor: Actor, lead: Lead, rep: Membership
) -> None:
    other = customer_create(actor=owner_actor, data=CustomerData(name="Zhao", owner=rep))
    with pytest.raises(InvalidInputError) as refused:
        tasks_service.task_create(actor=rep_actor, title="Call", lead=lead, customer=other)
    assert refused.value.field == "customer_id"


def test_subject_the_actor_cannot_see_is_refused(
    owner_actor: Actor, other_rep: Membership, lead: Lead, customer: Customer
) -> None:
    # given: the lead and customer are the first rep's
    intruder = Actor.for_membership(other_rep)
    # when / then
    for subject, field in ((dict(lead=lead), "lead_id"), (dict(customer=customer), "customer_id")):
        with pytest.raises(InvalidInputError) as refused:
            tasks_service.task_create(actor=intruder, title="Call", **subject)  # type: ignore[arg-type]
        assert refused.value.field == field
    assert not Task.objects.exists()


# --- changes ----------------------------------------------------------------------------------
def test_update_changes_fields_and_rearms_the_reminder_on_a_new_due_time(
    make_task: MakeTask, rep_actor: Actor
) -> None:
    # given: a reminder that went out
    task = make_task(due_at=_in(1))
    Task.objects.filter(pk=task.pk).update(reminded_at=timezone.now())
    # when: only the title changes
    renamed = tasks_service.task_update(
        actor=rep_actor, task=task, changes=TaskChanges(title="Call Lin back")
    )
    # then
    assert (renamed.title, renamed.reminded_at is not None) == ("Call Lin back", True)
    # when: the due time changes
    later = _in(5)
    moved = tasks_service.task_update(actor=rep_actor, task=task, changes=TaskChanges(due_at=later))
    # then
    moved.refresh_from_db()
    assert (moved.due_at, moved.reminded_at) == (later, None)


def test_rep_cannot_hand_their_task_to_another_rep(
    make_task: MakeTask, rep_actor: Actor, rep: Membership, other_rep: Membership
) -> None:
    task = make_task()
    with pytest.raises(PermissionDeniedError):
        tasks_service.task_update(
            actor=rep_actor, task=task, changes=TaskChanges(assignee=other_rep)
        )
    task.refresh_from_db()
    assert task.owner_id == rep.pk


def test_manager_reassigns_within_the_team(
    make_task: MakeTask, manager_actor: Actor, other_rep: Membership
) -> None:
    task = make_task()
    changed = tasks_service.task_update(
        actor=manager_actor, task=task, changes=TaskChanges(assignee=other_rep)
    )
    assert (changed.owner_id, changed.team_id) == (other_rep.pk, other_rep.team_id)
    assert Notification.objects.filter(recipient=other_rep, kind="task.assigned").count() == 1


def test_update_can_move_the_task_to_another_subject(
    make_task: MakeTask, rep_actor: Actor, lead: Lead, deal: Deal, customer: Customer
) -> None:
    task = make_task(lead=lead)
    moved = tasks_service.task_update(
        actor=rep_actor, task=task, changes=TaskChanges(subject=TaskSubject(deal=deal))
    )
    assert (moved.lead_id, moved.deal_id, moved.customer_id) == (None, deal.pk, customer.pk)


# --- status -----------------------------------------------------------------------------------
def test_completing_a_task_on_a_lead_is_a_follow_up(
    make_task: MakeTask, rep_actor: Actor, lead: Lead
) -> None:
    # given
    task = make_task(lead=lead)
    # when
    done = tasks_service.task_complete(actor=rep_actor, task=task)
    # then
    done.refresh_from_db()
    lead.refresh_from_db()
    assert done.status == TaskStatus.DONE
    assert done.completed_at is not None
    assert (lead.last_activity_at, lead.first_contacted_at) == (done.completed_at,) * 2
    # completing again changes nothing
    again = tasks_service.task_complete(actor=rep_actor, task=task)
    assert again.completed_at == done.completed_at


def test_reopen_and_cancel(make_task: MakeTask, rep_actor: Actor) -> None:
    task = make_task()
    tasks_service.task_complete(actor=rep_actor, task=task)
    # a done task is reopened before it can be cancelled
    with pytest.raises(ConflictError):
        tasks_service.task_cancel(actor=rep_actor, task=task)
    reopened = tasks_service.task_reopen(actor=rep_actor, task=task)
    assert (reopened.status, reopened.completed_at) == (TaskStatus.OPEN, None)
    cancelled = tasks_service.task_cancel(actor=rep_actor, task=task)
    assert cancelled.status == TaskStatus.CANCELLED
    with pytest.raises(ConflictError):
        tasks_service.task_complete(actor=rep_actor, task=task)
    task.refresh_from_db()
    assert (task.status, task.completed_at) == (TaskStatus.CANCELLED, None)


def test_unknown_status_names_the_field(make_task: MakeTask, rep_actor: Actor) -> None:
    with pytest.raises(InvalidInputError) as refused:
        tasks_service.task_status_set(actor=rep_actor, task=make_task(), status="later")
    assert refused.value.field == "status"


def test_delete_removes_the_task_and_its_notifications(
    make_task: MakeTask, manager_actor: Actor, rep: Membership, rep_actor: Actor
) -> None:
    # given: the manager gave the rep a task
    task = make_task(actor=manager_actor, assignee=rep)
    assert Notification.objects.filter(recipient=rep).count() == 1
    # when the rep tries to delete it: refused, nothing changed
    with pytest.raises(PermissionDeniedError):
        tasks_service.task_delete(actor=rep_actor, task=task)
    assert Task.objects.count() == 1
    # when the manager deletes it
    tasks_service.task_delete(actor=manager_actor, task=task)
    # then
    assert not Task.objects.exists()
    assert not Notification.objects.exists()


def test_reassigning_to_another_team_moves_the_task_with_its_assignee(
    make_task: MakeTask, owner_actor: Actor, west_rep: Membership
) -> None:
    task = make_task()
    tasks_service.task_update(actor=owner_actor, task=task, changes=TaskChanges(assignee=west_rep))
    task.refresh_from_db()
    assert (task.owner_id, task.team_id) == (west_rep.pk, west_rep.team_id)


# --- who sees a task --------------------------------------------------------------------------
def test_visibility_rep_own_manager_team_outsider_none(
    make_task: MakeTask,
    other_rep: Membership,
    manager_actor: Actor,
    outsider_actor: Actor,
    owner_actor: Actor,
) -> None:
    # given
    task = make_task()
    # then: the assignee, their manager and the admin see it
    for actor in (manager_actor, owner_actor):
        assert access_task(actor, task.public_id).pk == task.pk
    # another rep and another workspace do not
    for actor in (Actor.for_membership(other_rep), outsider_actor):
        with pytest.raises(NotFoundError):
            access_task(actor, task.public_id)


def test_assignable_members_by_role(
    rep_actor: Actor,
    manager_actor: Actor,
    owner_actor: Actor,
    rep: Membership,
    other_rep: Membership,
    manager: Membership,
    west_rep: Membership,
    make_member: Callable[..., Membership],
) -> None:
    make_member("finance@acme.test", "finance")  # cannot work on tasks: never offered
    emails = lambda actor: [m.user.email for m in tasks_service.assignable_members(actor)]  # noqa: E731
    assert emails(rep_actor) == ["rep@acme.test"]
    assert emails(manager_actor) == ["manager@acme.test", "rep2@acme.test", "rep@acme.test"]
    assert sorted(emails(owner_actor)) == [
        "manager@acme.test",
        "owner@acme.test",
        "rep2@acme.test",
        "rep@acme.test",
        "west@acme.test",
    ]
