"""Weibo fan service platform (微博粉丝服务平台): the `echostr` handshake and push signature
(sha1 of app secret, timestamp and nonce sorted, like WeChat with the app secret for the
token), JSON pushes of messages and events, and customer-service replies
(/2/messages/reply.json), allowed for 48 hours after the person last wrote or followed."""

import datetime as dt
import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huike.channels.base import (
    EVENT_FOLLOWED,
    EVENT_OTHER,
    EVENT_SCANNED,
    EVENT_UNFOLLOWED,
    Attachment,
    ChannelContext,
    ConfigField,
    ConnectionTest,
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

# The customer-service API is served from m.api.weibo.com, not api.weibo.com.
DEFAULT_API_BASE_URL = "https://m.api.weibo.com"
# Weibo signs pushes but their signature never expires; a push older than this is a replay.
TIMESTAMP_WINDOW_SECONDS = 300
# Weibo's timestamps are in milliseconds (1397022061823); anything above this is one.
MILLISECOND_TIMESTAMPS_FROM = 10**11
REPLY_WINDOW = dt.timedelta(hours=48)
# Weibo API error codes for request limits (per IP, per user, per user and API): waiting helps.
RETRYABLE_ERROR_CODES = frozenset({10022, 10023, 10024})
EVENT_KINDS = {
    "follow": EVENT_FOLLOWED,
    "unfollow": EVENT_UNFOLLOWED,
    "scan": EVENT_SCANNED,
    "scan_follow": EVENT_FOLLOWED,
}


def signature(app_secret: str, timestamp: str, nonce: str) -> str:
    joined = "".join(sorted((app_secret, timestamp, nonce)))
    return hashlib.sha1(joined.encode()).hexdigest()  # noqa: S324


class WeiboProvider(Provider):
    kind = "weibo"
    label = gettext_lazy("Weibo")
    description = gettext_lazy(
        "Private messages and follow events of your Weibo account; replies within 48 hours."
    )
    default_api_base_url = DEFAULT_API_BASE_URL
    config_fields = (
        ConfigField("app_key", gettext_lazy("App key")),
        ConfigField("app_secret", gettext_lazy("App secret"), secret=True, widget="password"),
        ConfigField(
            "access_token",
            gettext_lazy("Access token"),
            secret=True,
            widget="password",
            help_text=gettext_lazy(
                "Shown on the fan service platform under Advanced > Developer mode."
            ),
        ),
        ConfigField(
            "api_base_url",
            gettext_lazy("API base URL"),
            required=False,
            default=DEFAULT_API_BASE_URL,
            widget="url",
        ),
    )

    def handshake(self, channel: ChannelContext, request: WebhookRequest) -> WebhookResponse | None:
        if request.method != "GET" or "echostr" not in request.query:
            return None
        self.verify(channel, request)
        return WebhookResponse(200, request.query["echostr"].encode())

    def verify(self, channel: ChannelContext, request: WebhookRequest) -> None:
        given = request.query.get("signature", "")
        timestamp = request.query.get("timestamp", "")
        nonce = request.query.get("nonce", "")
        if not given or not timestamp:
            raise SignatureError("signature or timestamp is missing", status=401)
        expected = signature(channel.get("app_secret"), timestamp, nonce)
        if not hmac.compare_digest(given.lower().encode(), expected.encode()):
            raise SignatureError("signature does not match", status=403)
        try:
            seconds = int(timestamp)
        except ValueError as error:
            raise SignatureError("timestamp is not a number", status=403) from error
        if seconds > MILLISECOND_TIMESTAMPS_FROM:
            seconds //= 1000
        if abs(request.received_at.timestamp() - seconds) > TIMESTAMP_WINDOW_SECONDS:
            raise SignatureError("timestamp outside the window", status=403)

    def deliveries(
        self, channel: ChannelContext, request: WebhookRequest
    ) -> list[IncomingDelivery]:
        push = _load(request.body)
        # Weibo pushes carry no message id; it recommends sender + creation time for retries.
        key = str(push.get("id") or push.get("msg_id") or "")
        if not key:
            key = f"{push.get('sender_id')}:{push.get('created_at')}:{push.get('type')}"
        return [IncomingDelivery(key, request.body, "application/json")]

    def acknowledge(
        self, channel: ChannelContext, request: WebhookRequest, stored: int
    ) -> WebhookResponse:
        # An empty answer is "no passive reply"; anything else would be read as one.
        return WebhookResponse(200, b"")

    def parse(self, channel: ChannelContext, delivery: StoredDelivery) -> list[InboundItem]:
        push = _load(delivery.body)
        parser = PUSH_PARSERS.get(str(push.get("type")))
        if parser is None:
            return []
        sender = Sender(identity_kind="weibo_uid", identity_value=str(push["sender_id"]))
        try:
            at = dt.datetime.strptime(str(push["created_at"]), "%a %b %d %H:%M:%S %z %Y")
        except (KeyError, ValueError) as error:
            raise ValueError("created_at is missing or not a Weibo date") from error
        return parser(sender, delivery.dedupe_key, at, push)

    def check_send(
        self, channel: ChannelContext, message: OutboundMessage, context: SendContext
    ) -> None:
        super().check_send(channel, message, context)
        last = context.last_inbound_at
        if last is None or context.now - last > REPLY_WINDOW:
            raise SendRefused(
                _(
                    "Weibo allows replies only within 48 hours of the person's last message "
                    "or follow."
                )
            )
        if not message.text:
            raise SendRefused(_("Weibo replies can only be text."))

    def send(self, channel: ChannelContext, message: OutboundMessage) -> SendResult:
        url = f"{api_base_url(channel, DEFAULT_API_BASE_URL)}/2/messages/reply.json"
        response = http_request(
            "POST",
            url,
            params={"access_token": channel.get("access_token")},
            data={
                "receiver_id": message.to,
                "type": "text",
                "data": urllib.parse.quote(json.dumps({"text": message.text}, ensure_ascii=False)),
                "save_sender_box": "1",
            },
        )
        data = json_body(response)
        if data.get("error_code") in RETRYABLE_ERROR_CODES:
            raise RetryableError(f"Weibo rate limit {data['error_code']}: {data.get('error')}")
        if not response.is_success or data.get("error_code"):
            raise PermanentError(
                _("Weibo refused the reply: %(error)s (%(code)s)")
                % {
                    "error": data.get("error") or response.status_code,
                    "code": data.get("error_code"),
                }
            )
        return SendResult(provider_message_id=str(data.get("id") or data.get("idstr") or ""))

    def test_connection(self, channel: ChannelContext) -> ConnectionTest:
        """Read the account's custom menu: a call of the fan service API that changes nothing
        and fails with an error code when the access token is wrong."""
        url = f"{api_base_url(channel, DEFAULT_API_BASE_URL)}/2/messages/menu/show.json"
        try:
            response = http_request(
                "GET", url, params={"access_token": channel.get("access_token")}
            )
            data = json_body(response)
        except (PermanentError, RetryableError) as error:
            return ConnectionTest(
                False, _("Weibo could not be reached: %(error)s") % {"error": error}
            )
        if not response.is_success or data.get("error_code"):
            return ConnectionTest(
                False,
                _("Weibo refused the access token: %(error)s") % {"error": data.get("error")},
            )
        return ConnectionTest(True, _("Weibo accepted the access token."))


def _load(body: bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as error:
        raise ValueError("the body is not JSON") from error
    if not isinstance(data, dict) or not data.get("sender_id"):
        raise ValueError("not a Weibo push")
    return data


def _data(push: Mapping[str, Any]) -> Mapping[str, Any]:
    data = push.get("data") or {}
    return data if isinstance(data, dict) else {}


Parser = Callable[[Sender, str, dt.datetime, Mapping[str, Any]], list[InboundItem]]


def _text(sender: Sender, key: str, at: dt.datetime, push: Mapping[str, Any]) -> list[InboundItem]:
    return [InboundMessage(sender=sender, external_id=key, sent_at=at, text=str(push["text"]))]


def _image(sender: Sender, key: str, at: dt.datetime, push: Mapping[str, Any]) -> list[InboundItem]:
    # vfid is the image in the recipient's box: fetch it from the upload.weibo.com media API.
    media_id = str(_data(push).get("vfid") or "")
    return [
        InboundMessage(
            sender=sender,
            external_id=key,
            sent_at=at,
            content_type="image",
            attachments=(Attachment(kind="image", media_id=media_id),) if media_id else (),
            properties={"tovfid": _data(push).get("tovfid")},
        )
    ]


def _voice(sender: Sender, key: str, at: dt.datetime, push: Mapping[str, Any]) -> list[InboundItem]:
    media_id = str(_data(push).get("vfid") or "")
    return [
        InboundMessage(
            sender=sender,
            external_id=key,
            sent_at=at,
            content_type="voice",
            attachments=(Attachment(kind="voice", media_id=media_id),) if media_id else (),
        )
    ]


def _position(
    sender: Sender, key: str, at: dt.datetime, push: Mapping[str, Any]
) -> list[InboundItem]:
    data = _data(push)
    properties = {
        "latitude": data.get("latitude"),
        "longitude": data.get("longitude"),
        "label": str(push.get("text") or ""),
    }
    return [
        InboundMessage(
            sender=sender,
            external_id=key,
            sent_at=at,
            content_type="location",
            text=str(push.get("text") or ""),
            properties=properties,
        )
    ]


def _event(sender: Sender, key: str, at: dt.datetime, push: Mapping[str, Any]) -> list[InboundItem]:
    data = _data(push)
    subtype = str(data.get("subtype") or "")
    properties: dict[str, Any] = {"subtype": subtype}
    if data.get("key"):
        # A parametrised QR code's scene (and a menu click's key).
        properties["scene"] = data["key"]
    if data.get("ticket"):
        properties["ticket"] = data["ticket"]
    kind = EVENT_KINDS.get(subtype, EVENT_OTHER)
    return [
        InboundEvent(
            sender=sender, kind=kind, external_id=key, occurred_at=at, properties=properties
        )
    ]


PUSH_PARSERS: dict[str, Parser] = {
    "text": _text,
    "image": _image,
    "voice": _voice,
    "position": _position,
    "event": _event,
}
