"""The visitors' websocket (/ws/webchat/<public key>/?visitor=<id>&lang=<lang>): no sign-in.

The visitor id is 128 random bits the widget keeps in localStorage; a missing or malformed
one is replaced by a new one (sent back in the "welcome" frame). Frames from the widget:
{"type": "message", "client_id", "text"}, {"type": "image", "client_id", "token"} (a picture
uploaded first), {"type": "contact", "client_id", "email"?, "phone"?, "name"?} and
{"type": "typing"}. Each stored frame is processed in this process before it is acknowledged,
and the agents hear of it directly, so a visitor's message reaches the inbox without the
worker's delay.
"""

import secrets
import time
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from huike.channels.providers.webchat.frames import CLIENT_ID, MAX_NAME, MAX_TEXT, VISITOR_ID
from huike.channels.providers.webchat.provider import origin_allowed
from huike.core.asyncdb import KeptConnectionConsumer, db_sync_to_async
from huike.inbox import realtime
from huike.inbox.webchat import service

CLOSE_REFUSED = 4403
TYPING_INTERVAL = 2.0


def _language(value: str) -> str:
    codes = [code for code, _name in settings.LANGUAGES]
    value = (value or "").lower()
    if value in codes:
        return value
    if value.startswith("zh"):
        return "zh-hans"
    return "en" if value.startswith("en") else settings.LANGUAGE_CODE


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


class VisitorConsumer(KeptConnectionConsumer):
    webchat: service.Webchat | None = None
    group = ""

    async def connect(self) -> None:
        public_key = str(self.scope["url_route"]["kwargs"].get("public_key", ""))
        webchat = await db_sync_to_async(service.webchat_for_key)(public_key)
        if webchat is None or not origin_allowed(webchat.context, _header(self.scope, b"origin")):
            await self.close(code=CLOSE_REFUSED)
            return
        query = parse_qs(bytes(self.scope.get("query_string", b"")).decode("latin-1"))
        visitor = (query.get("visitor") or [""])[0]
        if not VISITOR_ID.fullmatch(visitor):
            visitor = secrets.token_hex(16)
        self.webchat = webchat
        self.visitor = visitor
        self.language = _language((query.get("lang") or [""])[0])
        self.typed_at = -TYPING_INTERVAL
        self.group = realtime.visitor_group(webchat.channel.public_id, visitor)
        await self.channel_layer.group_add(self.group, self.channel_name)
        realtime.relay_ensure()
        await self.accept()
        self.conversation_id, history = await db_sync_to_async(service.visitor_history)(
            webchat.channel, visitor
        )
        await self.send_json({"type": "welcome", "visitor_id": visitor})
        await self.send_json({"type": "history", "messages": history})

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def _error(self, code: str, message: str, client_id: str = "") -> None:
        await self.send_json(
            {"type": "error", "code": code, "message": message, "client_id": client_id}
        )

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if self.webchat is None or not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "typing":
            await self._typing()
            return
        if kind not in ("message", "image", "contact"):
            return
        with translation.override(self.language):
            client_id = str(content.get("client_id", ""))
            if not CLIENT_ID.fullmatch(client_id):
                await self._error("invalid", _("This message cannot be sent."))
                return
            frame, problem = await db_sync_to_async(self._frame)(kind, client_id, content)
            if frame is None:
                await self._error(problem[0], problem[1], client_id)
                return
            stored = await db_sync_to_async(service.frame_receive)(self.webchat.channel, frame)
        if stored.message_id:
            self.conversation_id = stored.conversation_id
            await realtime.group_send_now(
                realtime.workspace_group(self.webchat.channel.workspace_id),
                {
                    "type": "message.created",
                    "conversation_id": stored.conversation_id,
                    "message_id": stored.message_id,
                    "direction": "in",
                },
            )
        reply: dict[str, Any] = {
            "type": "ack",
            "client_id": client_id,
            "duplicate": not stored.is_new,
        }
        if stored.message_id:
            reply.update({"id": stored.message_id, "at": stored.at})
        if kind == "image":
            reply["attachments"] = [{"kind": "image", "url": frame["url"]}]
        await self.send_json(reply)

    def _frame(
        self, kind: str, client_id: str, content: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, tuple[str, str]]:
        """The frame to store (the visitor id set here, never the widget's), or the error."""
        assert self.webchat is not None
        if not service.rate_allowed(
            f"frames:{self.webchat.channel.pk}",
            self.visitor,
            limit=service.RATE_LIMIT,
            window=service.RATE_WINDOW_SECONDS,
        ):
            return None, (
                "rate_limited",
                _("You are sending messages too fast. Please wait a few seconds."),
            )
        frame: dict[str, Any] = {
            "type": kind,
            "visitor_id": self.visitor,
            "client_id": client_id,
            "lang": self.language,
        }
        if kind == "message":
            text = content.get("text")
            if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
                return None, (
                    "invalid",
                    _("Write a message of at most %(count)d characters.") % {"count": MAX_TEXT},
                )
            frame["text"] = text.strip()
        elif kind == "image":
            found = service.upload_find(self.webchat.channel, str(content.get("token", "")))
            if found is None or found[1].get("visitor_id") != self.visitor:
                return None, ("invalid", _("This picture cannot be sent."))
            meta = found[1]
            frame.update(
                {
                    "url": reverse(
                        "webchat:file",
                        kwargs={
                            "public_key": self.webchat.channel.public_key,
                            "token": content["token"],
                        },
                    ),
                    "name": str(meta.get("name", ""))[:200],
                    "mime_type": meta.get("mime_type", ""),
                    "size": meta.get("size"),
                }
            )
        else:
            for name, limit in (("email", 200), ("phone", 40), ("name", MAX_NAME)):
                value = content.get(name)
                if isinstance(value, str) and value.strip():
                    frame[name] = value.strip()[:limit]
            problem = self._contact_problem(frame)
            if problem:
                return None, ("invalid", problem)
        return frame, ("", "")

    @staticmethod
    def _contact_problem(frame: dict[str, Any]) -> str:
        from huike.core.errors import InvalidInputError
        from huike.customers.identities import identity_key

        if not frame.get("email") and not frame.get("phone"):
            return _("Leave an email address or a phone number.")
        for kind in ("email", "phone"):
            if frame.get(kind):
                try:
                    identity_key(kind, frame[kind])
                except InvalidInputError:
                    return (
                        _("Enter a valid email address.")
                        if kind == "email"
                        else _("Enter a valid phone number.")
                    )
        return ""

    async def _typing(self) -> None:
        assert self.webchat is not None
        now = time.monotonic()
        if not self.conversation_id or now - self.typed_at < TYPING_INTERVAL:
            return
        self.typed_at = now
        await realtime.group_send_now(
            realtime.workspace_group(self.webchat.channel.workspace_id),
            {"type": "typing", "conversation_id": self.conversation_id, "by": "visitor"},
        )

    async def realtime_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])
