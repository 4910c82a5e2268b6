"""Facebook Messenger (Meta Send API): one delivery per `messaging` item of a page webhook,
messages from a page-scoped id (PSID), delivery receipts, replies within the standard
messaging window or with a message tag."""

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any, Literal

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huike.channels.base import (
    Attachment,
    ChannelContext,
    ConfigField,
    ConnectionTest,
    ContentType,
    DeliveryReceipt,
    InboundItem,
    InboundMessage,
    IncomingDelivery,
    OutboundMessage,
    Provider,
    SendContext,
    Sender,
    SendRefused,
    SendResult,
    StoredDelivery,
    WebhookRequest,
    WebhookResponse,
)
from huike.channels.providers.meta import graph
from huike.core.tasks import PermanentError, RetryableError

# The standard messaging window: a page may answer freely for 24 hours after the person's
# last message; later only with a message tag.
STANDARD_WINDOW = dt.timedelta(hours=24)
# HUMAN_AGENT lets a person (not automation) answer for 7 days after the last message.
HUMAN_AGENT_WINDOW = dt.timedelta(days=7)
HUMAN_AGENT = "HUMAN_AGENT"
# Tags Meta still accepts for messages outside the window.
MESSAGE_TAGS = frozenset(
    {HUMAN_AGENT, "ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE"}
)
# Graph rate-limit codes (application 4, user 17, page 32, API-specific 613); the rest is
# permanent.
RETRYABLE_CODES = frozenset({4, 17, 32, 613})
AttachmentKind = Literal["image", "file", "voice", "video"]
ATTACHMENT_KINDS: dict[str, tuple[ContentType, AttachmentKind]] = {
    "image": ("image", "image"),
    "video": ("video", "video"),
    "audio": ("voice", "voice"),
    "file": ("file", "file"),
}


def identity_kind(channel: ChannelContext) -> str:
    """PSIDs are page-scoped: the same person has another id on every page."""
    return f"facebook_psid:{channel.get('page_id')}"


class MessengerProvider(Provider):
    kind = "messenger"
    label = gettext_lazy("Facebook Messenger")
    description = gettext_lazy(
        "Messages to your Facebook page, answered within Messenger's 24-hour window."
    )
    default_api_base_url = graph.DEFAULT_API_BASE_URL
    config_fields = (
        ConfigField("page_id", gettext_lazy("Page ID")),
        ConfigField(
            "page_access_token",
            gettext_lazy("Page access token"),
            secret=True,
            widget="password",
            help_text=gettext_lazy("A page token with pages_messaging."),
        ),
        ConfigField("app_secret", gettext_lazy("App secret"), secret=True, widget="password"),
        ConfigField(
            "verify_token",
            gettext_lazy("Verify token"),
            secret=True,
            widget="password",
            help_text=gettext_lazy("Any string; enter the same one in the webhook settings."),
        ),
        ConfigField(
            "api_base_url",
            gettext_lazy("API base URL"),
            required=False,
            default=graph.DEFAULT_API_BASE_URL,
            widget="url",
        ),
        ConfigField(
            "api_version",
            gettext_lazy("Graph API version"),
            required=False,
            default=graph.DEFAULT_API_VERSION,
        ),
    )

    def handshake(self, channel: ChannelContext, request: WebhookRequest) -> WebhookResponse | None:
        return graph.handshake(channel, request)

    def verify(self, channel: ChannelContext, request: WebhookRequest) -> None:
        graph.verify(channel, request)

    def deliveries(
        self, channel: ChannelContext, request: WebhookRequest
    ) -> list[IncomingDelivery]:
        payload = _load(request.body)
        if payload.get("object") != "page":
            return []
        page_id = channel.get("page_id")
        found: list[IncomingDelivery] = []
        for entry in payload.get("entry") or []:
            if str(entry.get("id", "")) != page_id:
                continue
            for item in entry.get("messaging") or []:
                key = _dedupe_key(item)
                if key:
                    body = json.dumps(item, ensure_ascii=False, sort_keys=True).encode()
                    found.append(IncomingDelivery(key, body, "application/json"))
        return found

    def acknowledge(
        self, channel: ChannelContext, request: WebhookRequest, stored: int
    ) -> WebhookResponse:
        return WebhookResponse(200, b"EVENT_RECEIVED")

    def parse(self, channel: ChannelContext, delivery: StoredDelivery) -> list[InboundItem]:
        item = _load(delivery.body)
        psid = str((item.get("sender") or {}).get("id") or "")
        if not psid:
            raise ValueError("a messaging item without a sender")
        at = dt.datetime.fromtimestamp(int(item["timestamp"]) / 1000, tz=dt.UTC)
        if "delivery" in item:
            return [
                DeliveryReceipt(provider_message_id=str(mid), status="delivered", at=at)
                for mid in item["delivery"].get("mids") or []
            ]
        sender = Sender(identity_kind=identity_kind(channel), identity_value=psid)
        if "postback" in item:
            postback = item["postback"]
            return [
                InboundMessage(
                    sender=sender,
                    external_id=delivery.dedupe_key,
                    sent_at=at,
                    text=str(postback.get("title") or ""),
                    properties={"payload": postback.get("payload")},
                )
            ]
        return _message(sender, item["message"], at)

    def check_send(
        self, channel: ChannelContext, message: OutboundMessage, context: SendContext
    ) -> None:
        super().check_send(channel, message, context)
        last = context.last_inbound_at
        since = None if last is None else context.now - last
        if since is not None and since <= STANDARD_WINDOW:
            return
        tag = str(message.properties.get("tag") or "")
        if not tag:
            raise SendRefused(
                _(
                    "Messenger allows replies only within 24 hours of the person's last "
                    "message. Outside that window choose a message tag such as HUMAN_AGENT."
                )
            )
        if tag not in MESSAGE_TAGS:
            raise SendRefused(_("%(tag)s is not a Messenger message tag.") % {"tag": tag})
        if tag == HUMAN_AGENT and (since is None or since > HUMAN_AGENT_WINDOW):
            raise SendRefused(
                _("The HUMAN_AGENT tag allows replies only within 7 days of the last message.")
            )

    def send(self, channel: ChannelContext, message: OutboundMessage) -> SendResult:
        if not message.text:
            raise PermanentError(_("A Messenger message needs text."))
        body: dict[str, Any] = {
            "recipient": {"id": message.to},
            "messaging_type": "RESPONSE",
            "message": {"text": message.text},
        }
        tag = message.properties.get("tag")
        if tag:
            body |= {"messaging_type": "MESSAGE_TAG", "tag": str(tag)}
        data = graph.graph_call(
            "POST",
            graph.graph_url(channel, "me/messages"),
            token=channel.get("page_access_token"),
            retryable_codes=RETRYABLE_CODES,
            json=body,
        )
        message_id = data.get("message_id")
        if not message_id:
            raise PermanentError("Messenger accepted the message but returned no message id")
        return SendResult(provider_message_id=str(message_id))

    def test_connection(self, channel: ChannelContext) -> ConnectionTest:
        try:
            data = graph.graph_call(
                "GET",
                graph.graph_url(channel, channel.get("page_id")),
                token=channel.get("page_access_token"),
                retryable_codes=RETRYABLE_CODES,
                params={"fields": "id,name"},
            )
        except (PermanentError, RetryableError) as error:
            return ConnectionTest(False, _("Messenger refused: %(error)s") % {"error": error})
        return ConnectionTest(
            True, _("Connected to the page %(name)s.") % {"name": data.get("name") or ""}
        )


def _load(body: bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as error:
        raise ValueError("the body is not JSON") from error
    if not isinstance(data, dict):
        raise ValueError("the body is not a JSON object")
    return data


def _dedupe_key(item: Mapping[str, Any]) -> str:
    """The message id for messages; the sender and watermark for a delivery receipt. Echoes
    of our own sends and read receipts are not stored: a read receipt carries only a
    watermark (everything before it was read), which cannot be tied to message ids without
    state the provider does not keep."""
    sender = (item.get("sender") or {}).get("id")
    message = item.get("message")
    if isinstance(message, dict):
        if message.get("is_echo") or not message.get("mid"):
            return ""
        return str(message["mid"])
    postback = item.get("postback")
    if isinstance(postback, dict):
        return str(postback.get("mid") or f"postback:{sender}:{item.get('timestamp')}")
    delivery = item.get("delivery")
    if isinstance(delivery, dict) and delivery.get("mids"):
        return f"delivery:{sender}:{delivery.get('watermark')}"
    return ""


def _message(sender: Sender, message: Mapping[str, Any], at: dt.datetime) -> list[InboundItem]:
    text = str(message.get("text") or "")
    attachments: list[Attachment] = []
    content_type: ContentType = "text"
    properties: dict[str, Any] = {}
    for attachment in message.get("attachments") or []:
        kinds = ATTACHMENT_KINDS.get(str(attachment.get("type")))
        payload = attachment.get("payload") or {}
        if kinds is None or not payload.get("url"):
            continue
        content_type, attachment_kind = kinds
        attachments.append(Attachment(kind=attachment_kind, url=str(payload["url"])))
    if text:
        content_type = "text"
    if message.get("quick_reply"):
        properties["payload"] = message["quick_reply"].get("payload")
    if (message.get("reply_to") or {}).get("mid"):
        properties["reply_to"] = message["reply_to"]["mid"]
    if not text and not attachments:
        return []
    return [
        InboundMessage(
            sender=sender,
            external_id=str(message["mid"]),
            sent_at=at,
            content_type=content_type,
            text=text,
            attachments=tuple(attachments),
            properties=properties,
        )
    ]
