"""The foundation's periodic tasks (scheduled in huike.core.schedule)."""

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.tasks import task
from django.utils import timezone

from huike.core.audit import audit_verify
from huike.core.models import PeriodicRun
from huike.core.outbox import outbox_dispatch, outbox_purge_done

logger = logging.getLogger("huike.jobs")

PRUNE_BATCH_SIZE = 1000  # short deletes, so pruning never holds a long write lock


@task
def purge_idempotency_records() -> int:
    # Imported here: the API layer owns idempotency and the scheduler only needs its purge.
    from huike.core.idempotency import idempotency_purge_expired

    return idempotency_purge_expired()


def _delete_in_batches(queryset: Any) -> int:
    deleted = 0
    while True:
        batch = list(queryset.values_list("pk", flat=True)[:PRUNE_BATCH_SIZE])
        if not batch:
            return deleted
        deleted += queryset.model.objects.filter(pk__in=batch).delete()[0]


@task
def prune_task_results() -> dict[str, int]:
    """Delete finished task results and scheduler rows older than TASK_RESULT_RETENTION_DAYS.

    Same rule as django-tasks-db's `prune_db_task_results`. RQ expires its own results.
    """
    cutoff = timezone.now() - timedelta(days=settings.TASK_RESULT_RETENTION_DAYS)
    pruned = {"task_results": 0, "periodic_runs": 0}
    if settings.TASK_ENGINE == "database":
        from django_tasks_db.models import DBTaskResult

        pruned["task_results"] = _delete_in_batches(
            DBTaskResult.objects.finished().filter(finished_at__lte=cutoff)
        )
    pruned["periodic_runs"] = _delete_in_batches(PeriodicRun.objects.filter(slot__lt=cutoff))
    logger.info("Pruned %(task_results)d task results and %(periodic_runs)d runs", pruned)
    return pruned


@task
def verify_audit_chains() -> dict[str, Any]:
    """Walk every audit chain; a broken one is logged as an error for the operators' alerts."""
    reports = audit_verify()
    broken = [report for report in reports if not report.is_intact]
    for report in broken:
        logger.error(
            "Audit chain %s is broken at entry %s: %s",
            report.key,
            report.first_broken_seq,
            report.reason,
            extra={"chain": report.key, "seq": report.first_broken_seq, "reason": report.reason},
        )
    return {
        "chains": len(reports),
        "broken": [
            {"chain": report.key, "seq": report.first_broken_seq, "reason": report.reason}
            for report in broken
        ],
    }


@task
def dispatch_outbox() -> dict[str, int]:
    """Deliver due outbox messages: enqueued after each publishing transaction commits, and
    every 10 s by the scheduler for messages whose enqueue was lost in a crash."""
    report = outbox_dispatch()
    if report.is_batch_full:
        # More may be due: a fresh run takes them, so this task ends and frees the worker.
        dispatch_outbox.enqueue()
    return report.as_json()


@task
def purge_outbox_messages() -> int:
    return outbox_purge_done()
