"""The periodic scheduler and the foundation's periodic jobs."""

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.tasks import Task
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from huike.core.audit import audit_record
from huike.core.jobs import prune_task_results, purge_idempotency_records, verify_audit_chains
from huike.core.models import AuditEntry, IdempotencyRecord, PeriodicRun, WorkerHeartbeat
from huike.core.schedule import PERIODIC_JOBS, PeriodicJob, ScheduledRun, schedule_run_due
from huike.core.tasks import worker_heartbeat
from huike.core.tests.test_tasks_helpers import tamper_with_audit_entry

pytestmark = pytest.mark.django_db

HOURLY = PeriodicJob(
    "test.hourly",
    "huike.core.jobs.purge_idempotency_records",
    every=timedelta(hours=1),
    offset=timedelta(minutes=5),
)


@pytest.fixture(autouse=True)
def _database_engine(settings: Any) -> None:
    settings.TASK_ENGINE = "database"
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_slots_are_aligned_to_the_period_plus_offset() -> None:
    assert HOURLY.slot_at(at("2026-03-01 10:04:59")) == at("2026-03-01 09:05:00")
    assert HOURLY.slot_at(at("2026-03-01 10:05:00")) == at("2026-03-01 10:05:00")
    daily = PeriodicJob("d", "x.y", every=timedelta(days=1), offset=timedelta(hours=3))
    assert daily.slot_at(at("2026-03-01 02:59:00")) == at("2026-02-28 03:00:00")


def test_offset_outside_the_period_is_refused() -> None:
    with pytest.raises(ValueError, match="offset"):
        PeriodicJob("bad", "x.y", every=timedelta(hours=1), offset=timedelta(hours=1))


def test_two_scheduler_passes_in_the_same_slot_enqueue_once() -> None:
    # when two schedulers (or two workers) pass within one slot
    first = schedule_run_due(now=at("2026-03-01 10:06:00"), jobs=[HOURLY])
    second = schedule_run_due(now=at("2026-03-01 10:59:59"), jobs=[HOURLY])

    # then the job was enqueued once, and the run row names the task result
    assert first == [ScheduledRun("test.hourly", at("2026-03-01 10:05:00"))]
    assert second == []
    result = DBTaskResult.objects.get()
    assert result.task_path == "huike.core.jobs.purge_idempotency_records"
    assert PeriodicRun.objects.get(name="test.hourly").task_result_id == str(result.id)


def test_the_next_slot_enqueues_again() -> None:
    # when
    schedule_run_due(now=at("2026-03-01 10:06:00"), jobs=[HOURLY])
    schedule_run_due(now=at("2026-03-01 11:06:00"), jobs=[HOURLY])

    # then
    assert DBTaskResult.objects.count() == 2
    assert list(PeriodicRun.objects.order_by("slot").values_list("slot", flat=True)) == [
        at("2026-03-01 10:05:00"),
        at("2026-03-01 11:05:00"),
    ]


def test_declared_jobs_have_unique_names_and_point_at_tasks() -> None:
    assert len({job.name for job in PERIODIC_JOBS}) == len(PERIODIC_JOBS)
    for job in PERIODIC_JOBS:
        assert isinstance(job.task(), Task), job.task_path


def test_purge_job_deletes_expired_idempotency_records(workspace: Any) -> None:
    # given a record two days old and a fresh one
    old = IdempotencyRecord.objects.create(
        workspace=workspace, principal="p", key="old", request_hash="h", method="POST", path="/"
    )
    IdempotencyRecord.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    IdempotencyRecord.objects.create(
        workspace=workspace, principal="p", key="new", request_hash="h", method="POST", path="/"
    )

    # when
    deleted = purge_idempotency_records.call()

    # then
    assert deleted == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_prune_job_deletes_old_finished_results_and_runs_only(settings: Any) -> None:
    # given finished results 20 and 2 days old, an old unfinished one, old scheduler rows
    settings.TASK_RESULT_RETENTION_DAYS = 14
    now = timezone.now()
    rows = [verify_audit_chains.enqueue().id for _ in range(3)]
    DBTaskResult.objects.filter(pk=rows[0]).update(
        status="SUCCESSFUL", finished_at=now - timedelta(days=20)
    )
    DBTaskResult.objects.filter(pk=rows[1]).update(
        status="FAILED", finished_at=now - timedelta(days=2)
    )
    PeriodicRun.objects.create(name="test.hourly", slot=now - timedelta(days=20))
    PeriodicRun.objects.create(name="test.hourly", slot=now - timedelta(days=1))
    worker_heartbeat("w1")

    # when
    pruned = prune_task_results.call()

    # then
    assert pruned == {"task_results": 1, "periodic_runs": 1}
    remaining = DBTaskResult.objects.values_list("id", flat=True)
    assert sorted(str(task_id) for task_id in remaining) == sorted(rows[1:])
    assert WorkerHeartbeat.objects.count() == 1
    assert PeriodicRun.objects.filter(name="test.hourly").count() == 1


def test_audit_job_reports_intact_chains(workspace: Any) -> None:
    assert verify_audit_chains.call() == {"chains": 1, "broken": []}


def test_audit_job_logs_an_error_for_a_broken_chain(
    workspace: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # given an entry altered behind the application's back
    audit_record(workspace_id=workspace.pk, action="test.action", data={"n": 1})
    entry = AuditEntry.objects.get(workspace=workspace, action="test.action")
    tamper_with_audit_entry(entry.pk)

    # when
    with caplog.at_level(logging.ERROR, logger="huike.jobs"):
        report = verify_audit_chains.call()

    # then
    chain = f"workspace:{workspace.pk}"
    assert report == {
        "chains": 1,
        "broken": [{"chain": chain, "seq": entry.seq, "reason": "entry content altered"}],
    }
    assert [record.getMessage() for record in caplog.records] == [
        f"Audit chain {chain} is broken at entry {entry.seq}: entry content altered"
    ]
