"""Retries with backoff and enqueueing after commit, on the database queue."""

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from huike.core.management.commands.worker import DatabaseWorker
from huike.core.tasks import (
    ATTEMPT_KWARG,
    RETRY_MAX_DELAY_SECONDS,
    enqueue_on_commit,
    enqueue_with_commit,
    retry_delay,
)
from huike.core.tests.test_tasks_helpers import (
    flaky,
    flaky_with_context,
    read_lines,
    record,
    refused,
)

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


@pytest.fixture(autouse=True)
def _database_engine(settings: Any) -> None:
    settings.TASK_ENGINE = "database"
    settings.TASKS = DATABASE_TASKS


@pytest.fixture
def effects(tmp_path: Path) -> str:
    return str(tmp_path / "effects.txt")


def run_ready_tasks() -> int:
    """What one `huike worker --burst` does, in this process: run every ready task."""
    worker = DatabaseWorker(
        queues=["default"],
        backend_alias="default",
        interval=0,
        burst=True,
        grace=1,
        worker_id="test-worker",
    )
    worker.run()
    return worker.tasks_run


def make_retries_due() -> int:
    """Move every deferred retry to now, as if its backoff had passed."""
    return DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())


class FixedRandom(random.Random):
    """A random source that always draws the same number."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def test_retry_delay_doubles_from_ten_seconds_and_is_capped() -> None:
    # given a random source that draws 0 (no jitter) and one that draws almost 1 (most jitter)
    no_jitter = FixedRandom(0.0)
    most_jitter = FixedRandom(0.999999)

    # when / then
    assert [retry_delay(n, rng=no_jitter).total_seconds() for n in range(1, 6)] == [
        10.0,
        20.0,
        40.0,
        80.0,
        160.0,
    ]
    assert retry_delay(30, rng=no_jitter) == timedelta(seconds=RETRY_MAX_DELAY_SECONDS)
    assert round(retry_delay(1, rng=most_jitter).total_seconds(), 3) == 7.5


def test_retry_delay_refuses_attempt_zero() -> None:
    with pytest.raises(ValueError, match="attempt counts from 1"):
        retry_delay(0)


@pytest.mark.django_db(transaction=True)
def test_task_failing_twice_with_retryable_error_runs_three_times_and_succeeds(
    effects: str,
) -> None:
    # given a task that fails twice with a retryable error, then works
    first = flaky.enqueue(effects, "job", 2)

    # when the worker runs it
    assert run_ready_tasks() == 1
    # then the retry waits for its backoff (10 s less up to 25% jitter)
    retry = DBTaskResult.objects.get(status="READY")
    delay = (retry.run_after - retry.enqueued_at).total_seconds()
    assert 7.4 <= delay <= 10.1
    assert retry.args_kwargs == {"args": [effects, "job", 2], "kwargs": {ATTEMPT_KWARG: 2}}
    assert run_ready_tasks() == 0  # not due yet

    # when the backoffs pass and the worker runs again
    make_retries_due()
    assert run_ready_tasks() == 1
    second_retry = DBTaskResult.objects.get(status="READY")
    assert 14.9 <= (second_retry.run_after - second_retry.enqueued_at).total_seconds() <= 20.1
    make_retries_due()
    assert run_ready_tasks() == 1

    # then it ran three times and the last attempt succeeded
    assert read_lines(effects) == ["job", "job", "job"]
    rows = list(DBTaskResult.objects.order_by("enqueued_at"))
    assert [row.status for row in rows] == ["SUCCESSFUL", "SUCCESSFUL", "SUCCESSFUL"]
    assert rows[0].id == DBTaskResult.objects.get(id=first.id).id
    assert rows[0].return_value["retry_scheduled"]["next_attempt"] == 2
    assert rows[0].return_value["retry_scheduled"]["error"] == "job failure 1"
    assert rows[2].return_value == "job done"


@pytest.mark.django_db(transaction=True)
def test_task_taking_context_is_retried_with_a_fresh_context(effects: str) -> None:
    # given a task that takes the task context and fails once
    first = flaky_with_context.enqueue(effects, "job", 1)

    # when
    run_ready_tasks()
    retry = DBTaskResult.objects.get(status="READY")
    make_retries_due()
    run_ready_tasks()

    # then the retry stored only the task's own arguments, and each run saw its own result id
    assert retry.args_kwargs == {"args": [effects, "job", 1], "kwargs": {ATTEMPT_KWARG: 2}}
    assert read_lines(effects) == [f"job {first.id}", f"job {retry.id}"]
    assert DBTaskResult.objects.get(pk=retry.pk).return_value == "job done"


@pytest.mark.django_db(transaction=True)
def test_permanent_error_is_not_retried(effects: str) -> None:
    # given
    refused.enqueue(effects, "job")

    # when
    run_ready_tasks()
    make_retries_due()
    run_ready_tasks()

    # then
    assert read_lines(effects) == ["job"]
    row = DBTaskResult.objects.get()
    assert row.status == "FAILED"
    assert row.exception_class_path == "huike.core.tasks.PermanentError"


@pytest.mark.django_db(transaction=True)
def test_attempts_are_capped_and_the_last_one_fails(effects: str) -> None:
    # given a task that always fails, allowed 4 attempts
    flaky.enqueue(effects, "job", 100)

    # when the worker keeps running whatever is due
    for _ in range(10):
        make_retries_due()
        run_ready_tasks()

    # then it ran 4 times; the first 3 rescheduled themselves, the 4th failed for good
    assert read_lines(effects) == ["job"] * 4
    statuses = list(DBTaskResult.objects.order_by("enqueued_at").values_list("status", flat=True))
    assert statuses == ["SUCCESSFUL", "SUCCESSFUL", "SUCCESSFUL", "FAILED"]
    assert DBTaskResult.objects.get(status="FAILED").exception_class_path == (
        "huike.core.tasks.RetryableError"
    )


@pytest.mark.django_db(transaction=True)
def test_enqueue_on_commit_enqueues_after_commit(effects: str) -> None:
    # when
    with transaction.atomic():
        enqueue_on_commit(record, effects, "committed")
        # then nothing is visible to a worker before the commit
        assert DBTaskResult.objects.count() == 0

    # then
    assert list(DBTaskResult.objects.values_list("args_kwargs", flat=True)) == [
        {"args": [effects, "committed"], "kwargs": {}}
    ]


@pytest.mark.django_db(transaction=True)
def test_enqueue_on_commit_enqueues_nothing_on_rollback(effects: str) -> None:
    # when a service enqueues, then fails
    def service() -> None:
        with transaction.atomic():
            enqueue_on_commit(record, effects, "rolled back")
            raise RuntimeError("the service failed")

    with pytest.raises(RuntimeError):
        service()

    # then
    assert DBTaskResult.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_enqueue_with_commit_writes_the_task_in_the_transaction(effects: str) -> None:
    # when
    with transaction.atomic():
        enqueue_with_commit(record, effects, "with the data")
        # then the row is there inside the transaction (other connections see it at commit)
        assert DBTaskResult.objects.count() == 1

    # then
    assert list(DBTaskResult.objects.values_list("args_kwargs", flat=True)) == [
        {"args": [effects, "with the data"], "kwargs": {}}
    ]


@pytest.mark.django_db(transaction=True)
def test_enqueue_with_commit_enqueues_nothing_on_rollback(effects: str) -> None:
    # when a service enqueues, then fails
    def service() -> None:
        with transaction.atomic():
            enqueue_with_commit(record, effects, "rolled back")
            raise RuntimeError("the service failed")

    with pytest.raises(RuntimeError):
        service()

    # then
    assert DBTaskResult.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_enqueue_with_commit_on_another_queue_waits_for_the_commit(
    settings: Any, effects: str
) -> None:
    # given: a queue outside the database (the immediate backend runs a task when enqueued)
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    # when
    with transaction.atomic():
        enqueue_with_commit(record, effects, "after commit")
        # then
        assert read_lines(effects) == []

    # then
    assert read_lines(effects) == ["after commit"]


def test_immediate_backend_retries_at_once(settings: Any, effects: str) -> None:
    # given the immediate engine, which cannot defer
    settings.TASK_ENGINE = "immediate"
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}

    # when
    result = flaky.enqueue(effects, "job", 1)

    # then the retry ran inline, right after the failure
    assert read_lines(effects) == ["job", "job"]
    assert result.status == "SUCCESSFUL"
    assert isinstance(result.return_value, dict)
    assert result.return_value["retry_scheduled"]["next_attempt"] == 2
