"""WhatsApp Cloud API (Meta): one delivery per message and per status update of a webhook,
typed messages and delivery receipts, text and template sends within WhatsApp's rules."""

import datetime as dt
import json
from collections.abc import Callable, Mapping
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

# The customer service window: free-form messages only within 24 hours of the customer's
# last message; after that only approved templates may open the conversation again.
SERVICE_WINDOW = dt.timedelta(hours=24)
DEFAULT_TEMPLATE_LANGUAGE = "zh_CN"
# Graph error codes that are rate limits (app 4, WABA 80007, throughput 130429, spam rate
# limit 131048, pair rate limit 131056): waiting helps, so the send is retried.
RETRYABLE_CODES = frozenset({4, 80007, 130429, 131048, 131056})
RECEIPT_STATUSES = frozenset({"sent", "delivered", "read", "failed"})
AttachmentKind = Literal["image", "file", "voice", "video"]
MEDIA_KINDS: dict[str, tuple[ContentType, AttachmentKind]] = {
    "image": ("image", "image"),
    "document": ("file", "file"),
    "audio": ("voice", "voice"),
    "video": ("video", "video"),
    "sticker": ("image", "image"),
}


class WhatsAppProvider(Provider):
    kind = "whatsapp"
    label = gettext_lazy("WhatsApp (Cloud API)")
    description = gettext_lazy(
        "A WhatsApp Business number: chats within 24 hours, approved templates outside them."
    )
    default_api_base_url = graph.DEFAULT_API_BASE_URL
    config_fields = (
        ConfigField(
            "phone_number_id",
            gettext_lazy("Phone number ID"),
            help_text=gettext_lazy("From WhatsApp > API Setup in the Meta app dashboard."),
        ),
        ConfigField(
            "access_token",
            gettext_lazy("Access token"),
            secret=True,
            widget="password",
            help_text=gettext_lazy(
                "A permanent system user token with whatsapp_business_messaging."
            ),
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
        phone_number_id = channel.get("phone_number_id")
        found: list[IncomingDelivery] = []
        for entry in payload.get("entry") or []:
            for change in entry.get("changes") or []:
                value = change.get("value") or {}
                metadata = value.get("metadata") or {}
                # One app can serve several numbers: another number's traffic is not ours.
                if str(metadata.get("phone_number_id", "")) != phone_number_id:
                    continue
                contacts = {
                    str(contact.get("wa_id")): contact for contact in value.get("contacts") or []
                }
                for message in value.get("messages") or []:
                    item = {
                        "kind": "message",
                        "message": message,
                        "contact": contacts.get(str(message.get("from")), {}),
                    }
                    found.append(_delivery(str(message["id"]), item))
                for status in value.get("statuses") or []:
                    if status.get("status") not in RECEIPT_STATUSES:
                        continue
                    key = f"status:{status['id']}:{status['status']}"
                    found.append(_delivery(key, {"kind": "status", "status": status}))
        return found

    def acknowledge(
        self, channel: ChannelContext, request: WebhookRequest, stored: int
    ) -> WebhookResponse:
        return WebhookResponse(200, b"EVENT_RECEIVED")

    def parse(self, channel: ChannelContext, delivery: StoredDelivery) -> list[InboundItem]:
        item = _load(delivery.body)
        if item.get("kind") == "status":
            return _receipt(item["status"])
        if item.get("kind") == "message":
            return _message(item["message"], item.get("contact") or {})
        raise ValueError("not a WhatsApp delivery")

    def check_send(
        self, channel: ChannelContext, message: OutboundMessage, context: SendContext
    ) -> None:
        super().check_send(channel, message, context)
        if message.template:
            return
        last = context.last_inbound_at
        if last is None or context.now - last > SERVICE_WINDOW:
            raise SendRefused(
                _(
                    "WhatsApp allows free-form messages only within 24 hours of the "
                    "customer's last message. Send an approved template instead."
                )
            )

    def send(self, channel: ChannelContext, message: OutboundMessage) -> SendResult:
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.to.lstrip("+"),
        }
        if message.template:
            language = str(message.properties.get("language") or DEFAULT_TEMPLATE_LANGUAGE)
            template: dict[str, Any] = {"name": message.template, "language": {"code": language}}
            if message.template_params:
                template["components"] = [
                    {"type": "body", "parameters": _template_parameters(message.template_params)}
                ]
            body |= {"type": "template", "template": template}
        elif message.text:
            body |= {"type": "text", "text": {"body": message.text, "preview_url": False}}
        else:
            raise PermanentError(_("A WhatsApp message needs text or a template."))
        url = graph.graph_url(channel, f"{channel.get('phone_number_id')}/messages")
        data = graph.graph_call(
            "POST",
            url,
            token=channel.get("access_token"),
            retryable_codes=RETRYABLE_CODES,
            json=body,
        )
        messages = data.get("messages") or []
        if not messages or not messages[0].get("id"):
            raise PermanentError("WhatsApp accepted the message but returned no message id")
        return SendResult(provider_message_id=str(messages[0]["id"]))

    def test_connection(self, channel: ChannelContext) -> ConnectionTest:
        url = graph.graph_url(channel, channel.get("phone_number_id"))
        try:
            data = graph.graph_call(
                "GET", url, token=channel.get("access_token"), retryable_codes=RETRYABLE_CODES
            )
        except (PermanentError, RetryableError) as error:
            return ConnectionTest(False, _("WhatsApp refused: %(error)s") % {"error": error})
        number = data.get("display_phone_number") or data.get("id") or ""
        name = data.get("verified_name") or ""
        return ConnectionTest(
            True,
            _("Connected to %(number)s %(name)s.") % {"number": number, "name": name},
        )


def _load(body: bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as error:
        raise ValueError("the body is not JSON") from error
    if not isinstance(data, dict):
        raise ValueError("the body is not a JSON object")
    return data


def _delivery(key: str, item: Mapping[str, Any]) -> IncomingDelivery:
    body = json.dumps(item, ensure_ascii=False, sort_keys=True).encode()
    return IncomingDelivery(dedupe_key=key, body=body, content_type="application/json")


def _at(timestamp: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)


def _message(message: Mapping[str, Any], contact: Mapping[str, Any]) -> list[InboundItem]:
    wa_id = str(contact.get("wa_id") or message["from"])
    sender = Sender(
        identity_kind="whatsapp_id",
        identity_value=wa_id,
        name=str((contact.get("profile") or {}).get("name") or ""),
        other_identities=(("phone", f"+{wa_id}"),),
    )
    kind = str(message.get("type"))
    parser = MESSAGE_PARSERS.get(kind)
    if parser is None:
        # Reactions, contacts cards, orders, system notices: nothing Huike shows yet.
        return []
    content_type, text, attachments, properties = parser(message)
    context = message.get("context") or {}
    if context.get("id"):
        properties = {**properties, "reply_to": context["id"]}
    return [
        InboundMessage(
            sender=sender,
            external_id=str(message["id"]),
            sent_at=_at(message["timestamp"]),
            content_type=content_type,
            text=text,
            attachments=attachments,
            properties=properties,
        )
    ]


Parsed = tuple[ContentType, str, tuple[Attachment, ...], Mapping[str, Any]]


def _text(message: Mapping[str, Any]) -> Parsed:
    return "text", str((message.get("text") or {}).get("body") or ""), (), {}


def _media(message: Mapping[str, Any]) -> Parsed:
    kind = str(message["type"])
    media = message.get(kind) or {}
    content_type, attachment_kind = MEDIA_KINDS[kind]
    attachment = Attachment(
        kind=attachment_kind,
        media_id=str(media.get("id") or ""),
        name=str(media.get("filename") or ""),
        mime_type=str(media.get("mime_type") or ""),
    )
    return content_type, str(media.get("caption") or ""), (attachment,), {}


def _location(message: Mapping[str, Any]) -> Parsed:
    location = message.get("location") or {}
    label = " ".join(str(location[key]) for key in ("name", "address") if location.get(key))
    properties = {
        "latitude": location.get("latitude"),
        "longitude": location.get("longitude"),
        "label": label,
    }
    return "location", label, (), properties


def _interactive(message: Mapping[str, Any]) -> Parsed:
    interactive = message.get("interactive") or {}
    reply = interactive.get(str(interactive.get("type"))) or {}
    return "text", str(reply.get("title") or ""), (), {"reply_id": reply.get("id")}


def _button(message: Mapping[str, Any]) -> Parsed:
    button = message.get("button") or {}
    return "text", str(button.get("text") or ""), (), {"payload": button.get("payload")}


MESSAGE_PARSERS: dict[str, Callable[[Mapping[str, Any]], Parsed]] = {
    "text": _text,
    "image": _media,
    "document": _media,
    "audio": _media,
    "video": _media,
    "sticker": _media,
    "location": _location,
    "interactive": _interactive,
    "button": _button,
}


def _receipt(status: Mapping[str, Any]) -> list[InboundItem]:
    error = ""
    if status["status"] == "failed":
        errors = status.get("errors") or [{}]
        first = errors[0]
        detail = (first.get("error_data") or {}).get("details") or first.get("message") or ""
        error = f"{first.get('code', '')} {first.get('title', '')}".strip()
        if detail and detail != first.get("title"):
            error = f"{error}: {detail}"
    return [
        DeliveryReceipt(
            provider_message_id=str(status["id"]),
            status=status["status"],
            at=_at(status["timestamp"]),
            error=error,
        )
    ]


def _template_parameters(params: Mapping[str, str]) -> list[dict[str, str]]:
    """Positional templates take {{1}}, {{2}}… in order; named ones take `parameter_name`."""
    if all(key.isdigit() for key in params):
        return [{"type": "text", "text": params[key]} for key in sorted(params, key=int)]
    return [{"type": "text", "parameter_name": key, "text": value} for key, value in params.items()]
