"""The transactional outbox: how a change in one part reaches the parts that react to it.

A service publishes an event in the transaction of the change it describes:

    with transaction.atomic():
        customer_merge(...)
        outbox_publish(workspace_id=ws.pk, kind="customer.merged", payload={"survivor_id": 7})

The row commits or rolls back with the change, so no event is lost and none describes a change
that did not happen. After commit a dispatch task runs; every ~10 s a periodic job dispatches
too, for messages whose enqueue was lost (a crash between commit and enqueue).

Higher parts subscribe in their `AppConfig.ready()`, through this one registry (no signals):

    @subscribe("customer.*", name="loyalty.award_points")
    def award_points(event: OutboxEvent) -> None: ...

Guarantees: every message is delivered at least once to every subscriber of its kind; a
subscriber's effect happens once, because the handler runs and its OutboxDelivery row is
written in one transaction (a savepoint of the claim's transaction), and a message that comes
back (a crash, a retry) skips the subscribers that have a delivery row. A handler should
therefore only write to the database; remote work (a webhook, a mail) goes to its own task,
enqueued with `enqueue_on_commit`, which commits or vanishes with the delivery row.
"""

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import Count, Min, Q
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from huike.core.models import OutboxDelivery, OutboxMessage
from huike.core.tasks import RetryableError, enqueue_on_commit, retry_delay

logger = logging.getLogger("huike.outbox")

# Messages one dispatch run handles before it hands over to a fresh run (enqueued at once):
# bounds how long one task holds a worker, not how many messages get through.
DISPATCH_BATCH_SIZE = 200
# A subscriber failing with RetryableError is tried again after ~10 s, doubling each time
# (huike.core.tasks.retry_delay); the 8th failure (about 21 minutes in all) fails the message.
OUTBOX_MAX_ATTEMPTS = 8
# Done messages are kept a week for investigations and replays, then purged.
OUTBOX_DONE_RETENTION_DAYS = 7
# Rows deleted per statement when purging: short deletes never hold the write lock for long.
OUTBOX_PURGE_BATCH_SIZE = 1000
# last_error holds the start of the message; the full traceback is in the log.
LAST_ERROR_MAX_LENGTH = 2000

_KIND = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
# A subscription names one kind, every kind under a prefix ("customer.*"), or everything ("*").
_PATTERN = re.compile(r"\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.\*|" + _KIND.pattern)
_SUBSCRIBER_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")


@dataclass(frozen=True)
class OutboxEvent:
    """What a subscriber receives: ids and plain values, never model instances."""

    message_id: int
    workspace_id: int
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    attempt: int


Handler = Callable[[OutboxEvent], None]


@dataclass(frozen=True)
class Subscriber:
    pattern: str
    name: str
    handler: Handler

    def matches(self, kind: str) -> bool:
        if self.pattern == "*":
            return True
        if self.pattern.endswith(".*"):
            return kind.startswith(self.pattern[:-1])
        return kind == self.pattern


# name -> subscriber. Names are what OutboxDelivery rows record, so they are unique and must
# stay stable: renaming a subscriber makes it receive pending messages again.
_SUBSCRIBERS: dict[str, Subscriber] = {}


def register_subscriber(kind: str, name: str, handler: Handler) -> None:
    """Call `handler` for every message whose kind matches `kind` ("a.b", "a.*" or "*").

    Registering the same handler under the same name again does nothing (AppConfig.ready may
    run twice); another handler under a taken name is a configuration error.
    """
    if not _PATTERN.fullmatch(kind):
        raise ImproperlyConfigured(f"Outbox subscription {kind!r} is not a kind or a kind.*")
    if not _SUBSCRIBER_NAME.fullmatch(name) or len(name) > 100:
        raise ImproperlyConfigured(f"Outbox subscriber name {name!r} must be dotted, like a.b")
    subscriber = Subscriber(kind, name, handler)
    existing = _SUBSCRIBERS.get(name)
    if existing is not None and existing != subscriber:
        raise ImproperlyConfigured(f"Outbox subscriber {name!r} is registered twice")
    _SUBSCRIBERS[name] = subscriber


def unregister_subscriber(name: str) -> None:
    _SUBSCRIBERS.pop(name, None)


def subscribe(kind: str, *, name: str) -> Callable[[Handler], Handler]:
    """Decorator form of register_subscriber."""

    def decorate(handler: Handler) -> Handler:
        register_subscriber(kind, name, handler)
        return handler

    return decorate


def subscribers_for(kind: str) -> list[Subscriber]:
    """The subscribers of `kind`, in name order (the order they run in)."""
    return sorted(
        (subscriber for subscriber in _SUBSCRIBERS.values() if subscriber.matches(kind)),
        key=lambda subscriber: subscriber.name,
    )


# --- publishing -------------------------------------------------------------------------------
def outbox_publish(*, workspace_id: int, kind: str, payload: dict[str, Any]) -> OutboxMessage:
    """Record event `kind` for the subscribers; must run inside the caller's transaction.

    Raises TransactionManagementError outside a transaction (the event would be separable
    from its change) and ValueError for a kind that is not dotted lower-case ("customer.merged").
    Schedules one dispatch for when the transaction commits, however many events it publishes.
    """
    if not transaction.get_connection().in_atomic_block:
        raise TransactionManagementError(
            "outbox_publish must run inside the transaction of the change it describes"
        )
    if not _KIND.fullmatch(kind) or len(kind) > 100:
        raise ValueError(f"Outbox kind {kind!r} must be dotted lower-case, like customer.merged")
    message = OutboxMessage.objects.create(
        workspace_id=workspace_id, kind=kind, payload=payload, available_at=timezone.now()
    )
    _schedule_dispatch()
    return message


def _schedule_dispatch() -> None:
    # Imported here: jobs imports this module for the dispatch itself.
    from huike.core.jobs import dispatch_outbox

    enqueue = dispatch_outbox.enqueue
    pending = transaction.get_connection().run_on_commit
    # One dispatch per transaction is enough: it claims every due message. The callbacks of a
    # savepoint that rolled back have left this list already, so a dispatch is never missed.
    if any(getattr(callback, "func", None) == enqueue for _, callback, _ in pending):
        return
    enqueue_on_commit(dispatch_outbox)


# --- dispatching ------------------------------------------------------------------------------
@dataclass
class DispatchReport:
    batch_size: int
    claimed: int = 0
    done: int = 0
    retrying: int = 0
    failed: int = 0
    deliveries: int = 0
    # In the order they were claimed.
    message_ids: list[int] = field(default_factory=list)

    @property
    def is_batch_full(self) -> bool:
        """True when the run stopped at its limit, so more messages may be due."""
        return self.claimed >= self.batch_size

    def as_json(self) -> dict[str, int]:
        return {
            "claimed": self.claimed,
            "done": self.done,
            "retrying": self.retrying,
            "failed": self.failed,
            "deliveries": self.deliveries,
        }


def outbox_dispatch(*, batch_size: int = DISPATCH_BATCH_SIZE) -> DispatchReport:
    """Deliver up to `batch_size` due messages to their subscribers; returns what happened.

    Each message is claimed and handled in its own transaction: the claim's row lock (or, on
    SQLite, the write lock) is held while its subscribers run, so no other dispatcher handles
    it at the same time, and handler effects, delivery rows and the message's new status
    commit together. Safe to run from any number of workers at once.
    """
    report = DispatchReport(batch_size=batch_size)
    while report.claimed < batch_size:
        with transaction.atomic():
            message = _claim_next()
            if message is None:
                break
            report.claimed += 1
            report.message_ids.append(message.pk)
            _deliver(message, report)
    return report


def _claim_next() -> OutboxMessage | None:
    """The oldest due pending message, locked for this transaction; None when there is none.

    By status and due time, never "id greater than the last one seen": a message whose
    transaction commits after a later one's is still pending, so it is found.
    """
    due = OutboxMessage.objects.filter(
        status=OutboxMessage.Status.PENDING, available_at__lte=timezone.now()
    ).order_by("available_at", "pk")
    if connection.features.has_select_for_update_skip_locked:
        # PostgreSQL: rows another dispatcher holds are skipped, not waited for.
        return due.select_for_update(skip_locked=True).first()
    if connection.vendor == "sqlite":
        # SQLite has one writer at a time. Holding the write lock before reading makes the
        # claim exclusive until commit: with transaction_mode IMMEDIATE (our settings) BEGIN
        # took it; otherwise a write that changes nothing takes it now.
        if connection.settings_dict.get("OPTIONS", {}).get("transaction_mode") != "IMMEDIATE":
            # (Ids are positive: the UPDATE runs, and takes the lock, but changes no row.)
            OutboxMessage.objects.filter(pk__lt=0).update(attempts=0)
        return due.first()
    raise ImproperlyConfigured(
        f"The outbox needs SELECT ... SKIP LOCKED or SQLite, not {connection.vendor}"
    )


def _deliver(message: OutboxMessage, report: DispatchReport) -> None:
    attempt = message.attempts + 1
    event = OutboxEvent(
        message_id=message.pk,
        workspace_id=message.workspace_id,
        kind=message.kind,
        payload=message.payload,
        created_at=message.created_at,
        attempt=attempt,
    )
    handled = set(message.deliveries.values_list("subscriber", flat=True))
    retryable: list[str] = []
    permanent: list[str] = []
    for subscriber in subscribers_for(message.kind):
        if subscriber.name in handled:
            continue  # its effect committed with its delivery row in an earlier run
        try:
            # A savepoint per subscriber: a failing one rolls back only its own writes.
            with transaction.atomic():
                subscriber.handler(event)
                OutboxDelivery.objects.create(message=message, subscriber=subscriber.name)
        except RetryableError as error:
            logger.warning(
                "Outbox message %s (%s): subscriber %s will retry: %s",
                message.pk,
                message.kind,
                subscriber.name,
                error,
            )
            retryable.append(f"{subscriber.name}: {error}")
        except Exception as error:
            logger.exception(
                "Outbox message %s (%s): subscriber %s failed",
                message.pk,
                message.kind,
                subscriber.name,
            )
            permanent.append(f"{subscriber.name}: {type(error).__name__}: {error}")
        else:
            report.deliveries += 1

    now = timezone.now()
    message.attempts = attempt
    if permanent or (retryable and attempt >= OUTBOX_MAX_ATTEMPTS):
        message.status = OutboxMessage.Status.FAILED
        message.processed_at = now
        message.last_error = "\n".join(permanent + retryable)[:LAST_ERROR_MAX_LENGTH]
        report.failed += 1
        logger.error(
            "Outbox message %s (%s) failed after %d attempt(s): %s",
            message.pk,
            message.kind,
            attempt,
            message.last_error,
        )
    elif retryable:
        message.available_at = now + retry_delay(attempt)
        message.last_error = "\n".join(retryable)[:LAST_ERROR_MAX_LENGTH]
        report.retrying += 1
    else:
        message.status = OutboxMessage.Status.DONE
        message.processed_at = now
        message.last_error = ""
        report.done += 1
    message.save(update_fields=["status", "attempts", "available_at", "processed_at", "last_error"])


# --- operations -------------------------------------------------------------------------------
def outbox_purge_done(*, now: datetime | None = None) -> int:
    """Delete done messages (and their delivery rows) processed more than
    OUTBOX_DONE_RETENTION_DAYS ago. Failed messages stay until someone retries them."""
    cutoff = (now or timezone.now()) - timedelta(days=OUTBOX_DONE_RETENTION_DAYS)
    # available_at precedes processed_at, so its bound lets the claim index find the rows.
    old = OutboxMessage.objects.filter(
        status=OutboxMessage.Status.DONE, available_at__lt=cutoff, processed_at__lt=cutoff
    )
    deleted = 0
    while True:
        batch = list(old.values_list("pk", flat=True)[:OUTBOX_PURGE_BATCH_SIZE])
        if not batch:
            return deleted
        with transaction.atomic():
            OutboxDelivery.objects.filter(message_id__in=batch).delete()
            deleted += OutboxMessage.objects.filter(pk__in=batch).delete()[0]


def _kind_filter(kind: str | None) -> Q:
    if kind is None or kind == "*":
        return Q()
    if kind.endswith(".*"):
        return Q(kind__startswith=kind[:-1])
    return Q(kind=kind)


def outbox_retry_failed(*, kind: str | None = None, workspace_id: int | None = None) -> int:
    """Put failed messages (of `kind`, which may end in ".*", and of one workspace if given)
    back to pending with a fresh attempt count; returns how many. Subscribers that handled a
    message before it failed are not run again."""
    failed = OutboxMessage.objects.filter(_kind_filter(kind), status=OutboxMessage.Status.FAILED)
    if workspace_id is not None:
        failed = failed.filter(workspace_id=workspace_id)
    with transaction.atomic():
        count = failed.update(
            status=OutboxMessage.Status.PENDING,
            attempts=0,
            available_at=timezone.now(),
            processed_at=None,
        )
        if count:
            _schedule_dispatch()
    return count


@dataclass(frozen=True)
class KindCount:
    kind: str
    status: str
    count: int


@dataclass(frozen=True)
class OutboxStatus:
    counts: list[KindCount]
    oldest_pending_at: datetime | None
    oldest_due_at: datetime | None

    def total(self, status: str) -> int:
        return sum(row.count for row in self.counts if row.status == status)


def outbox_status() -> OutboxStatus:
    """Messages per kind and status, and the oldest pending message (for `huike outbox status`)."""
    counts = (
        OutboxMessage.objects.values("kind", "status")
        .annotate(count=Count("pk"))
        .order_by("kind", "status")
    )
    pending = OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING)
    oldest = pending.aggregate(created=Min("created_at"))["created"]
    oldest_due = pending.filter(available_at__lte=timezone.now()).aggregate(
        created=Min("created_at")
    )["created"]
    return OutboxStatus(
        counts=[KindCount(row["kind"], row["status"], row["count"]) for row in counts],
        oldest_pending_at=oldest,
        oldest_due_at=oldest_due,
    )
