"""WeChat Official Account (公众号): callbacks in plain or safe (AES) mode, customer-service
messages within WeChat's 48-hour window, template-send receipts."""

import datetime as dt
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
    DeliveryReceipt,
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
    StoredDelivery,
    WebhookRequest,
    WebhookResponse,
)
from huike.channels.http import api_base_url
from huike.channels.providers.wechat.client import PlatformApi
from huike.channels.providers.wechat.crypto import check_signed_query, open_envelope
from huike.channels.providers.wechat.fields import (
    api_base_url_field,
    callback_config_errors,
    encoding_aes_key_field,
    token_field,
)
from huike.channels.providers.wechat.payload import created_at, parse_xml
from huike.core.tasks import PermanentError

DEFAULT_API_BASE_URL = "https://api.weixin.qq.com"
# WeChat accepts customer-service messages to a follower only this long after the
# follower's last message or interaction (errcode 45015 after that).
CUSTOMER_SERVICE_WINDOW = dt.timedelta(hours=48)
# errcodes: 40001 invalid credential / token, 40014 invalid token, 42001 token expired.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
# -1 system busy, 45009 daily API quota reached, 45011 API called too often.
RETRYABLE_ERRCODES = frozenset({-1, 45009, 45011})
# A follower's parametric QR code arrives on subscribe as `qrscene_<scene>`.
QR_SCENE_PREFIX = "qrscene_"

Fields = Mapping[str, str]


class WeChatOfficialAccountProvider(Provider):
    kind = "wechat_oa"
    label = gettext_lazy("WeChat Official Account")
    description = gettext_lazy(
        "Followers' messages and follow/scan events; customer-service replies within 48 hours."
    )
    default_api_base_url = DEFAULT_API_BASE_URL
    supports_attachments = True
    config_fields = (
        ConfigField("app_id", gettext_lazy("AppID")),
        ConfigField("app_secret", gettext_lazy("AppSecret"), secret=True, widget="password"),
        token_field(),
        encoding_aes_key_field(required=False),
        api_base_url_field(DEFAULT_API_BASE_URL),
    )

    # --- webhooks ---------------------------------------------------------------------------
    def handshake(self, channel: ChannelContext, request: WebhookRequest) -> WebhookResponse | None:
        if request.method != "GET" or "echostr" not in request.query:
            return None
        check_signed_query(
            request.query,
            token=channel.get("token"),
            received_at=request.received_at,
            signature_param="signature",
        )
        return WebhookResponse(200, request.query["echostr"].encode())

    def verify(self, channel: ChannelContext, request: WebhookRequest) -> None:
        self._plaintext(channel, request)

    def deliveries(
        self, channel: ChannelContext, request: WebhookRequest
    ) -> list[IncomingDelivery]:
        body = self._plaintext(channel, request)
        fields = parse_xml(body)
        return [IncomingDelivery(_dedupe_key(fields), body, "application/xml")]

    def _plaintext(self, channel: ChannelContext, request: WebhookRequest) -> bytes:
        """The callback's XML: the body itself in plain mode, decrypted in safe mode."""
        token = channel.get("token")
        if request.query.get("encrypt_type", "").lower() == "aes":
            return open_envelope(
                request,
                token=token,
                encoding_aes_key=channel.get("encoding_aes_key"),
                receive_id=channel.get("app_id"),
            )
        # Plain mode (or compatibility mode without encrypt_type): signed by the same Token,
        # so accepting it even when a key is configured grants a forger nothing.
        check_signed_query(
            request.query,
            token=token,
            received_at=request.received_at,
            signature_param="signature",
        )
        return request.body

    def parse(self, channel: ChannelContext, delivery: StoredDelivery) -> list[InboundItem]:
        fields = parse_xml(delivery.body)
        msg_type = fields.get("MsgType", "")
        at = created_at(fields)
        if msg_type == "event":
            event = fields.get("Event", "").lower()
            if event == "templatesendjobfinish":
                return [_template_receipt(fields, at)]
            event_handler = EVENT_HANDLERS.get(event)
            if event_handler is None:
                return []
            kind, properties = event_handler(fields)
            return [
                InboundEvent(
                    sender=_sender(channel, fields),
                    kind=kind,
                    external_id=delivery.dedupe_key,
                    occurred_at=at,
                    properties=properties,
                )
            ]
        message_handler = MESSAGE_HANDLERS.get(msg_type)
        if message_handler is None:
            return []
        return [
            InboundMessage(
                sender=_sender(channel, fields),
                external_id=delivery.dedupe_key,
                sent_at=at,
                **message_handler(fields),
            )
        ]

    # --- sending ----------------------------------------------------------------------------
    def check_send(
        self, channel: ChannelContext, message: OutboundMessage, context: SendContext
    ) -> None:
        super().check_send(channel, message, context)
        last = context.last_inbound_at
        if last is None or context.now - last > CUSTOMER_SERVICE_WINDOW:
            raise SendRefused(
                _(
                    "WeChat only lets an Official Account reply within 48 hours of the "
                    "follower's last message. Wait until the follower writes again."
                )
            )

    def send(self, channel: ChannelContext, message: OutboundMessage) -> SendResult:
        # Every part is built before the first request, so an unsendable attachment
        # refuses the whole message rather than half of it.
        parts = [_attachment_part(attachment) for attachment in message.attachments]
        if message.text:
            parts.append({"msgtype": "text", "text": {"content": message.text}})
        if not parts:
            raise PermanentError(_("The message has nothing WeChat can send."))
        api = _api(channel)
        message_id = ""
        for part in parts:
            data = api.post("/cgi-bin/message/custom/send", {"touser": message.to, **part})
            message_id = str(data.get("msgid") or message_id)
        return SendResult(provider_message_id=message_id)

    def test_connection(self, channel: ChannelContext) -> ConnectionTest:
        try:
            _api(channel).refresh_token()
        except PermanentError as error:
            return ConnectionTest(
                False,
                _("WeChat did not accept the AppID and AppSecret: %(error)s") % {"error": error},
            )
        return ConnectionTest(True, _("Connected: WeChat issued an access token."))

    def validate_config(self, config: Mapping[str, str]) -> dict[str, str]:
        return callback_config_errors(config, id_field="app_id")


def _api(channel: ChannelContext) -> PlatformApi:
    app_id = channel.get("app_id")
    return PlatformApi(
        platform="WeChat",
        base_url=api_base_url(channel, DEFAULT_API_BASE_URL),
        token_path="/cgi-bin/token",
        token_params={
            "grant_type": "client_credential",
            "appid": app_id,
            "secret": channel.get("app_secret"),
        },
        cache_key=f"huike.channels.wechat.token:wechat_oa:{app_id}",
        token_errcodes=TOKEN_ERRCODES,
        retryable_errcodes=RETRYABLE_ERRCODES,
    )


def _attachment_part(attachment: Attachment) -> dict[str, Any]:
    # Customer-service messages carry media WeChat already holds (uploaded, with a media_id).
    if attachment.kind in ("image", "voice") and attachment.media_id:
        return {"msgtype": attachment.kind, attachment.kind: {"media_id": attachment.media_id}}
    raise PermanentError(
        _("WeChat can only send images and voice messages uploaded to WeChat (with a media id).")
    )


def _dedupe_key(fields: Fields) -> str:
    """MsgId for messages; events have none, so sender, time and event name."""
    sender = fields.get("FromUserName", "")
    created = fields.get("CreateTime", "")
    if fields.get("MsgType") == "event":
        return f"{sender}:{created}:{fields.get('Event', '')}"
    return fields.get("MsgId") or f"{sender}:{created}:{fields.get('MsgType', '')}"


def _sender(channel: ChannelContext, fields: Fields) -> Sender:
    openid = fields.get("FromUserName", "")
    if not openid:
        raise ValueError("FromUserName is missing")
    return Sender(f"wechat_openid:{channel.get('app_id')}", openid)


# --- messages: MsgType → InboundMessage fields -----------------------------------------------
def _text(fields: Fields) -> dict[str, Any]:
    return {"content_type": "text", "text": fields.get("Content", "")}


def _image(fields: Fields) -> dict[str, Any]:
    attachment = Attachment(
        "image", url=fields.get("PicUrl", ""), media_id=fields.get("MediaId", "")
    )
    return {"content_type": "image", "attachments": (attachment,)}


def _voice(fields: Fields) -> dict[str, Any]:
    # Recognition is WeChat's speech-to-text, present when the account enabled it.
    return {
        "content_type": "voice",
        "text": fields.get("Recognition", ""),
        "attachments": (Attachment("voice", media_id=fields.get("MediaId", "")),),
        "properties": {"format": fields.get("Format", "")},
    }


def _video(fields: Fields) -> dict[str, Any]:
    return {
        "content_type": "video",
        "attachments": (Attachment("video", media_id=fields.get("MediaId", "")),),
        "properties": {
            "thumb_media_id": fields.get("ThumbMediaId", ""),
            "short": fields.get("MsgType") == "shortvideo",
        },
    }


def _location(fields: Fields) -> dict[str, Any]:
    label = fields.get("Label", "")
    return {
        "content_type": "location",
        "text": label,
        "properties": {
            "latitude": float(fields.get("Location_X", "")),
            "longitude": float(fields.get("Location_Y", "")),
            "scale": int(fields.get("Scale") or 0),
            "label": label,
        },
    }


def _link(fields: Fields) -> dict[str, Any]:
    title = fields.get("Title", "")
    return {
        "content_type": "link",
        "text": title,
        "properties": {
            "url": fields.get("Url", ""),
            "title": title,
            "description": fields.get("Description", ""),
        },
    }


MESSAGE_HANDLERS: dict[str, Callable[[Fields], dict[str, Any]]] = {
    "text": _text,
    "image": _image,
    "voice": _voice,
    "video": _video,
    "shortvideo": _video,
    "location": _location,
    "link": _link,
}


# --- events: Event (lower-cased) → (timeline kind, properties) --------------------------------
def _subscribe(fields: Fields) -> tuple[str, dict[str, Any]]:
    key = fields.get("EventKey", "")
    if key.startswith(QR_SCENE_PREFIX):
        scene = key.removeprefix(QR_SCENE_PREFIX)
        return EVENT_FOLLOWED, {"scene": scene, "ticket": fields.get("Ticket", "")}
    return EVENT_FOLLOWED, {}


def _unsubscribe(fields: Fields) -> tuple[str, dict[str, Any]]:
    return EVENT_UNFOLLOWED, {}


def _scan(fields: Fields) -> tuple[str, dict[str, Any]]:
    return EVENT_SCANNED, {"scene": fields.get("EventKey", ""), "ticket": fields.get("Ticket", "")}


def _location_report(fields: Fields) -> tuple[str, dict[str, Any]]:
    return EVENT_OTHER, {
        "event": "LOCATION",
        "latitude": float(fields.get("Latitude", "")),
        "longitude": float(fields.get("Longitude", "")),
        "precision": float(fields.get("Precision") or 0),
    }


def _menu(fields: Fields) -> tuple[str, dict[str, Any]]:
    properties = {"event": fields.get("Event", "").upper(), "event_key": fields.get("EventKey", "")}
    if fields.get("MenuId"):
        properties["menu_id"] = fields["MenuId"]
    return EVENT_OTHER, properties


EVENT_HANDLERS: dict[str, Callable[[Fields], tuple[str, dict[str, Any]]]] = {
    "subscribe": _subscribe,
    "unsubscribe": _unsubscribe,
    "scan": _scan,
    "location": _location_report,
    "click": _menu,
    "view": _menu,
}


def _template_receipt(fields: Fields, at: dt.datetime) -> DeliveryReceipt:
    # Status is "success", "failed:user block" or "failed: system failed".
    status = fields.get("Status", "")
    if status == "success":
        return DeliveryReceipt(fields.get("MsgID", ""), "delivered", at)
    return DeliveryReceipt(fields.get("MsgID", ""), "failed", at, error=status)
