"""Task reminders from the worker: the periodic job declared in huike.core.schedule sends each
reminder once (in-app notice, outbox `task.due`, e-mail from its own task), again only after
the due time, reminder time or assignee changed, and never for a closed task."""

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.core.models import OutboxMessage
from huike.core.schedule import PERIODIC_JOBS, schedule_run_due
from huike.sales import tasks_service
from huike.sales.models import Lead, Notification, Task
from huike.sales.tasks import deliver_task_reminder, send_task_reminders
from huike.sales.tasks_service import TaskChanges
from huike.sales.tests import test_tasks_support

pytestmark = pytest.mark.django_db

east = test_tasks_support.east
rep = test_tasks_support.rep
other_rep = test_tasks_support.other_rep
manager = test_tasks_support.manager
rep_actor = test_tasks_support.rep_actor
manager_actor = test_tasks_support.manager_actor
customer = test_tasks_support.customer
lead = test_tasks_support.lead
make_task = test_tasks_support.make_task

MakeTask = Callable[..., Task]


def _ago(minutes: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(minutes=minutes)


def _run(capture: Any) -> dict[str, int]:
    """One run of the periodic task through the task backend, with its after-commit mail."""
    with capture(execute=True):
        result = send_task_reminders.enqueue()
    value: dict[str, int] = result.return_value
    return value


def test_due_reminder_is_sent_once_in_app_and_by_mail(
    make_task: MakeTask,
    lead: Lead,
    rep: Membership,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given: due two minutes ago (Acme works in Asia/Shanghai)
    due = _ago(2).replace(second=0, microsecond=0)
    task = make_task("Call Lin", due_at=due, lead=lead, priority="high")
    # when
    first = _run(django_capture_on_commit_callbacks)
    second = _run(django_capture_on_commit_callbacks)
    # then: one notice, one mail, one outbox event, whatever the reruns
    assert (first, second) == ({"sent": 1}, {"sent": 0})
    notice = Notification.objects.get()
    assert (notice.recipient_id, notice.kind, notice.subject_key) == (
        rep.pk,
        "task.due",
        f"sales.task:{task.pk}:{due.astimezone(dt.UTC).isoformat()}",
    )
    local = timezone.localtime(due, rep.workspace.zone)
    assert (notice.title, notice.body, notice.url) == (
        "Task due: Call Lin",
        f"Due {local:%Y-%m-%d %H:%M}",
        f"/sales/tasks/{task.public_id}/",
    )
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert (message.subject, message.to) == ("Task due: Call Lin", ["rep@acme.test"])
    assert f"Due: {local:%Y-%m-%d %H:%M} CST" in message.body
    assert "Priority: High" in message.body
    assert "About: Lin Wei" in message.body
    assert f"http://127.0.0.1:8000/sales/tasks/{task.public_id}/" in message.body
    task.refresh_from_db()
    assert task.reminded_at is not None
    event = OutboxMessage.objects.get(kind="task.due")
    assert event.payload == {
        "task_id": task.pk,
        "task_public_id": str(task.public_id),
        "assignee_id": rep.pk,
        "due_at": due.isoformat(),
        "remind_at": due.isoformat(),
        "lead_id": lead.pk,
        "deal_id": None,
        "customer_id": lead.customer_id,
    }


def test_scheduler_runs_the_reminders_every_minute(
    make_task: MakeTask, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    [job] = [job for job in PERIODIC_JOBS if job.name == "sales.task_reminders"]
    make_task(due_at=_ago(1))
    # when: the scheduler's pass for this minute
    with django_capture_on_commit_callbacks(execute=True):
        done = schedule_run_due(jobs=[job])
    # then
    assert (job.every, [run.name for run in done]) == (dt.timedelta(minutes=1), [job.name])
    assert Notification.objects.filter(kind="task.due").count() == 1
    assert len(mail.outbox) == 1


def test_reminder_time_comes_before_the_due_time(
    make_task: MakeTask, django_capture_on_commit_callbacks: Any
) -> None:
    # given: due tomorrow, remind a minute ago
    task = make_task(due_at=timezone.now() + dt.timedelta(days=1), remind_at=_ago(1))
    future = make_task("later", due_at=timezone.now() + dt.timedelta(minutes=5))
    make_task("no time at all")
    # when
    report = _run(django_capture_on_commit_callbacks)
    # then
    assert report == {"sent": 1}
    assert [n.subject_key.split(":")[1] for n in Notification.objects.all()] == [str(task.pk)]
    future.refresh_from_db()
    assert future.reminded_at is None


def test_a_new_due_time_rearms_the_reminder(
    make_task: MakeTask, rep_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    # given: the first reminder went out
    task = make_task(due_at=_ago(3))
    _run(django_capture_on_commit_callbacks)
    # when: moved to an hour from now
    later = timezone.now() + dt.timedelta(hours=1)
    tasks_service.task_update(actor=rep_actor, task=task, changes=TaskChanges(due_at=later))
    # then: nothing before its time, once at its time
    assert _run(django_capture_on_commit_callbacks) == {"sent": 0}
    with django_capture_on_commit_callbacks(execute=True):
        report = tasks_service.task_reminders_send(now=later + dt.timedelta(seconds=30))
    assert report.sent == 1
    assert Notification.objects.filter(kind="task.due").count() == 2
    assert len(mail.outbox) == 2


def test_closed_tasks_are_not_reminded(
    make_task: MakeTask, rep_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    done = make_task("done", due_at=_ago(5))
    tasks_service.task_complete(actor=rep_actor, task=done)
    cancelled = make_task("cancelled", due_at=_ago(5))
    tasks_service.task_cancel(actor=rep_actor, task=cancelled)
    assert _run(django_capture_on_commit_callbacks) == {"sent": 0}
    assert not Notification.objects.filter(kind="task.due").exists()
    assert mail.outbox == []


def test_no_mail_when_the_task_was_done_before_it_went_out(
    make_task: MakeTask, rep_actor: Actor
) -> None:
    # given: a reminder whose mail task has not run yet
    task = make_task(due_at=_ago(1))
    tasks_service.task_reminders_send()  # the mail is enqueued on commit, which never comes here
    notice = Notification.objects.get(kind="task.due")
    tasks_service.task_complete(actor=rep_actor, task=task)
    # when
    sent = deliver_task_reminder.call(notification_id=notice.pk, task_id=task.pk)
    # then
    assert (sent, mail.outbox) == (0, [])


def test_a_full_batch_hands_the_rest_to_a_fresh_run(
    make_task: MakeTask, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    monkeypatch.setattr(tasks_service, "REMINDER_BATCH_SIZE", 2)
    for number in range(5):
        make_task(f"Task {number}", due_at=_ago(10 - number))
    # when: one run from the scheduler
    _run(django_capture_on_commit_callbacks)
    # then: the runs it enqueued did the rest
    assert Notification.objects.filter(kind="task.due").count() == 5
    assert not Task.objects.filter(reminded_at__isnull=True).exists()
    assert sorted(message.subject for message in mail.outbox) == [
        f"Task due: Task {number}" for number in range(5)
    ]


@pytest.mark.django_db(transaction=True)
def test_the_database_worker_sends_the_reminder_and_its_mail(
    make_task: MakeTask, rep: Membership, settings: Any
) -> None:
    """The embedded engine end to end: the scheduler claims the minute's slot and stores the
    job in the queue; `huike worker --burst` runs it, then the mail task it enqueued."""
    from django_tasks_db.models import DBTaskResult

    from huike.core.tests.test_tasks import DATABASE_TASKS, run_ready_tasks

    # given
    settings.TASK_ENGINE = "database"
    settings.TASKS = DATABASE_TASKS
    [job] = [job for job in PERIODIC_JOBS if job.name == "sales.task_reminders"]
    task = make_task("Call Lin", due_at=_ago(1))
    # when
    schedule_run_due(jobs=[job])
    assert Notification.objects.count() == 0  # nothing happens in the request or scheduler
    run_ready_tasks()
    run_ready_tasks()
    # then
    ran = DBTaskResult.objects.filter(task_path__startswith="huike.sales.")
    assert sorted(ran.values_list("task_path", "status")) == [
        ("huike.sales.tasks.deliver_task_reminder", "SUCCESSFUL"),
        ("huike.sales.tasks.send_task_reminders", "SUCCESSFUL"),
    ]
    assert Notification.objects.get().recipient_id == rep.pk
    assert [message.subject for message in mail.outbox] == ["Task due: Call Lin"]
    task.refresh_from_db()
    assert task.reminded_at is not None
