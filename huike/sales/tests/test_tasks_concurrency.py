"""Two reminder runs at the same moment (two workers) on PostgreSQL: each reminder goes out
once. (SQLite has one writer at a time, so this race cannot happen there.)"""

import datetime as dt
from collections.abc import Callable

import pytest
from django.core import mail
from django.utils import timezone

from huike.customers.tests.test_resolution_concurrency import _postgresql_only
from huike.sales import tasks_service
from huike.sales.models import Notification, Task
from huike.sales.tests import test_tasks_support
from tests.concurrency import run_together

pytestmark = pytest.mark.django_db(transaction=True)

east = test_tasks_support.east
rep = test_tasks_support.rep
rep_actor = test_tasks_support.rep_actor
make_task = test_tasks_support.make_task

# The customers' concurrency helpers: skip unless PostgreSQL (an autouse fixture), and run
# callables in threads released together by a barrier.
__all__ = ["_postgresql_only"]
TASKS = 30


def test_two_concurrent_runs_send_each_reminder_once(
    make_task: Callable[..., Task], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: small batches, so both runs claim rows while the other holds some
    monkeypatch.setattr(tasks_service, "REMINDER_BATCH_SIZE", 4)
    for number in range(TASKS):
        make_task(f"Task {number}", due_at=timezone.now() - dt.timedelta(minutes=number + 1))
    sent: list[int] = []

    def worker() -> None:
        while True:
            report = tasks_service.task_reminders_send()
            sent.append(report.sent)
            if not report.is_batch_full:
                return

    # when
    errors = run_together(worker, worker)
    # then
    assert errors == []
    assert sum(sent) == TASKS
    assert Notification.objects.filter(kind="task.due").count() == TASKS
    assert not Task.objects.filter(reminded_at__isnull=True).exists()
    assert len(mail.outbox) == TASKS
    assert len({message.subject for message in mail.outbox}) == TASKS
