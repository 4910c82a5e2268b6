"""The RQ engine against the real Redis server on 127.0.0.1:6379.

Each pytest worker uses its own Redis database (13, 12, … by xdist worker; 15 and 14 are left
to other tests that share Redis), flushed before and after each test; nothing else in Redis
is touched. Skipped when Redis is not running,
except on CI, where these tests are required.
"""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import django_rq
import pytest
import redis
from django.db import transaction
from django.test import Client
from django.utils import timezone
from django_tasks_rq import Job
from rq.job_lifecycle import record_job_failure
from rq.registry import FailedJobRegistry

from huike.core.tasks import rq_requeue_lost_jobs
from huike.core.tests.test_tasks_helpers import (
    MANAGE,
    flaky,
    read_lines,
    record,
    refused,
    slow_once,
    wait_for,
)
from tests.support import skip_unless_required, spawn

pytestmark = pytest.mark.redis


def _redis_url() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return f"redis://127.0.0.1:6379/{13 - int(worker.removeprefix('gw') or 0) % 6}"


@pytest.fixture
def rq_engine(settings: Any) -> Iterator[str]:
    url = _redis_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError:
        skip_unless_required(
            "Redis is not reachable at 127.0.0.1:6379; the RQ engine tests need it"
        )
    client.flushdb()
    settings.TASK_ENGINE = "rq"
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    settings.RQ_QUEUES = {"default": {"URL": url}}
    settings.RQ = {"JOB_CLASS": "django_tasks_rq.Job"}
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def effects(tmp_path: Path) -> str:
    return str(tmp_path / "effects.txt")


def rq_worker_env(url: str, tmp_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    var_dir = tmp_path / "worker-var"
    var_dir.mkdir(exist_ok=True)
    env.update(HUIKE_TASK_ENGINE="rq", HUIKE_RQ_URL=url, HUIKE_VAR_DIR=str(var_dir))
    return env


def run_burst_worker(url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`huike worker --burst` on the RQ engine, as its own process (RQ forks per job)."""
    env = rq_worker_env(url, tmp_path)
    result = subprocess.run(
        [sys.executable, MANAGE, "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def default_queue() -> Any:
    return django_rq.get_queue("default", job_class=Job)


def test_task_enqueued_through_django_tasks_runs_on_an_rq_worker(
    rq_engine: str, effects: str, tmp_path: Path
) -> None:
    # given a task enqueued with django.tasks while the engine is RQ
    result = record.enqueue(effects, "hello")
    assert default_queue().count == 1

    # when a burst worker runs
    run_burst_worker(rq_engine, tmp_path)

    # then the task's effect is there and its result says so
    assert read_lines(effects) == ["hello"]
    finished = record.get_result(result.id)
    assert finished.status == "SUCCESSFUL"
    assert finished.return_value == "hello"
    assert default_queue().count == 0


def test_retry_on_rq_waits_in_the_scheduled_registry_then_succeeds(
    rq_engine: str, effects: str, tmp_path: Path
) -> None:
    # given a task that fails once with a retryable error
    flaky.enqueue(effects, "job", 1)

    # when a worker runs it
    run_burst_worker(rq_engine, tmp_path)

    # then the retry is scheduled about 10 s out (less up to 25% jitter)
    assert read_lines(effects) == ["job"]
    scheduled = default_queue().scheduled_job_registry
    (job_id,) = scheduled.get_job_ids()
    retry = Job.fetch(job_id, connection=scheduled.connection)
    # RQ stores the scheduled time in whole seconds.
    delay = scheduled.get_scheduled_time(job_id) - retry.created_at.replace(microsecond=0)
    assert timedelta(seconds=7) <= delay <= timedelta(seconds=10)
    assert retry.kwargs == {"retry_attempt": 2}

    # when its time has come and a worker (with RQ's scheduler) runs again
    scheduled.schedule(retry, timezone.now() - timedelta(minutes=1))
    run_burst_worker(rq_engine, tmp_path)

    # then the second attempt ran and succeeded
    assert read_lines(effects) == ["job", "job"]
    assert flaky.get_result(job_id).return_value == "job done"


def test_job_lost_with_its_worker_is_requeued_and_runs(
    rq_engine: str, effects: str, tmp_path: Path
) -> None:
    # given a job that failed on its own
    refused.enqueue(effects, "refused")
    run_burst_worker(rq_engine, tmp_path)
    assert read_lines(effects) == ["refused"]
    # and a job RQ filed as failed because its worker vanished mid-job
    lost = record.enqueue(effects, "lost")
    queue = default_queue()
    job = Job.fetch(lost.id, connection=queue.connection)
    queue.remove(job)
    with queue.connection.pipeline() as pipeline:
        # What RQ's cleanup of an expired execution records.
        record_job_failure(
            job, "Moved to FailedJobRegistry, due to AbandonedJobError, at now", pipeline
        )
        pipeline.execute()

    # when lost jobs are swept (every RQ worker does this on start and once a minute)
    requeued = rq_requeue_lost_jobs()

    # then only the lost one went back to the queue, and it runs
    assert requeued == [lost.id]
    run_burst_worker(rq_engine, tmp_path)
    assert read_lines(effects) == ["refused", "lost"]
    failed = FailedJobRegistry(queue=queue).get_job_ids()
    assert [Job.fetch(job_id, connection=queue.connection).args[1] for job_id in failed] == [
        "refused"
    ]


def test_stopped_worker_puts_its_long_job_back_and_the_next_worker_finishes_it(
    rq_engine: str, effects: str, tmp_path: Path
) -> None:
    # given an RQ worker busy with a job far longer than its shutdown grace
    slow_once.enqueue(effects, "long", 60)
    worker = spawn(
        [sys.executable, MANAGE, "worker", "--no-scheduler", "--shutdown-grace", "0.5"],
        env=rq_worker_env(rq_engine, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    wait_for(lambda: read_lines(effects) == ["start long"], timeout=30, what="job start")

    # when it is told to stop
    worker.send_signal(signal.SIGTERM)
    output, _ = worker.communicate(timeout=5)

    # then it stopped the job, put it back, and exited cleanly
    assert worker.returncode == 0, output
    assert "put back in the queue" in output
    assert default_queue().count == 1

    # when the next worker runs, the job runs to the end
    run_burst_worker(rq_engine, tmp_path)
    assert read_lines(effects) == ["start long", "start long", "end long"]


@pytest.mark.django_db(transaction=True)
def test_enqueue_on_commit_reaches_redis_only_after_commit(rq_engine: str, effects: str) -> None:
    from huike.core.tasks import enqueue_on_commit

    # when
    with transaction.atomic():
        enqueue_on_commit(record, effects, "x")
        assert default_queue().count == 0

    # then
    assert default_queue().count == 1


@pytest.mark.django_db
def test_healthz_reports_the_rq_queue(rq_engine: str, effects: str, client: Client) -> None:
    # given
    record.enqueue(effects, "waiting")

    # when
    response = client.get("/healthz")

    # then
    assert response.status_code == 200
    assert response.json()["checks"]["task_queue"] == {
        "ok": True,
        "detail": {"engine": "rq", "queued": 1, "scheduled": 0, "failed": 0, "workers_seen": 0},
    }
