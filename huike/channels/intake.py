"""Webhook intake: verify, store deduplicated, acknowledge. Nothing else happens in the
request, so the platform's deadline (5 s for WeChat, WeCom and Douyin) is never at risk;
processing.py does the rest from a worker.

A request whose signature fails is refused (401/403) and nothing of it is stored. A delivery
the platform retries finds its key in the inbound log and is dropped at the insert.
"""

import logging
import threading
import time
import uuid
from dataclasses import dataclass
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
from huike.core.tasks import enqueue_on_commit

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


def webhook_receive(
    *, kind: str, channel_public_id: str, request: WebhookRequest
) -> WebhookResponse:
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
    stored = deliveries_store(cached.channel, incoming, received_at=request.received_at)
    return provider.acknowledge(context, request, len(stored))


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


def _insert_sql() -> str:
    table = connection.ops.quote_name(InboundDelivery._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(name) for name in _INSERT_COLUMNS)
    placeholders = ", ".join(["%s"] * len(_INSERT_COLUMNS))
    conflict = ", ".join(
        connection.ops.quote_name(name) for name in ("workspace_id", "channel_id", "dedupe_key")
    )
    # ON CONFLICT … RETURNING: PostgreSQL, and SQLite since 3.35. A duplicate returns no row.
    # Only quoted names of our own table are formatted in; every value is a parameter.
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "  # noqa: S608
        f"ON CONFLICT ({conflict}) DO NOTHING RETURNING id"
    )


def _prepared(column: str, value: Any) -> Any:
    field = next(f for f in InboundDelivery._meta.concrete_fields if f.column == column)
    return field.get_db_prep_save(value, connection)


def deliveries_store(
    channel: Channel,
    incoming: list[IncomingDelivery],
    *,
    received_at: Any = None,
    enqueue: bool = True,
) -> list[int]:
    """Insert the deliveries the inbound log does not have yet; the ids of the new ones, each
    enqueued for processing when the transaction commits. A caller that processes them at
    once itself (the website chat) passes enqueue=False and enqueues what it could not."""
    if not incoming:
        return []
    received_at = received_at or timezone.now()
    keys, from_cache = _workspace_keys(channel.workspace_id)
    column = encrypted_column(InboundDelivery, "body_token")
    sql = _insert_sql()
    new_ids: list[int] = []
    with transaction.atomic(), connection.cursor() as cursor:
        for delivery in incoming:
            public_id = uuid.uuid4()
            meta = dict(delivery.meta)
            try:
                text = delivery.body.decode()
            except UnicodeDecodeError:
                # Raw mail in GBK and the like: latin-1 maps every byte to one character,
                # so the exact bytes come back.
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
            cursor.execute(sql, [_prepared(name, values[name]) for name in _INSERT_COLUMNS])
            row = cursor.fetchone()
            if row is not None:
                new_ids.append(row[0])
        if new_ids and enqueue:
            from huike.channels.tasks import process_delivery

            for delivery_id in new_ids:
                enqueue_on_commit(process_delivery, delivery_id)
    if not from_cache and not connection.in_atomic_block:
        # Only once committed (not inside a caller's transaction): a first encryption key
        # created in a transaction that rolled back must not stay in a snapshot.
        with _contexts_lock:
            _keys[channel.workspace_id] = (keys, time.monotonic())
    return new_ids
