"""Periodic jobs, all declared here, and the scheduler that enqueues them.

A job names its task by dotted path, so parts above `core` (SLA checks, points expiry,
scheduled syncs) add their line here without `core` importing them.

Time is cut into slots: `every` long, aligned to the Unix epoch in UTC and shifted by
`offset` (`every=timedelta(days=1), offset=timedelta(hours=3)` is "daily at 03:00 UTC"). The
scheduler enqueues each job once per slot: it inserts a PeriodicRun row (unique on name and
slot) and enqueues only if the insert succeeded, so any number of workers running the
scheduler never enqueue a slot twice. A slot that passed while no scheduler ran is skipped,
not caught up: the next slot's run does the same work.
"""

import functools
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, close_old_connections, connection, transaction
from django.tasks import Task
from django.utils import timezone
from django.utils.module_loading import import_string

from huike.core.models import PeriodicRun

logger = logging.getLogger("huike.schedule")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task_path: str
    every: timedelta
    offset: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if self.every <= timedelta(0):
            raise ValueError(f"{self.name}: `every` must be positive")
        if not timedelta(0) <= self.offset < self.every:
            raise ValueError(f"{self.name}: `offset` must be within one period")

    def slot_at(self, moment: datetime) -> datetime:
        """The start of the slot `moment` falls in."""
        periods = (moment - EPOCH - self.offset) // self.every
        return EPOCH + self.offset + periods * self.every

    def task(self) -> Task[[], Any]:
        found: Task[[], Any] = import_string(self.task_path)
        return found


PERIODIC_JOBS: list[PeriodicJob] = [
    # The outbox's safety net: every publish enqueues a dispatch on commit, but a crash between
    # commit and enqueue loses that enqueue; the message then waits at most one slot.
    PeriodicJob(
        "outbox.dispatch",
        "huike.core.jobs.dispatch_outbox",
        every=timedelta(seconds=10),
    ),
    # Done outbox messages older than a week; daily, in the same quiet hour as the prune below.
    PeriodicJob(
        "outbox.purge_done",
        "huike.core.jobs.purge_outbox_messages",
        every=timedelta(days=1),
        offset=timedelta(hours=3, minutes=40),
    ),
    # Idempotency-Key records live a day; purging hourly keeps the table a day deep.
    PeriodicJob(
        "idempotency.purge_expired",
        "huike.core.jobs.purge_idempotency_records",
        every=timedelta(hours=1),
        offset=timedelta(minutes=5),
    ),
    # Finished task results and old scheduler rows, daily at a quiet hour (Asia/Shanghai
    # 11:30 is 03:30 UTC, so this runs at night for the Americas and Europe and at lunch in
    # China, when an extra DELETE is least noticed).
    PeriodicJob(
        "tasks.prune_results",
        "huike.core.jobs.prune_task_results",
        every=timedelta(days=1),
        offset=timedelta(hours=3, minutes=30),
    ),
    # RFM recency moves with the calendar; daily, in the quiet hour after the prune.
    PeriodicJob(
        "customers.refresh_rfm",
        "huike.customers.jobs.refresh_rfm_scores",
        every=timedelta(days=1),
        offset=timedelta(hours=3, minutes=50),
    ),
    # Uploaded import files left unfinished and exports past their retention hold personal
    # data; hourly, so nothing stays much beyond its 7 days.
    PeriodicJob(
        "customers.purge_import_export_files",
        "huike.customers.imports.tasks.purge_import_export_files",
        every=timedelta(hours=1),
        offset=timedelta(minutes=35),
    ),
    # A broken audit chain means tampering or a bug: worth knowing within the hour.
    PeriodicJob(
        "audit.verify_chains",
        "huike.core.jobs.verify_audit_chains",
        every=timedelta(hours=1),
        offset=timedelta(minutes=20),
    ),
    # Inbound deliveries whose processing task was lost (a worker killed between intake and
    # processing); fresh ones are left to their own task.
    PeriodicJob(
        "channels.sweep_inbound",
        "huike.channels.tasks.sweep_inbound",
        every=timedelta(minutes=1),
    ),
    # Mailboxes read by IMAP.
    PeriodicJob(
        "channels.poll",
        "huike.channels.tasks.poll_channels",
        every=timedelta(minutes=1),
        offset=timedelta(seconds=20),
    ),
    PeriodicJob(
        "channels.purge_inbound",
        "huike.channels.tasks.purge_inbound",
        every=timedelta(days=1),
        offset=timedelta(hours=3, minutes=55),
    ),
    PeriodicJob(
        "inbox.purge_realtime_notices",
        "huike.inbox.jobs.purge_realtime_notices",
        every=timedelta(minutes=5),
        offset=timedelta(seconds=50),
    ),
    PeriodicJob(
        "inbox.wake_snoozed",
        "huike.inbox.jobs.wake_snoozed_conversations",
        every=timedelta(minutes=1),
        offset=timedelta(seconds=40),
    ),
    # Leads nobody followed up go back to the pool; follow-up windows are hours long, so a
    # quarter of an hour late is on time.
    PeriodicJob(
        "sales.return_stale_leads",
        "huike.sales.tasks_leads.return_stale_leads",
        every=timedelta(minutes=15),
        offset=timedelta(minutes=7),
    ),
    # Event points of lead scores halve every half-life (days): daily is fine-grained enough.
    PeriodicJob(
        "sales.decay_lead_scores",
        "huike.sales.tasks_scoring.decay_lead_scores",
        every=timedelta(days=1),
        offset=timedelta(hours=2, minutes=10),
    ),
    # The predictive lead score learns from the day's closed leads, nightly in the quiet hours.
    PeriodicJob(
        "sales.train_lead_models",
        "huike.sales.tasks_scoring.train_predictive_models",
        every=timedelta(days=1),
        offset=timedelta(hours=2, minutes=40),
    ),
    # Pool leads the assignment rules take but nobody had room for at capture (or captured
    # before a rule existed), best score first; rule changes also run it at once.
    PeriodicJob(
        "sales.assign_pool_leads",
        "huike.sales.tasks_assignment.assign_pool_leads_everywhere",
        every=timedelta(minutes=5),
        offset=timedelta(minutes=2, seconds=30),
    ),
    # First-contact SLAs are minutes long: reminders and escalations within the minute.
    PeriodicJob(
        "sales.check_first_contact",
        "huike.sales.tasks_assignment.check_first_contact_slas",
        every=timedelta(minutes=1),
        offset=timedelta(seconds=15),
    ),
    # The funnel's daily roll-ups: a report is exact without them (it adds up the days changed
    # since from the deals), so the minute only bounds how much such a report reads.
    PeriodicJob(
        "sales.refresh_funnels",
        "huike.sales.tasks_funnel.refresh_funnels",
        every=timedelta(minutes=1),
        offset=timedelta(seconds=25),
    ),
    # Task reminders go out at their minute (in-app and e-mail), not when a page is opened.
    PeriodicJob(
        "sales.task_reminders",
        "huike.sales.tasks.send_task_reminders",
        every=timedelta(minutes=1),
        offset=timedelta(seconds=5),
    ),
]


@dataclass(frozen=True)
class ScheduledRun:
    name: str
    slot: datetime


def _enqueues_in_transaction(task: Task[[], Any]) -> bool:
    # The database queue stores the task in the same database: enqueueing inside the
    # PeriodicRun transaction makes "slot claimed" and "task enqueued" one atomic step.
    # Other engines (Redis) cannot join the transaction, so they enqueue right after commit:
    # a crash in between skips that one slot, never doubles it.
    from django_tasks_db.backend import DatabaseBackend

    return isinstance(task.get_backend(), DatabaseBackend)


def _enqueue(task: Task[[], Any], run_id: int) -> None:
    result = task.enqueue()
    PeriodicRun.objects.filter(pk=run_id).update(task_result_id=str(result.id))


def schedule_run_due(
    *, now: datetime | None = None, jobs: list[PeriodicJob] | None = None
) -> list[ScheduledRun]:
    """Enqueue every job whose current slot has not been enqueued yet; returns what it did."""
    now = now or timezone.now()
    done: list[ScheduledRun] = []
    for job in PERIODIC_JOBS if jobs is None else jobs:
        slot = job.slot_at(now)
        if PeriodicRun.objects.filter(name=job.name, slot=slot).exists():
            continue  # the common case, without taking a write lock
        task = job.task()
        try:
            with transaction.atomic():
                run = PeriodicRun.objects.create(name=job.name, slot=slot)
                if _enqueues_in_transaction(task):
                    _enqueue(task, run.pk)
                else:
                    transaction.on_commit(functools.partial(_enqueue, task, run.pk))
        except IntegrityError:
            continue  # another scheduler claimed this slot first
        logger.info("Periodic job %s enqueued for slot %s", job.name, slot.isoformat())
        done.append(ScheduledRun(job.name, slot))
    return done


SCHEDULER_TICK_SECONDS = 10.0  # slots are minutes to days long; 10 s late is on time


def schedule_loop(stop: threading.Event, *, tick: float = SCHEDULER_TICK_SECONDS) -> None:
    """Run scheduler passes until `stop` is set (the body of the worker's scheduler thread)."""
    try:
        while not stop.is_set():
            try:
                schedule_run_due()
            except Exception:
                # A database hiccup must not end the scheduler: the next pass tries again.
                logger.exception("Scheduler pass failed")
            finally:
                close_old_connections()
            stop.wait(tick)
    finally:
        connection.close()
