"""Realtime: what changed in the inbox reaches the agents' open pages and the website visitors
over websockets (consumers.py, huike.channels.providers.webchat.consumer).

Agents' events carry types and public ids only, never message text: the page refetches the
list or the thread through its views, which apply record access. A visitor's own group does
carry the agent's reply text: it is their conversation.

Two run modes:
- with REDIS_URL the channel layer is Redis, and every process (web or worker) sends to it;
- in embedded mode the layer is the web process's memory, which a worker cannot reach. There a
  send from any other process is written as a RealtimeNotice row, and the web process relays
  the rows (`relay_ensure`, started by the first websocket) every RELAY_INTERVAL seconds.

"The web process" is the one that built the ASGI application (config/asgi.py marks it).
"""

import asyncio
import datetime as dt
import logging
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from huike.core.asyncdb import db_sync_to_async
from huike.core.outbox import OutboxEvent

logger = logging.getLogger("huike.inbox.realtime")

IN_MEMORY_LAYER = "channels.layers.InMemoryChannelLayer"
# The consumers' handler for every relayed event (channels maps "realtime.event" to
# `realtime_event`).
MESSAGE_TYPE = "realtime.event"
RELAY_INTERVAL = 0.2
NOTICE_RETENTION = dt.timedelta(seconds=60)
STARTUP_WINDOW = dt.timedelta(seconds=5)
PURGE_EVERY = 10.0
RELAY_BATCH = 500

_web_process = False
_relay_task: "asyncio.Task[None] | None" = None


def web_process_mark() -> None:
    """Called by config/asgi.py: this process holds the websockets."""
    global _web_process
    _web_process = True


def is_web_process() -> bool:
    return _web_process


def layer_is_embedded() -> bool:
    layers: dict[str, dict[str, Any]] = getattr(settings, "CHANNEL_LAYERS", {})
    return bool(layers.get("default", {}).get("BACKEND") == IN_MEMORY_LAYER)


def workspace_group(workspace_id: int) -> str:
    return f"inbox.{workspace_id}"


def visitor_group(channel_public_id: uuid.UUID | str, visitor_id: str) -> str:
    """A website visitor's sockets (one per open tab) on one webchat channel."""
    return f"webchat.{uuid.UUID(str(channel_public_id)).hex}.{visitor_id}"


def realtime_send(workspace_id: int, event: dict[str, Any]) -> None:
    """Tell the workspace's open inboxes about `event` ({"type", "conversation_id", …}, public
    ids only), once the caller's transaction commits."""
    _deliver(workspace_group(workspace_id), event)


def visitor_send(
    channel_public_id: uuid.UUID | str, visitor_id: str, event: dict[str, Any]
) -> None:
    """Send `event` to a website visitor's open widget, once the caller's transaction commits."""
    _deliver(visitor_group(channel_public_id, visitor_id), event)


def _deliver(group: str, event: dict[str, Any]) -> None:
    if layer_is_embedded() and not _web_process:
        from huike.inbox.models import RealtimeNotice

        # Commits (or rolls back) with the change it announces.
        RealtimeNotice.objects.create(group=group, payload=event)
        return
    transaction.on_commit(lambda: _group_send(group, event))


def _group_send(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": MESSAGE_TYPE, "event": event})
    except Exception:
        # A lost realtime event costs a refresh, never the change itself.
        logger.exception("realtime send to %s failed", group)


async def group_send_now(group: str, event: dict[str, Any], *, sender: str = "") -> None:
    """From a consumer (async, in the web process): send at once, no transaction to wait for.
    `sender` (a channel name) is not echoed its own event."""
    layer = get_channel_layer()
    if layer is None:
        return
    await layer.group_send(group, {"type": MESSAGE_TYPE, "event": event, "sender": sender})


# --- the relay of notices (embedded mode, web process) ---------------------------------------
def _notice_start_id() -> int:
    """Where a starting relay begins: after the notices older than STARTUP_WINDOW (the pages
    that were open then reload on reconnect), so one written as the relay starts is sent."""
    from huike.inbox.models import RealtimeNotice

    last = (
        RealtimeNotice.objects.filter(created_at__lt=timezone.now() - STARTUP_WINDOW)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    return last or 0


def _notices_after(after_id: int) -> list[tuple[int, str, dict[str, Any]]]:
    from huike.inbox.models import RealtimeNotice

    # "Greater than the last id relayed" is safe because embedded mode is SQLite, whose
    # single writer commits rows in id order: no row with a smaller id can appear later.
    # (On PostgreSQL, where it would not hold, run with Redis and there are no notices.)
    rows = RealtimeNotice.objects.filter(pk__gt=after_id).order_by("pk")[:RELAY_BATCH]
    return [(row.pk, row.group, row.payload) for row in rows]


def notices_purge(*, now: dt.datetime | None = None) -> int:
    from huike.inbox.models import RealtimeNotice

    cutoff = (now or timezone.now()) - NOTICE_RETENTION
    deleted, _by_model = RealtimeNotice.objects.filter(created_at__lt=cutoff).delete()
    return deleted


async def notices_relay(after_id: int) -> int:
    """Send the notices written after `after_id` to their groups; the last id relayed."""
    rows = await db_sync_to_async(_notices_after)(after_id)
    layer = get_channel_layer()
    for notice_id, group, payload in rows:
        if layer is not None:
            await layer.group_send(group, {"type": MESSAGE_TYPE, "event": payload})
        after_id = notice_id
    return after_id


async def _relay_loop() -> None:
    last = await db_sync_to_async(_notice_start_id)()
    loop = asyncio.get_running_loop()
    purged_at = loop.time()
    while True:
        try:
            last = await notices_relay(last)
            if loop.time() - purged_at >= PURGE_EVERY:
                purged_at = loop.time()
                await db_sync_to_async(notices_purge)()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("realtime relay failed; retrying")
        await asyncio.sleep(RELAY_INTERVAL)


def relay_ensure() -> None:
    """Start the relay in this event loop unless it runs (embedded mode, web process only).
    Called from a consumer's connect, so the relay lives as long as the server's loop."""
    global _relay_task
    if not (_web_process and layer_is_embedded()):
        return
    loop = asyncio.get_running_loop()
    if _relay_task is not None and not _relay_task.done() and _relay_task.get_loop() is loop:
        return
    _relay_task = loop.create_task(_relay_loop(), name="huike-realtime-relay")


# --- outbox subscribers (ids to public ids) --------------------------------------------------
def on_message_created(event: OutboxEvent) -> None:
    from huike.inbox.models import Message

    found = (
        Message.objects.filter(pk=int(event.payload["message_id"]), workspace_id=event.workspace_id)
        .values_list("public_id", "conversation__public_id", "direction")
        .first()
    )
    if found is None:
        return
    message_id, conversation_id, direction = found
    realtime_send(
        event.workspace_id,
        {
            "type": "message.created",
            "conversation_id": str(conversation_id),
            "message_id": str(message_id),
            "direction": direction,
        },
    )


def on_conversation_changed(event: OutboxEvent) -> None:
    from huike.inbox.models import Conversation

    public_id = (
        Conversation.objects.filter(
            pk=int(event.payload["conversation_id"]), workspace_id=event.workspace_id
        )
        .values_list("public_id", flat=True)
        .first()
    )
    if public_id is None:
        return
    realtime_send(
        event.workspace_id,
        {
            "type": "conversation.changed",
            "conversation_id": str(public_id),
            "change": str(event.payload.get("change", "")),
        },
    )


def on_delivery_updated(event: OutboxEvent) -> None:
    from huike.inbox.models import Message

    ids = [pk for pk in event.payload.get("delivery_ids", []) if isinstance(pk, int)]
    rows = Message.objects.filter(
        workspace_id=event.workspace_id, outbound_delivery_id__in=ids
    ).values_list("public_id", "conversation__public_id")
    for message_id, conversation_id in rows:
        realtime_send(
            event.workspace_id,
            {
                "type": "delivery.updated",
                "conversation_id": str(conversation_id),
                "message_id": str(message_id),
                "status": str(event.payload.get("status", "")),
            },
        )


def subscribers_register() -> None:
    """Called from InboxConfig.ready()."""
    from huike.core.outbox import register_subscriber

    register_subscriber("inbox.message.created", "inbox.realtime_message", on_message_created)
    register_subscriber(
        "inbox.conversation.changed", "inbox.realtime_conversation", on_conversation_changed
    )
    register_subscriber("channel.delivery.updated", "inbox.realtime_delivery", on_delivery_updated)
