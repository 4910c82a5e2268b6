"""Webhook intake: verify, store deduplicated, acknowledge. Nothing else happens in the
request, so the platform's deadline (5 s for WeChat, WeCom and Douyin) is never at risk;
processing.py does the rest from a worker.

A request whose signature fails is refused (401/403) and nothing of it is stored. A delivery
the platform retries finds its key in the inbound log and is dropped at the insert.
"""

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from huike.channels.base import (
    ChannelContext,
    IncomingDelivery,
    SignatureError,
    WebhookRequest,
    WebhookResponse,
)
from huike.channels.config import channel_context
from huike.channels.models import Channel, InboundDelivery
from huike.channels.registry import provider_for
from huike.core.crypto import WorkspaceKeys, encrypted_column, workspace_keys
from huike.core.tasks import enqueue_with_commit

logger = logging.getLogger("huike.channels.intake")

# A changed channel (new secret, disabled) is seen by every web process within this long.
CONTEXT_TTL_SECONDS = 10.0
MAX_DEDUPE_KEY = 200
# The meta key that says how the stored text maps back to the body's bytes.
BODY_ENCODING = "_body_encoding"


@dataclass(frozen=True)
class _Cached:
    channel: Channel
    context: ChannelContext
    loaded_at: float


_contexts: dict[tuple[str, str], _Cached] = {}
# A workspace's data-key snapshot, reused for CONTEXT_TTL_SECONDS: loading it is a query per
# request otherwise (a fifth of a delivery's cost). A key rotated meanwhile is used for new
# bodies within that time; bodies written with the previous version stay readable.
_keys: dict[int, tuple[WorkspaceKeys, float]] = {}
_contexts_lock = threading.Lock()


def contexts_clear() -> None:
    with _contexts_lock:
        _contexts.clear()
        _keys.clear()


def _workspace_keys(workspace_id: int) -> tuple[WorkspaceKeys, bool]:
    """The workspace's keys, and whether they came from the cache."""
    cached = _keys.get(workspace_id)
    if cached is not None and time.monotonic() - cached[1] < CONTEXT_TTL_SECONDS:
        return cached[0], True
    return workspace_keys(workspace_id), False


def _channel(kind: str, public_id: str) -> _Cached | None:
    key = (kind, public_id)
    cached = _contexts.get(key)
    if cached is not None and time.monotonic() - cached.loaded_at < CONTEXT_TTL_SECONDS:
        return cached
    channel = Channel.objects.filter(public_id=public_id, kind=kind, is_active=True).first()
    if channel is None:
        with _contexts_lock:
            _contexts.pop(key, None)
        return None
    cached = _Cached(channel, channel_context(channel), time.monotonic())
    with _contexts_lock:
        _contexts[key] = cached
    return cached


@dataclass(frozen=True)
class Accepted:
    """A webhook request that passed its checks: its deliveries are to be stored, then the
    provider acknowledges it."""

    provider: Any
    context: ChannelContext
    channel: Channel
    request: WebhookRequest
    incoming: list[IncomingDelivery]

    def acknowledge(self, stored: int) -> WebhookResponse:
        response: WebhookResponse = self.provider.acknowledge(self.context, self.request, stored)
        return response


def webhook_receive(
    *,
    kind: str,
    channel_public_id: str,
    request: WebhookRequest,
) -> WebhookResponse:
    """Verify, store (in a transaction of its own) and acknowledge one webhook request: the
    Django view's path; the ASGI intake (huike.channels.asgi) runs the same check and commits
    through a GroupCommit."""
    checked = webhook_check(kind=kind, channel_public_id=channel_public_id, request=request)
    if isinstance(checked, WebhookResponse):
        return checked
    stored = deliveries_store(checked.channel, checked.incoming, received_at=request.received_at)
    return checked.acknowledge(len(stored))


def webhook_check(
    *, kind: str, channel_public_id: str, request: WebhookRequest
) -> WebhookResponse | Accepted:
    """Everything before the store: the channel, the handshake, the signature and reading the
    deliveries. The answer when that is the end of it (404, 405, 401/403, 400, a handshake's
    echo), else what to store."""
    try:
        uuid.UUID(channel_public_id)
        provider = provider_for(kind)
    except (ValueError, KeyError):
        return WebhookResponse(404)
    cached = _channel(kind, channel_public_id)
    if cached is None:
        return WebhookResponse(404)
    context = cached.context
    try:
        answer = provider.handshake(context, request)
        if answer is not None:
            return answer
        if request.method != "POST":
            return WebhookResponse(405)
        provider.verify(context, request)
    except SignatureError as error:
        logger.warning(
            "webhook refused",
            extra={"channel": channel_public_id, "kind": kind, "reason": str(error)},
        )
        return WebhookResponse(error.status)
    try:
        incoming = provider.deliveries(context, request)
    except ValueError as error:
        logger.warning(
            "webhook unreadable",
            extra={"channel": channel_public_id, "kind": kind, "reason": str(error)},
        )
        return WebhookResponse(400)
    return Accepted(provider, context, cached.channel, request, incoming)


_INSERT_COLUMNS = (
    "workspace_id",
    "channel_id",
    "public_id",
    "dedupe_key",
    "received_at",
    "content_type",
    "body_token",
    "meta",
    "status",
    "attempts",
    "error",
    "items",
)


# Rows per INSERT statement: far below both databases' limits on parameters.
INSERT_ROWS = 500


def _insert_sql(rows: int) -> str:
    table = connection.ops.quote_name(InboundDelivery._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(name) for name in _INSERT_COLUMNS)
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(_INSERT_COLUMNS)) + ")"] * rows)
    conflict = ", ".join(
        connection.ops.quote_name(name) for name in ("workspace_id", "channel_id", "dedupe_key")
    )
    # ON CONFLICT … RETURNING: PostgreSQL, and SQLite since 3.35. A row that conflicts (with
    # a stored one, or with one before it in the same statement) is skipped and returns
    # nothing. Only quoted names of our own table are formatted in; every value is a
    # parameter.
    return (
        f"INSERT INTO {table} ({columns}) VALUES {placeholders} "  # noqa: S608
        f"ON CONFLICT ({conflict}) DO NOTHING RETURNING id, channel_id, dedupe_key"
    )


CHANNEL = _INSERT_COLUMNS.index("channel_id")
DEDUPE_KEY = _INSERT_COLUMNS.index("dedupe_key")


_fields: list[Any] = []


def _prepared_row(values: dict[str, Any]) -> list[Any]:
    """The row's values as the database takes them, in _INSERT_COLUMNS order."""
    if not _fields:
        by_column = {f.column: f for f in InboundDelivery._meta.concrete_fields}
        _fields.extend(by_column[name] for name in _INSERT_COLUMNS)
    return [
        model_field.get_db_prep_save(values[model_field.column], connection)
        for model_field in _fields
    ]


@dataclass
class PreparedRows:
    """One request's deliveries, encrypted and ready to insert, and what became of them."""

    workspace_id: int
    rows: list[list[Any]]
    keys: WorkspaceKeys
    keys_from_cache: bool
    ids: list[int] = field(default_factory=list)
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    # Called by the writer thread once `done` is set (the ASGI intake wakes its request).
    on_done: Callable[[], None] | None = None


def deliveries_prepare(
    channel: Channel, incoming: list[IncomingDelivery], received_at: Any = None
) -> PreparedRows:
    """The deliveries encrypted and ready for GroupCommit.submit."""
    return _prepare(channel, incoming, received_at or timezone.now())


def _prepare(channel: Channel, incoming: list[IncomingDelivery], received_at: Any) -> PreparedRows:
    keys, from_cache = _workspace_keys(channel.workspace_id)
    column = encrypted_column(InboundDelivery, "body_token")
    rows: list[list[Any]] = []
    for delivery in incoming:
        public_id = uuid.uuid4()
        meta = dict(delivery.meta)
        try:
            text = delivery.body.decode()
        except UnicodeDecodeError:
            # Raw mail in GBK and the like: latin-1 maps every byte to one character, so the
            # exact bytes come back.
            text = delivery.body.decode("latin-1")
            meta[BODY_ENCODING] = "latin-1"
        token = keys.encrypt(
            table=column.table, column=column.column, row_key=str(public_id), plaintext=text
        )
        values = {
            "workspace_id": channel.workspace_id,
            "channel_id": channel.pk,
            "public_id": public_id,
            "dedupe_key": delivery.dedupe_key[:MAX_DEDUPE_KEY],
            "received_at": received_at,
            "content_type": delivery.content_type[:100],
            "body_token": token,
            "meta": meta,
            "status": InboundDelivery.Status.PENDING,
            "attempts": 0,
            "error": "",
            "items": 0,
        }
        rows.append(_prepared_row(values))
    return PreparedRows(channel.workspace_id, rows, keys, from_cache)


def _insert(batch: list[PreparedRows], *, enqueue: bool) -> None:
    """Insert the rows of `batch` in the caller's transaction, a few statements for all of
    them; each PreparedRows gets the ids of its new deliveries (a delivery two requests carry is
    new for the first only), queued for processing with the transaction (core.tasks): one
    task for the lot, which processes them in order."""
    rows = [row for request in batch for row in request.rows]
    inserted: dict[tuple[int, str], int] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(rows), INSERT_ROWS):
            chunk = rows[start : start + INSERT_ROWS]
            cursor.execute(_insert_sql(len(chunk)), [value for row in chunk for value in row])
            for delivery_id, channel_id, dedupe_key in cursor.fetchall():
                inserted[(channel_id, dedupe_key)] = delivery_id
    new_ids: list[int] = []
    for request in batch:
        request.ids = []
        for row in request.rows:
            delivery_id = inserted.pop((row[CHANNEL], row[DEDUPE_KEY]), None)
            if delivery_id is not None:
                request.ids.append(delivery_id)
                new_ids.append(delivery_id)
    if enqueue and new_ids:
        from huike.channels.tasks import process_deliveries, process_delivery

        if len(new_ids) == 1:
            enqueue_with_commit(process_delivery, new_ids[0])
        else:
            enqueue_with_commit(process_deliveries, sorted(new_ids))


def _remember_keys(request: PreparedRows) -> None:
    if not request.keys_from_cache and not connection.in_atomic_block:
        # Only once committed (not inside a caller's transaction): a first encryption key
        # created in a transaction that rolled back must not stay in a snapshot.
        with _contexts_lock:
            _keys[request.workspace_id] = (request.keys, time.monotonic())


def deliveries_store(
    channel: Channel,
    incoming: list[IncomingDelivery],
    *,
    received_at: Any = None,
    enqueue: bool = True,
) -> list[int]:
    """Insert the deliveries the inbound log does not have yet; the ids of the new ones, each
    enqueued for processing with the transaction. A caller that processes them at once itself
    (the website chat) passes enqueue=False and enqueues what it could not."""
    if not incoming:
        return []
    request = _prepare(channel, incoming, received_at or timezone.now())
    with transaction.atomic():
        _insert([request], enqueue=enqueue)
    _remember_keys(request)
    return request.ids


class GroupCommit:
    """Deliveries of concurrent requests written in shared transactions.

    The requests of a web process hand their encrypted rows to `writers` writer threads; a
    free writer inserts everything that is waiting (at most `max_batch` requests) with one
    processing task for them in one transaction and commits once, then lets each request
    answer. Nothing waits on purpose: an idle writer takes a lone request at once, and busy
    ones gather what arrived while they were committing, so the commits per second stay few
    however many requests come; a second writer overlaps one batch's commit with the next
    batch's work. A request is answered only after the commit that holds its rows. A batch
    that fails is written again one request at a time, so one bad request fails alone. A
    writer idle for `idle_seconds` closes its connection and ends; requests start new ones."""

    def __init__(self, max_batch: int = 64, writers: int = 1, idle_seconds: float = 30.0) -> None:
        self.max_batch = max_batch
        self.writers = max(writers, 1)
        self.idle_seconds = idle_seconds
        self._waiting: queue.SimpleQueue[PreparedRows | None] = queue.SimpleQueue()
        self._running: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def store(
        self, channel: Channel, incoming: list[IncomingDelivery], *, received_at: Any = None
    ) -> list[int]:
        if not incoming:
            return []
        request = _prepare(channel, incoming, received_at or timezone.now())
        self.submit(request)
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.ids

    def submit(self, request: PreparedRows) -> None:
        """Hand the rows to a writer without waiting: `request.done` is set (and
        `request.on_done` called) once they are committed or have failed."""
        self._waiting.put(request)
        self._start()

    def stop(self) -> None:
        """End the writers once they have written what is waiting (tests, shutdown)."""
        with self._lock:
            running = list(self._running)
        for _writer in running:
            self._waiting.put(None)
        for writer in running:
            writer.join()

    def _start(self) -> None:
        with self._lock:
            if len(self._running) < self.writers:
                writer = threading.Thread(target=self._run, name="intake-commit", daemon=True)
                self._running.add(writer)
                writer.start()

    def _run(self) -> None:
        me = threading.current_thread()
        try:
            while True:
                try:
                    first = self._waiting.get(timeout=self.idle_seconds)
                except queue.Empty:
                    with self._lock:
                        # A request put before this check is taken; one put after it finds
                        # a writer short and starts one.
                        if self._waiting.empty():
                            self._running.discard(me)
                            return
                    continue
                if first is None:
                    with self._lock:
                        self._running.discard(me)
                    return
                batch = [first]
                while len(batch) < self.max_batch:
                    try:
                        waiting = self._waiting.get_nowait()
                    except queue.Empty:
                        break
                    if waiting is None:
                        self._waiting.put(None)  # another writer's, or ours next
                        break
                    batch.append(waiting)
                self._write(batch)
        finally:
            connection.close()

    def _write(self, batch: list[PreparedRows]) -> None:
        try:
            try:
                with transaction.atomic():
                    _insert(batch, enqueue=True)
            except Exception:
                if len(batch) == 1:
                    raise
                self._close_if_broken()
                for request in batch:
                    self._write([request])
                return
            for request in batch:
                _remember_keys(request)
        except BaseException as error:
            for request in batch:
                request.error = error
            self._close_if_broken()
        finally:
            for request in batch:
                request.done.set()
                if request.on_done is not None:
                    request.on_done()

    @staticmethod
    def _close_if_broken() -> None:
        if connection.errors_occurred:
            connection.close()
