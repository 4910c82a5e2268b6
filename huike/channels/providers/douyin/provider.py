"""Douyin open platform (抖音开放平台) webhooks: the `verify_webhook` challenge, the
`X-Douyin-Signature` sha1 of client secret + raw body, private messages (`im_receive_msg`)
and the user-entered-the-chat event (`im_enter_direct_msg`).

Replies are not sent from Huike: Douyin's send API (/im/send/msg/) takes the `access-token`
of the business account's own OAuth grant (web QR authorization, valid 15 days, refreshed
with a refresh token), which a channel configured with client key and secret does not hold.
"""

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huike.channels.base import (
    EVENT_OTHER,
    ChannelContext,
    ConfigField,
    ConnectionTest,
    ContentType,
    InboundEvent,
    InboundItem,
    InboundMessage,
    IncomingDelivery,
    OutboundMessage,
    Provider,
    SendContext,
    Sender,
    SendRefused,
    SendResult,
    SignatureError,
    StoredDelivery,
    WebhookRequest,
    WebhookResponse,
)
from huike.channels.http import api_base_url, http_request, json_body
from huike.core.tasks import PermanentError, RetryableError

DEFAULT_API_BASE_URL = "https://open.douyin.com"
SIGNATURE_HEADER = "X-Douyin-Signature"
MESSAGE_ID_HEADER = "Msg-Id"
VERIFY_EVENT = "verify_webhook"
CONTENT_TYPES: dict[str, ContentType] = {
    "text": "text",
    "image": "image",
    "user_local_image": "image",
    "video": "video",
    "user_local_video": "video",
    "emoji": "other",
}
# What the chat-entry event says about where the person came from (an ad, a video).
ENTRY_PROPERTIES = ("scene_type", "objectId", "data-im-extra", "query", "path")
AD_PROPERTIES = ("adv_id", "ad_id", "ad_name", "creative_id", "promotion_id")


def sign(client_secret: str, body: bytes) -> str:
    return hashlib.sha1(client_secret.encode() + body).hexdigest()  # noqa: S324


def identity_kind(channel: ChannelContext) -> str:
    """Open ids are per application: the same person has another one in every app."""
    return f"douyin_openid:{channel.get('client_key')}"


class DouyinProvider(Provider):
    kind = "douyin"
    label = gettext_lazy("Douyin")
    description = gettext_lazy(
        "Private messages to your Douyin business account (receiving; replies are sent in Douyin)."
    )
    default_api_base_url = DEFAULT_API_BASE_URL
    config_fields = (
        ConfigField("client_key", gettext_lazy("Client key")),
        ConfigField("client_secret", gettext_lazy("Client secret"), secret=True, widget="password"),
        ConfigField(
            "api_base_url",
            gettext_lazy("API base URL"),
            required=False,
            default=DEFAULT_API_BASE_URL,
            widget="url",
        ),
    )

    def handshake(self, channel: ChannelContext, request: WebhookRequest) -> WebhookResponse | None:
        """Douyin checks the URL with a signed POST `{"event": "verify_webhook", "content":
        {"challenge": N}}` and expects `{"challenge": N}` back as JSON."""
        if request.method != "POST":
            return None
        try:
            payload = json.loads(request.body)
        except ValueError:
            return None
        if not isinstance(payload, dict) or payload.get("event") != VERIFY_EVENT:
            return None
        self.verify(channel, request)
        content = _content(payload)
        body = json.dumps({"challenge": content.get("challenge")}).encode()
        return WebhookResponse(200, body, "application/json")

    def verify(self, channel: ChannelContext, request: WebhookRequest) -> None:
        signature = request.header(SIGNATURE_HEADER)
        if not signature:
            raise SignatureError(f"{SIGNATURE_HEADER} is missing", status=401)
        expected = sign(channel.get("client_secret"), request.body)
        if not hmac.compare_digest(signature.strip().lower().encode(), expected.encode()):
            raise SignatureError(f"{SIGNATURE_HEADER} does not match the body", status=403)

    def deliveries(
        self, channel: ChannelContext, request: WebhookRequest
    ) -> list[IncomingDelivery]:
        payload = _load(request.body)
        if payload.get("event") not in EVENT_PARSERS:
            return []
        # The same Msg-Id is sent again for a retried push of the same message.
        key = request.header(MESSAGE_ID_HEADER) or str(payload.get("log_id") or "")
        if not key:
            raise ValueError("a Douyin push without Msg-Id or log_id")
        return [IncomingDelivery(key, request.body, "application/json")]

    def parse(self, channel: ChannelContext, delivery: StoredDelivery) -> list[InboundItem]:
        payload = _load(delivery.body)
        parser = EVENT_PARSERS.get(str(payload.get("event")))
        if parser is None:
            return []
        return parser(channel, payload)

    def check_send(
        self, channel: ChannelContext, message: OutboundMessage, context: SendContext
    ) -> None:
        super().check_send(channel, message, context)
        raise SendRefused(
            _(
                "Huike cannot reply on Douyin yet: replies need the business account's own "
                "Douyin authorization. Answer in the Douyin app or workbench."
            )
        )

    def send(self, channel: ChannelContext, message: OutboundMessage) -> SendResult:
        raise PermanentError(
            _("Huike cannot reply on Douyin yet. Answer in the Douyin app or workbench.")
        )

    def test_connection(self, channel: ChannelContext) -> ConnectionTest:
        """Fetch a client token: proves the client key and secret are a pair Douyin knows."""
        url = f"{api_base_url(channel, DEFAULT_API_BASE_URL)}/oauth/client_token/"
        try:
            response = http_request(
                "POST",
                url,
                json={
                    "client_key": channel.get("client_key"),
                    "client_secret": channel.get("client_secret"),
                    "grant_type": "client_credential",
                },
            )
            data = json_body(response)
        except (PermanentError, RetryableError) as error:
            return ConnectionTest(
                False, _("Douyin could not be reached: %(error)s") % {"error": error}
            )
        result = data.get("data") or {}
        if result.get("error_code", 0) != 0 or not result.get("access_token"):
            reason = result.get("description") or data.get("message") or ""
            return ConnectionTest(
                False, _("Douyin refused the credentials: %(reason)s") % {"reason": reason}
            )
        return ConnectionTest(True, _("Douyin accepted the client key and secret."))


def _load(body: bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as error:
        raise ValueError("the body is not JSON") from error
    if not isinstance(data, dict):
        raise ValueError("the body is not a JSON object")
    return data


def _content(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """`content` is an object in some pushes and a JSON string in others."""
    content = payload.get("content") or {}
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError as error:
            raise ValueError("content is not JSON") from error
    if not isinstance(content, dict):
        raise ValueError("content is not a JSON object")
    return content


def _sender(
    channel: ChannelContext, payload: Mapping[str, Any], content: Mapping[str, Any]
) -> Sender:
    open_id = str(payload.get("from_user_id") or "")
    if not open_id:
        raise ValueError("a Douyin push without from_user_id")
    name = ""
    for info in content.get("user_infos") or []:
        if info.get("open_id") == open_id:
            name = str(info.get("nick_name") or "")
    return Sender(identity_kind=identity_kind(channel), identity_value=open_id, name=name)


def _at(content: Mapping[str, Any]) -> dt.datetime:
    # create_time is a 13-digit millisecond timestamp.
    return dt.datetime.fromtimestamp(int(content["create_time"]) / 1000, tz=dt.UTC)


def _received_message(channel: ChannelContext, payload: Mapping[str, Any]) -> list[InboundItem]:
    content = _content(payload)
    message_type = str(content.get("message_type") or "other")
    properties: dict[str, Any] = {
        "conversation_id": content.get("conversation_short_id"),
        "message_type": message_type,
    }
    for key in ("item_id", "resource_url"):
        if content.get(key):
            properties[key] = content[key]
    return [
        InboundMessage(
            sender=_sender(channel, payload, content),
            external_id=str(content["server_message_id"]),
            sent_at=_at(content),
            content_type=CONTENT_TYPES.get(message_type, "other"),
            text=str(content.get("text") or ""),
            properties=properties,
        )
    ]


def _entered_chat(channel: ChannelContext, payload: Mapping[str, Any]) -> list[InboundItem]:
    content = _content(payload)
    properties: dict[str, Any] = {
        "event": payload["event"],
        "conversation_id": content.get("conversation_short_id"),
    }
    properties |= {key: content[key] for key in ENTRY_PROPERTIES if content.get(key)}
    ad_info = content.get("ad_info")
    if isinstance(ad_info, str) and ad_info:
        ad_info = json.loads(ad_info)
    if isinstance(ad_info, dict):
        properties |= {key: ad_info[key] for key in AD_PROPERTIES if ad_info.get(key)}
    return [
        InboundEvent(
            sender=_sender(channel, payload, content),
            kind=EVENT_OTHER,
            external_id=str(content.get("server_message_id") or payload.get("log_id") or ""),
            occurred_at=_at(content),
            properties=properties,
        )
    ]


EVENT_PARSERS: dict[str, Callable[[ChannelContext, Mapping[str, Any]], list[InboundItem]]] = {
    "im_receive_msg": _received_message,
    "im_enter_direct_msg": _entered_chat,
}
