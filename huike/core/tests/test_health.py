"""GET /healthz: 200 while the database and the queue's store answer, 503 when one does not."""

import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from huike.core.tasks import worker_heartbeat
from huike.core.tests.test_tasks_helpers import record

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _database_engine(settings: Any) -> None:
    settings.TASK_ENGINE = "database"
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: nothing listens there now


def test_healthz_reports_the_database_queue(client: Client, tmp_path: Path) -> None:
    # given a task waiting for a minute and a worker that beats
    result = record.enqueue(str(tmp_path / "effects.txt"), "x")
    DBTaskResult.objects.filter(pk=result.id).update(
        enqueued_at=timezone.now() - timedelta(seconds=60)
    )
    worker_heartbeat("w1")

    # when
    response = client.get("/healthz")

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    detail = body["checks"]["task_queue"]["detail"]
    assert {key: detail[key] for key in ("engine", "queued", "running", "workers_seen")} == {
        "engine": "database",
        "queued": 1,
        "running": 0,
        "workers_seen": 1,
    }
    assert 60 <= detail["oldest_queued_seconds"] <= 70
    assert detail["worker_last_seen_seconds"] == 0


def test_healthz_without_workers_is_still_200(client: Client) -> None:
    # when
    response = client.get("/healthz")

    # then the web node stays in rotation; the detail says no worker is seen
    assert response.status_code == 200
    detail = response.json()["checks"]["task_queue"]["detail"]
    assert (detail["workers_seen"], detail["worker_last_seen_seconds"]) == (0, None)


def test_healthz_is_503_when_the_rq_queue_is_unreachable(client: Client, settings: Any) -> None:
    # given the RQ engine pointed at a port where nothing listens
    settings.TASK_ENGINE = "rq"
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    settings.RQ_QUEUES = {"default": {"URL": f"redis://127.0.0.1:{closed_port()}/15"}}

    # when
    response = client.get("/healthz")

    # then
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    queue = body["checks"]["task_queue"]
    assert queue["ok"] is False
    assert queue["detail"]["engine"] == "rq"
    assert queue["detail"]["error"].startswith("ConnectionError")


def test_healthz_is_503_when_the_database_queue_cannot_be_read(client: Client) -> None:
    # given the queue's table is gone (dropped inside the test transaction)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE django_tasks_database_dbtaskresult")

    # when
    response = client.get("/healthz")

    # then
    assert response.status_code == 503
    assert response.json()["checks"]["task_queue"]["ok"] is False
