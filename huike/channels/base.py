"""The contract between the channel framework and each provider (one folder per platform under
huike/channels/providers/).

A provider is protocol only: it checks a webhook's signature, says how to acknowledge it and
how to split it into deliveries with their deduplication keys, turns a stored delivery into
typed inbound items (messages, events, delivery receipts), and sends one outbound message
through the platform's API. It never touches the database: the framework (intake.py,
processing.py, sending.py) stores, resolves customers, records events and retries.

Errors a provider raises:
- SignatureError from `verify`/`handshake`: the request is refused (401/403) and nothing of it
  is stored;
- huike.core.tasks.RetryableError from `send`/`test_connection`: a timeout, a 5xx, a rate limit
  (the framework retries with backoff);
- huike.core.tasks.PermanentError from `send`: the platform refused this message for good (the
  agent sees `str(error)`); SendRefused from `check_send`: a platform rule forbids the send
  before it is attempted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from django.utils.functional import Promise


class SignatureError(Exception):
    """A webhook that is not from the platform: wrong signature, token, timestamp or app id.

    `status` is what the endpoint answers (401 when no credentials match, 403 when they are
    present but wrong); the message is logged, never shown to the caller.
    """

    def __init__(self, message: str, *, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


class SendRefused(Exception):
    """A send the platform's rules forbid (the 48-hour window, a monthly limit, an opted-out
    number). The message is shown to the agent: translate it."""


# --- configuration ------------------------------------------------------------------------
@dataclass(frozen=True)
class ConfigField:
    """One setting of a channel account, as the connect form and the API take it.

    Secret fields are stored encrypted and never shown again (the API returns them masked).
    """

    name: str
    label: Promise | str
    secret: bool = False
    required: bool = True
    help_text: Promise | str = ""
    default: str = ""
    # "text", "password", "url", "email", "number", "textarea", "bool"
    widget: str = "text"


@dataclass(frozen=True)
class ChannelContext:
    """What a provider knows of the channel account it works for."""

    channel_id: int
    public_id: str
    workspace_id: int
    kind: str
    name: str
    # Settings and decrypted secrets together, by ConfigField.name; api_base_url included.
    config: Mapping[str, str]
    # The absolute URL the platform calls (shown on the settings page).
    webhook_url: str = ""

    def get(self, name: str, default: str = "") -> str:
        value = self.config.get(name)
        return value if value not in (None, "") else default


# --- webhooks ------------------------------------------------------------------------------
@dataclass(frozen=True)
class WebhookRequest:
    method: str
    # Query parameters, last value wins (platforms never repeat one).
    query: Mapping[str, str]
    # Header names lower-cased.
    headers: Mapping[str, str]
    body: bytes
    received_at: dt.datetime
    # Exactly as sent (Twilio signs the URL it called, in its own encoding and order).
    query_string: str = ""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass(frozen=True)
class WebhookResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class IncomingDelivery:
    """One unit the platform delivers, as stored in the inbound log before it is processed.

    `dedupe_key` is the platform's message id (WeChat MsgId, `FromUserName:CreateTime` for
    events, Meta message ids, Douyin Msg-Id…): a second delivery with the same key on the
    same channel is dropped. `body` is what `parse` will read later (for safe-mode WeChat the
    decrypted XML, so processing needs no second decryption).
    """

    dedupe_key: str
    body: bytes
    content_type: str = "application/octet-stream"
    # Extra request facts `parse` needs (e.g. the query's openid, a header); kept as JSON.
    meta: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredDelivery:
    """A delivery from the inbound log, handed to `parse`."""

    id: int
    dedupe_key: str
    body: bytes
    content_type: str
    meta: Mapping[str, str]
    received_at: dt.datetime


# --- inbound items ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Sender:
    """Who a message or event is from, as identity keys (see huike.customers.rules).

    `identity_kind` is the kind of the address replies go to (`wechat_openid:<appid>`,
    `wecom_external_userid:<corpid>`, `whatsapp_id`, `email`, `phone`, `web_visitor_id`…);
    `other_identities` are further keys the platform revealed (a unionid, a phone).
    `typed_identities` are keys the person typed that the platform did not check (the website
    chat's contact form): resolution gives them to the customer the other keys name while nobody
    else holds them, and never lets them choose or merge a customer.
    """

    identity_kind: str
    identity_value: str
    name: str = ""
    locale: str = ""
    other_identities: tuple[tuple[str, str], ...] = ()
    typed_identities: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Attachment:
    kind: Literal["image", "file", "voice", "video"]
    # Either a URL the platform serves it from or the platform's media id.
    url: str = ""
    media_id: str = ""
    name: str = ""
    mime_type: str = ""
    size: int | None = None


ContentType = Literal["text", "image", "file", "voice", "video", "location", "link", "other"]


@dataclass(frozen=True)
class InboundMessage:
    sender: Sender
    # The platform's id of the message (unique per channel); processing skips a repeat.
    external_id: str
    sent_at: dt.datetime
    content_type: ContentType = "text"
    text: str = ""
    # Sanitized HTML (email) shown instead of text when present.
    html: str = ""
    subject: str = ""
    attachments: tuple[Attachment, ...] = ()
    # location: {"latitude", "longitude", "label"}; link: {"url", "title", "description"};
    # email: {"message_id", "in_reply_to", "references"}; anything else worth keeping.
    properties: Mapping[str, Any] = field(default_factory=dict)
    # Messages with the same thread key from the same sender share a conversation (an email
    # thread's root Message-ID); empty: one conversation per sender on the channel.
    thread_key: str = ""


@dataclass(frozen=True)
class InboundEvent:
    """Something the person did that is not a message: followed, unfollowed, scanned a code,
    was added by staff, opted out.

    `kind` is a timeline event kind (EVENT_* below); `properties` carry the attribution
    (`scene` for a WeChat `qrscene_…`, `state` for WeCom's State) and the rest.
    """

    sender: Sender
    kind: str
    external_id: str
    occurred_at: dt.datetime
    properties: Mapping[str, Any] = field(default_factory=dict)
    # The platform's staff id (WeCom UserID) the event concerns: the customer's owner when
    # that staff member is linked to a Huike member.
    staff_external_id: str = ""
    # WeCom's single-use WelcomeCode (valid 20 s): processing sends the welcome template.
    welcome_code: str = ""


@dataclass(frozen=True)
class DeliveryReceipt:
    """The platform's report on a message we sent, found by the id `send` returned."""

    provider_message_id: str
    status: Literal["sent", "delivered", "read", "failed"]
    at: dt.datetime
    error: str = ""


InboundItem = InboundMessage | InboundEvent | DeliveryReceipt

# Timeline event kinds a provider's InboundEvent may carry (labels in huike.channels.events).
EVENT_FOLLOWED = "channel.followed"
EVENT_UNFOLLOWED = "channel.unfollowed"
EVENT_SCANNED = "channel.scanned"
EVENT_CONTACT_ADDED = "channel.contact_added"
EVENT_CONTACT_UPDATED = "channel.contact_updated"
EVENT_CONTACT_REMOVED = "channel.contact_removed"
EVENT_OPTED_OUT = "channel.opted_out"
EVENT_OPTED_IN = "channel.opted_in"
EVENT_OTHER = "channel.event"


# --- outbound ------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutboundMessage:
    """One message to send. `to` is the recipient's address on this channel (the value of
    the conversation's identity: an openid, a phone in E.164, an email address)."""

    to: str
    text: str = ""
    html: str = ""
    subject: str = ""
    attachments: tuple[Attachment, ...] = ()
    # A platform template (WhatsApp template name, SMS template code) and its parameters.
    template: str = ""
    template_params: Mapping[str, str] = field(default_factory=dict)
    # Our id of the send (the delivery's public id): idempotency keys, client message ids.
    reference: str = ""
    # email: {"in_reply_to", "references"}; wecom: {"welcome_code", "sender"}; …
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendContext:
    """What platform rules need to know about the conversation a send belongs to."""

    now: dt.datetime
    # When the recipient last wrote to us on this channel (WeChat's 48-hour window).
    last_inbound_at: dt.datetime | None = None
    # Sends of this kind to this recipient in the current calendar month / today.
    sent_this_month: int = 0
    sent_today: int = 0
    # True for a marketing / mass send, False for a reply in a conversation.
    is_bulk: bool = False
    opted_out: bool = False


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str = ""
    # "sent" unless the platform confirms delivery synchronously ("delivered").
    status: Literal["sent", "delivered"] = "sent"


@dataclass(frozen=True)
class PollResult:
    """What one poll of a platform we read from (IMAP) found: new deliveries and the cursor to
    continue from next time (stored on the channel only after the deliveries are)."""

    deliveries: list[IncomingDelivery]
    cursor: str


@dataclass(frozen=True)
class ConnectionTest:
    ok: bool
    # Shown on the settings page: translate it.
    message: str = ""


class Provider:
    """Base class: subclass, set the class attributes, override what the platform has.

    Register with huike.channels.registry.register_provider in the app's ready().
    """

    kind: ClassVar[str]
    label: ClassVar[Promise | str]
    # One line for the kind picker: what the channel brings in and what can be sent back.
    description: ClassVar[Promise | str] = ""
    config_fields: ClassVar[tuple[ConfigField, ...]] = ()
    default_api_base_url: ClassVar[str] = ""
    # Whether the platform calls us (a webhook URL is shown) and/or we poll it (IMAP; the
    # framework calls `poll` from a periodic job).
    receives_webhooks: ClassVar[bool] = True
    polls: ClassVar[bool] = False
    # What a reply may carry on this platform.
    supports_attachments: ClassVar[bool] = False
    # Sending needs no remote call (the website chat pushes to the visitor's socket): the
    # process that queued a message sends it once its transaction commits, and the send task
    # is only the fallback when that attempt fails.
    sends_in_process: ClassVar[bool] = False

    def handshake(self, channel: ChannelContext, request: WebhookRequest) -> WebhookResponse | None:
        """The platform's URL verification (WeChat's `echostr`, Meta's `hub.challenge`,
        Douyin's `verify_webhook`); None when `request` is not one. Raise SignatureError
        when it is one that fails."""
        return None

    def verify(self, channel: ChannelContext, request: WebhookRequest) -> None:
        """Raise SignatureError unless `request` carries a valid signature (on the raw body,
        compared in constant time, inside the timestamp window where the platform signs one)."""
        raise NotImplementedError

    def deliveries(
        self, channel: ChannelContext, request: WebhookRequest
    ) -> list[IncomingDelivery]:
        """Split a verified request into deliveries with their deduplication keys. Raise
        ValueError for a body that cannot be read (answered 400, nothing stored)."""
        raise NotImplementedError

    def acknowledge(
        self, channel: ChannelContext, request: WebhookRequest, stored: int
    ) -> WebhookResponse:
        """What to answer once the deliveries are stored (`stored` of them were new)."""
        return WebhookResponse(200, b"success")

    def parse(self, channel: ChannelContext, delivery: StoredDelivery) -> list[InboundItem]:
        """Typed items of one stored delivery; [] for what Huike does not use. Raise ValueError
        for a body that cannot be understood (the delivery is marked failed with the reason)."""
        raise NotImplementedError

    def check_send(
        self, channel: ChannelContext, message: OutboundMessage, context: SendContext
    ) -> None:
        """Raise SendRefused when the platform's rules forbid this send now."""
        if context.opted_out:
            from django.utils.translation import gettext as _

            raise SendRefused(_("The recipient has opted out of messages on this channel."))

    def send(self, channel: ChannelContext, message: OutboundMessage) -> SendResult:
        raise NotImplementedError

    def poll(self, channel: ChannelContext, cursor: str) -> PollResult:
        """Fetch what arrived since `cursor` ("" the first time), at most a batch; raise
        RetryableError when the platform cannot be reached."""
        raise NotImplementedError

    def test_connection(self, channel: ChannelContext) -> ConnectionTest:
        """Call the platform with the channel's credentials (fetch an access token, log in)."""
        raise NotImplementedError

    def validate_config(self, config: Mapping[str, str]) -> dict[str, str]:
        """Errors by field name for a configuration the platform cannot accept (a 43-character
        EncodingAESKey, a token of 3-32 characters); {} when it is fine. Required fields are
        checked by the framework."""
        return {}
