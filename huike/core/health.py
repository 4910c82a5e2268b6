"""Dependency checks behind GET /healthz.

The answer is 503 when something this process needs is down: the database, the task queue's
store (the database or Redis), the cache. Workers are reported but do not fail the check: a
web node whose workers are stopped still serves pages, and a load balancer should not take it
out of rotation for that; `workers_seen` and `oldest_queued_seconds` are what to alert on.
"""

import logging
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from huike.core import tasks as core_tasks

# A health check must answer quickly even when Redis is unreachable rather than refusing.
REDIS_TIMEOUT_SECONDS = 2.0

logger = logging.getLogger("huike.health")


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: dict[str, Any]


def _error(error: Exception) -> str:
    """The kind of failure only: the endpoint is public, and a driver's message can name hosts
    and users. The full message goes to the log for the operators."""
    logger.error("Health check failed: %s: %s", type(error).__name__, error)
    return type(error).__name__


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # any driver error means "down"; the message says which
        return Check(False, {"error": _error(error), "vendor": connection.vendor})
    return Check(True, {"vendor": connection.vendor})


def _database_queue() -> dict[str, Any]:
    from django_tasks_db.models import DBTaskResult

    now = timezone.now()
    ready = DBTaskResult.objects.ready()
    oldest = ready.order_by("enqueued_at").values_list("enqueued_at", flat=True).first()
    last_seen = core_tasks.worker_last_seen()
    return {
        "queued": ready.count(),
        "running": DBTaskResult.objects.running().count(),
        "oldest_queued_seconds": int((now - oldest).total_seconds()) if oldest else 0,
        "failed_last_day": DBTaskResult.objects.failed()
        .filter(finished_at__gte=now - timedelta(days=1))
        .count(),
        "workers_seen": len(core_tasks.workers_alive(now=now)),
        "worker_last_seen_seconds": int((now - last_seen).total_seconds()) if last_seen else None,
    }


def _rq_queue() -> dict[str, Any]:
    import redis
    from django_rq.settings import QUEUES
    from rq import Queue, Worker

    detail: dict[str, Any] = {"queued": 0, "scheduled": 0, "failed": 0, "workers_seen": 0}
    for name in sorted(settings.TASKS["default"].get("QUEUES", ["default"])):
        config = QUEUES[name]
        client = redis.Redis.from_url(
            config["URL"],
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        try:
            client.ping()
            queue = Queue(name, connection=client)
            detail["queued"] += queue.count
            detail["scheduled"] += queue.scheduled_job_registry.count
            detail["failed"] += queue.failed_job_registry.count
            detail["workers_seen"] += Worker.count(queue=queue)
        finally:
            client.close()
    return detail


def check_task_queue() -> Check:
    engine = settings.TASK_ENGINE
    try:
        if engine == "rq":
            return Check(True, {"engine": engine, **_rq_queue()})
        if engine == "database":
            return Check(True, {"engine": engine, **_database_queue()})
        return Check(True, {"engine": engine})
    except Exception as error:
        return Check(False, {"engine": engine, "error": _error(error)})


def check_cache() -> Check:
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    try:
        cache.set("huike:healthz", "1", 10)
        return Check(cache.get("huike:healthz") == "1", {"backend": backend})
    except Exception as error:
        return Check(False, {"backend": backend, "error": _error(error)})


def health_report() -> tuple[bool, dict[str, Any]]:
    checks = {
        "database": check_database(),
        "task_queue": check_task_queue(),
        "cache": check_cache(),
    }
    healthy = all(check.ok for check in checks.values())
    return healthy, {
        "status": "ok" if healthy else "unavailable",
        "checks": {name: asdict(check) for name, check in checks.items()},
    }
