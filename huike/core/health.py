"""Dependency checks behind GET /healthz."""

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: dict[str, Any]


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # any driver error means "down"; the message says which
        return Check(False, {"error": str(error)[:200], "vendor": connection.vendor})
    return Check(True, {"vendor": connection.vendor})


def check_task_queue() -> Check:
    engine = settings.TASK_ENGINE
    try:
        if engine == "rq":
            import django_rq

            queue = django_rq.get_queue("default")
            queue.connection.ping()
            return Check(True, {"engine": engine, "queued": queue.count})
        if engine == "database":
            from django_tasks_db.models import DBTaskResult

            ready = DBTaskResult.objects.ready()
            oldest = ready.order_by("enqueued_at").values_list("enqueued_at", flat=True).first()
            return Check(
                True,
                {
                    "engine": engine,
                    "queued": ready.count(),
                    "oldest_queued_seconds": int((timezone.now() - oldest).total_seconds())
                    if oldest
                    else 0,
                    "failed_last_day": DBTaskResult.objects.failed()
                    .filter(finished_at__gte=timezone.now() - timedelta(days=1))
                    .count(),
                },
            )
        return Check(True, {"engine": engine})
    except Exception as error:
        return Check(False, {"engine": engine, "error": str(error)[:200]})


def check_cache() -> Check:
    try:
        cache.set("huike:healthz", "1", 10)
        return Check(cache.get("huike:healthz") == "1", {"backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]})
    except Exception as error:
        return Check(False, {"error": str(error)[:200]})


def health_report() -> tuple[bool, dict[str, Any]]:
    checks = {
        "database": check_database(),
        "task_queue": check_task_queue(),
        "cache": check_cache(),
    }
    healthy = all(check.ok for check in checks.values())
    return healthy, {
        "status": "ok" if healthy else "unavailable",
        "checks": {name: {**asdict(check)} for name, check in checks.items()},
    }
