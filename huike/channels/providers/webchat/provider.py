"""The website chat channel: visitors write from the widget over a websocket (the consumer
stores each frame and processes it at once); agents' replies are pushed back to the visitor's
open widget. Nothing calls us over HTTP, so there is no webhook."""

import json
from collections.abc import Callable, Mapping
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huike.channels import base
from huike.channels.providers.webchat.frames import (
    CLIENT_ID,
    FRAME_TYPES,
    MAX_TEXT,
    VISITOR_ID,
    dedupe_key,
)
from huike.core.tasks import PermanentError

DEFAULT_MAX_UPLOAD_MB = 5
MAX_UPLOAD_MB_LIMIT = 50


def allowed_origins(channel: base.ChannelContext) -> list[str]:
    """The configured origins ("https://shop.example.com"), lower-case; [] means any."""
    return [
        origin.strip().rstrip("/").lower()
        for origin in channel.get("allowed_origins").split(",")
        if origin.strip()
    ]


def origin_allowed(channel: base.ChannelContext, origin: str) -> bool:
    allowed = allowed_origins(channel)
    return not allowed or origin.strip().rstrip("/").lower() in allowed


def max_upload_mb(channel: base.ChannelContext) -> int:
    try:
        value = int(channel.get("max_upload_mb", str(DEFAULT_MAX_UPLOAD_MB)))
    except ValueError:
        return DEFAULT_MAX_UPLOAD_MB
    return min(max(value, 1), MAX_UPLOAD_MB_LIMIT)


def _frame(delivery: base.StoredDelivery) -> dict[str, Any]:
    try:
        frame = json.loads(delivery.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not a webchat frame: {error}") from None
    if not isinstance(frame, dict) or frame.get("type") not in FRAME_TYPES:
        raise ValueError("not a webchat frame")
    if not VISITOR_ID.fullmatch(str(frame.get("visitor_id", ""))):
        raise ValueError("webchat frame without a valid visitor id")
    if not CLIENT_ID.fullmatch(str(frame.get("client_id", ""))):
        raise ValueError("webchat frame without a valid client id")
    return frame


def _text(frame: Mapping[str, Any], name: str, limit: int) -> str:
    value = frame.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


# The inbox owns the websockets; it registers how a reply reaches a visitor (channels sit
# below the inbox and do not import it).
VisitorPush = Callable[[str, str, dict[str, Any]], None]
_visitor_push: VisitorPush | None = None


def register_visitor_push(push: VisitorPush) -> None:
    global _visitor_push
    _visitor_push = push


class WebchatProvider(base.Provider):
    kind = "webchat"
    label = gettext_lazy("Website chat")
    receives_webhooks = False
    supports_attachments = False
    # A reply is a push to the visitor's socket: no queue between the agent and the visitor.
    sends_in_process = True
    config_fields = (
        base.ConfigField(
            "welcome_text",
            gettext_lazy("Welcome text"),
            required=False,
            widget="textarea",
            help_text=gettext_lazy("Shown to visitors when they open the chat."),
        ),
        base.ConfigField(
            "allowed_origins",
            gettext_lazy("Allowed websites"),
            required=False,
            help_text=gettext_lazy(
                "Comma-separated origins such as https://shop.example.com; empty allows any."
            ),
        ),
        base.ConfigField(
            "max_upload_mb",
            gettext_lazy("Largest picture (MB)"),
            required=False,
            default=str(DEFAULT_MAX_UPLOAD_MB),
            widget="number",
        ),
        base.ConfigField(
            "api_base_url",
            gettext_lazy("API base URL"),
            required=False,
            widget="url",
            help_text=gettext_lazy("Not used by the website chat."),
        ),
    )

    def validate_config(self, config: Mapping[str, str]) -> dict[str, str]:
        errors: dict[str, str] = {}
        size = str(config.get("max_upload_mb") or "").strip()
        if size and (not size.isdigit() or not 1 <= int(size) <= MAX_UPLOAD_MB_LIMIT):
            errors["max_upload_mb"] = _("Enter a whole number from 1 to %(limit)d.") % {
                "limit": MAX_UPLOAD_MB_LIMIT
            }
        for origin in str(config.get("allowed_origins") or "").split(","):
            origin = origin.strip()
            if origin and not origin.startswith(("https://", "http://")):
                errors["allowed_origins"] = _(
                    "Each website starts with https:// or http://, like https://shop.example.com."
                )
        return errors

    def parse(
        self, channel: base.ChannelContext, delivery: base.StoredDelivery
    ) -> list[base.InboundItem]:
        frame = _frame(delivery)
        visitor = frame["visitor_id"]
        external_id = dedupe_key(visitor, frame["client_id"])
        locale = _text(frame, "lang", 16)
        if frame["type"] == "contact":
            # Whatever the visitor typed: only their visitor id is the server's.
            typed = tuple(
                (kind, value) for kind in ("email", "phone") if (value := _text(frame, kind, 200))
            )
            if not typed:
                raise ValueError("contact frame without an email or a phone")
            sender = base.Sender(
                "web_visitor_id",
                visitor,
                name=_text(frame, "name", 100),
                locale=locale,
                typed_identities=typed,
            )
            return [
                base.InboundEvent(
                    sender=sender,
                    kind=base.EVENT_OTHER,
                    external_id=external_id,
                    occurred_at=delivery.received_at,
                    properties={"action": "contact_left"},
                )
            ]
        sender = base.Sender("web_visitor_id", visitor, locale=locale)
        if frame["type"] == "image":
            size = frame.get("size")
            attachment = base.Attachment(
                kind="image",
                url=_text(frame, "url", 500),
                name=_text(frame, "name", 200),
                mime_type=_text(frame, "mime_type", 100),
                size=size if isinstance(size, int) else None,
            )
            if not attachment.url:
                raise ValueError("image frame without a url")
            return [
                base.InboundMessage(
                    sender=sender,
                    external_id=external_id,
                    sent_at=delivery.received_at,
                    content_type="image",
                    attachments=(attachment,),
                )
            ]
        text = _text(frame, "text", MAX_TEXT)
        if not text:
            raise ValueError("message frame without text")
        return [
            base.InboundMessage(
                sender=sender, external_id=external_id, sent_at=delivery.received_at, text=text
            )
        ]

    def send(self, channel: base.ChannelContext, message: base.OutboundMessage) -> base.SendResult:
        if not VISITOR_ID.fullmatch(message.to):
            raise PermanentError(_("This is not a website visitor's address."))
        if _visitor_push is None:
            raise PermanentError(_("Website chat replies need the realtime part, not installed."))
        at = timezone.now()
        _visitor_push(
            channel.public_id,
            message.to,
            {
                "type": "message",
                "id": message.reference,
                "text": message.text,
                "at": at.isoformat(),
            },
        )
        return base.SendResult(provider_message_id=message.reference, status="delivered")

    # check_send: the base class's rule (nothing but an opt-out forbids a reply) is the rule.

    def test_connection(self, channel: base.ChannelContext) -> base.ConnectionTest:
        return base.ConnectionTest(True, _("The website chat needs no connection test."))
