"""The database side of the website chat, for its consumer and views (the provider itself is
protocol only): the channel of a public key, a visitor's history, storing and processing a
visitor's frame at once, whether an agent is online, and the pictures visitors upload.
"""

import datetime as dt
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from huike.channels.base import ChannelContext, IncomingDelivery
from huike.channels.config import channel_context
from huike.channels.intake import deliveries_store
from huike.channels.models import Channel
from huike.channels.processing import delivery_process
from huike.channels.providers.webchat.frames import dedupe_key
from huike.channels.tasks import process_delivery
from huike.core.crypto import workspace_keys
from huike.core.tasks import enqueue_on_commit
from huike.customers.identities import identities_find, identity_key
from huike.customers.imports.storage import private_path, private_write
from huike.inbox.models import (
    AgentPresence,
    AgentState,
    Conversation,
    Message,
    MessageDirection,
)
from huike.inbox.services import inbox_settings

logger = logging.getLogger("huike.inbox.webchat")

KIND = "webchat"
HISTORY_LENGTH = 50
# Frames (messages, pictures, contact details) one visitor may send per window.
RATE_LIMIT = 20
RATE_WINDOW_SECONDS = 10
UPLOAD_RATE_LIMIT = 10
UPLOAD_WINDOW_SECONDS = 60
FILE_TOKEN = re.compile(r"[0-9a-f]{32}")
# Magic bytes of the pictures we take; anything else is refused whatever it claims to be.
IMAGE_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
)


@dataclass(frozen=True)
class Webchat:
    channel: Channel
    context: ChannelContext


def webchat_for_key(public_key: str) -> Webchat | None:
    if not re.fullmatch(r"[A-Za-z0-9_\-]{8,32}", public_key or ""):
        return None
    channel = (
        Channel.objects.filter(public_key=public_key, kind=KIND, is_active=True)
        .select_related("workspace")
        .first()
    )
    if channel is None:
        return None
    return Webchat(channel, channel_context(channel))


def agents_online(workspace_id: int) -> bool:
    """Someone is online in the inbox (presence online, seen within the inbox's timeout)."""
    timeout = inbox_settings(workspace_id).online_timeout_seconds
    return AgentState.objects.filter(
        workspace_id=workspace_id,
        presence=AgentPresence.ONLINE,
        last_seen_at__gte=timezone.now() - dt.timedelta(seconds=timeout),
    ).exists()


def rate_allowed(scope: str, visitor_id: str, *, limit: int, window: int) -> bool:
    """Fixed windows in the shared cache: at most `limit` per `window` seconds."""
    key = f"webchat:{scope}:{visitor_id}:{int(time.time() // window)}"
    cache.add(key, 0, timeout=window * 2)
    try:
        count = cache.incr(key)
    except ValueError:
        # Expired between add and incr: this is the first of a new window.
        cache.set(key, 1, timeout=window * 2)
        count = 1
    return count <= limit


# --- history -----------------------------------------------------------------------------------
def _message_json(message: Message) -> dict[str, Any]:
    return {
        "id": str(message.public_id),
        "from": "visitor" if message.direction == MessageDirection.INBOUND else "agent",
        "text": message.text,
        "attachments": [
            {key: item.get(key) for key in ("kind", "url", "name", "mime_type", "size")}
            for item in message.attachments
            if isinstance(item, dict)
        ],
        "at": message.created_at.isoformat(),
    }


def visitor_conversation(channel: Channel, visitor_id: str) -> Conversation | None:
    """The visitor's latest conversation on the channel, by their web_visitor_id identity."""
    key = identity_key("web_visitor_id", visitor_id)
    identity = identities_find(keys=workspace_keys(channel.workspace_id), identity_keys=[key]).get(
        key.slot
    )
    if identity is None:
        return None
    return (
        Conversation.objects.filter(
            workspace_id=channel.workspace_id, channel=channel, identity=identity
        )
        .order_by("-last_message_at")
        .first()
    )


def visitor_history(channel: Channel, visitor_id: str) -> tuple[str, list[dict[str, Any]]]:
    """(conversation public id or "", the visitor's messages and the agents' replies, oldest
    first); internal notes and system lines are not the visitor's to see."""
    conversation = visitor_conversation(channel, visitor_id)
    if conversation is None:
        return "", []
    messages = list(
        Message.objects.filter(
            workspace_id=channel.workspace_id,
            conversation=conversation,
            direction__in=(MessageDirection.INBOUND, MessageDirection.OUTBOUND),
        ).order_by("-created_at", "-pk")[:HISTORY_LENGTH]
    )
    return str(conversation.public_id), [_message_json(message) for message in reversed(messages)]


# --- a visitor's frame -------------------------------------------------------------------------
@dataclass(frozen=True)
class Stored:
    """What became of one frame: new (and then its message, if the inbox made one), or a
    repeat of a frame already stored."""

    is_new: bool
    conversation_id: str = ""
    message_id: str = ""
    at: str = ""


def frame_receive(channel: Channel, frame: dict[str, Any]) -> Stored:
    """Store the frame in the inbound log and process it now, in this process: the agent sees
    it without waiting for the worker (which finds it processed and skips it)."""
    incoming = IncomingDelivery(
        dedupe_key=dedupe_key(frame["visitor_id"], frame["client_id"]),
        body=json.dumps(frame, ensure_ascii=False).encode(),
        content_type="application/json",
    )
    # One transaction for storing and processing: on SQLite every BEGIN IMMEDIATE queues for
    # the single write lock, so one per frame halves the waiting under load.
    with transaction.atomic():
        new_ids = deliveries_store(channel, [incoming], enqueue=False)
        if not new_ids:
            return Stored(is_new=False)
        try:
            with transaction.atomic():
                delivery_process(new_ids[0])
        except Exception:
            # Stored but not processed: a worker tries again (and the sweep after it); the
            # visitor's message is not lost with this attempt.
            logger.exception("webchat frame %s not processed at once", new_ids[0])
            enqueue_on_commit(process_delivery, new_ids[0])
            return Stored(is_new=True)
        message = (
            Message.objects.filter(
                workspace_id=channel.workspace_id, inbound_delivery_id=new_ids[0]
            )
            .select_related("conversation")
            .first()
        )
    if message is None:
        return Stored(is_new=True)
    return Stored(
        is_new=True,
        conversation_id=str(message.conversation.public_id),
        message_id=str(message.public_id),
        at=message.created_at.isoformat(),
    )


# --- pictures ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Upload:
    token: str
    mime_type: str
    name: str
    size: int


def image_type(head: bytes) -> tuple[str, str] | None:
    """(MIME type, extension) of a PNG, JPEG, GIF or WebP by its first bytes; None otherwise."""
    for signature, mime_type, extension in IMAGE_SIGNATURES:
        if head.startswith(signature):
            return mime_type, extension
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def _folder(channel: Channel) -> str:
    return f"webchat/{channel.public_id.hex}"


def upload_store(
    channel: Channel, visitor_id: str, *, data: bytes, name: str, mime_type: str
) -> Upload:
    token = secrets.token_hex(16)
    folder = _folder(channel)
    private_write(f"{folder}/{token}.bin", [data])
    meta = {"visitor_id": visitor_id, "mime_type": mime_type, "name": name, "size": len(data)}
    private_write(f"{folder}/{token}.json", [json.dumps(meta).encode()])
    return Upload(token=token, mime_type=mime_type, name=name, size=len(data))


def upload_find(channel: Channel, token: str) -> tuple[Path, dict[str, Any]] | None:
    if not FILE_TOKEN.fullmatch(token or ""):
        return None
    folder = _folder(channel)
    meta_path = private_path(f"{folder}/{token}.json")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return None
    return private_path(f"{folder}/{token}.bin"), meta
