"""Which RUNNING tasks count as abandoned by a dead worker, and what happens to them."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from huike.core.models import WorkerHeartbeat
from huike.core.tasks import (
    WORKER_LOST_MAX_ATTEMPTS,
    tasks_recover_abandoned,
    worker_heartbeat,
    worker_heartbeat_clear,
    workers_alive,
)
from huike.core.tests.test_tasks_helpers import record

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _database_engine(settings: Any) -> None:
    settings.TASK_ENGINE = "database"
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    settings.TASK_WORKER_STALE_SECONDS = 60


def running_task(tmp_path: Path, *, worker_ids: list[str], started_ago: timedelta) -> str:
    result = record.enqueue(str(tmp_path / "effects.txt"), "x")
    DBTaskResult.objects.filter(pk=result.id).update(
        status="RUNNING", worker_ids=worker_ids, started_at=timezone.now() - started_ago
    )
    return str(result.id)


def status_of(task_id: str) -> str:
    return DBTaskResult.objects.get(pk=task_id).status


def test_task_of_a_worker_without_heartbeat_goes_back_to_ready(tmp_path: Path) -> None:
    # given a task claimed two minutes ago by a worker that is not beating
    task_id = running_task(tmp_path, worker_ids=["dead"], started_ago=timedelta(minutes=2))

    # when
    recovery = tasks_recover_abandoned()

    # then
    assert recovery.requeued == [task_id]
    row = DBTaskResult.objects.get(pk=task_id)
    assert (row.status, row.started_at, row.worker_ids) == ("READY", None, ["dead"])


def test_task_of_a_live_worker_is_left_alone(tmp_path: Path) -> None:
    # given a long task whose worker beats
    worker_heartbeat("alive")
    task_id = running_task(tmp_path, worker_ids=["alive"], started_ago=timedelta(hours=1))

    # when
    recovery = tasks_recover_abandoned()

    # then
    assert recovery.requeued == []
    assert status_of(task_id) == "RUNNING"


def test_task_of_a_worker_whose_heartbeat_went_stale_is_requeued(tmp_path: Path) -> None:
    # given a worker last seen two minutes ago (stale after one)
    worker_heartbeat("gone", now=timezone.now() - timedelta(minutes=2))
    task_id = running_task(tmp_path, worker_ids=["gone"], started_ago=timedelta(minutes=5))

    # when
    recovery = tasks_recover_abandoned()

    # then
    assert recovery.requeued == [task_id]
    assert workers_alive() == {}


def test_task_claimed_within_the_stale_period_is_left_alone(tmp_path: Path) -> None:
    # given a task claimed seconds ago (its worker may not have beaten since)
    task_id = running_task(tmp_path, worker_ids=["new"], started_ago=timedelta(seconds=5))

    # when
    recovery = tasks_recover_abandoned()

    # then
    assert recovery.requeued == []
    assert status_of(task_id) == "RUNNING"


def test_task_that_kept_killing_its_workers_fails(tmp_path: Path) -> None:
    # given a task whose every run died with its worker
    worker_ids = [f"w{n}" for n in range(WORKER_LOST_MAX_ATTEMPTS)]
    task_id = running_task(tmp_path, worker_ids=worker_ids, started_ago=timedelta(minutes=2))

    # when
    recovery = tasks_recover_abandoned()

    # then
    assert recovery.failed == [task_id]
    row = DBTaskResult.objects.get(pk=task_id)
    assert row.status == "FAILED"
    assert row.exception_class_path == "huike.core.tasks.WorkerLostError"


def test_heartbeats_older_than_a_day_are_removed() -> None:
    # given
    worker_heartbeat("ancient", now=timezone.now() - timedelta(days=2))
    worker_heartbeat("recent")

    # when
    tasks_recover_abandoned()

    # then
    assert list(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == ["recent"]


def test_heartbeat_updates_one_row_per_worker_and_clear_removes_it() -> None:
    # when
    worker_heartbeat("w1", now=timezone.now() - timedelta(seconds=30))
    worker_heartbeat("w1")

    # then
    assert WorkerHeartbeat.objects.filter(worker_id="w1").count() == 1
    assert list(workers_alive()) == ["w1"]

    # when
    worker_heartbeat_clear("w1")

    # then
    assert workers_alive() == {}
