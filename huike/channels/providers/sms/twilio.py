"""Twilio Programmable Messaging: the Messages API, and the status callbacks and incoming
messages it POSTs (form-encoded, signed with X-Twilio-Signature).

Callback shape: a form with `MessageStatus` other than `received` is a status callback;
anything else (it has `Body` and `SmsStatus=received`) is an incoming message.
"""

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Literal
from urllib.parse import parse_qsl, urlencode

from huike.channels.base import (
    Attachment,
    ChannelContext,
    ConnectionTest,
    ContentType,
    DeliveryReceipt,
    InboundItem,
    InboundMessage,
    IncomingDelivery,
    OutboundMessage,
    SendResult,
    SignatureError,
    StoredDelivery,
    WebhookRequest,
    WebhookResponse,
)
from huike.channels.http import api_base_url, http_request, json_body
from huike.channels.providers.sms.common import Vendor, phone_sender, reply_items
from huike.core.tasks import PermanentError, RetryableError

DEFAULT_API_BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
RECEIPT_STATUSES: dict[str, Literal["sent", "delivered", "read", "failed"]] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
}


def signature(url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    """Base64 HMAC-SHA1 of the full URL followed by each POST parameter's name and value,
    sorted by name."""
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signed_url(channel: ChannelContext, query: Mapping[str, str], query_string: str = "") -> str:
    """The URL Twilio called: the channel's webhook URL and the request's query string, as
    it was sent when we have it (Twilio signs its own encoding and order)."""
    if not query and not query_string:
        return channel.webhook_url
    separator = "&" if "?" in channel.webhook_url else "?"
    return channel.webhook_url + separator + (query_string or urlencode(list(query.items())))


def form(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as error:
        raise ValueError("the form is not UTF-8") from error


def _is_status_callback(fields: Mapping[str, str]) -> bool:
    return fields.get("MessageStatus", "received") != "received"


class Twilio(Vendor):
    name = "twilio"
    required = ("account_sid", "auth_token", "from_number")
    default_api_base_url = DEFAULT_API_BASE_URL

    def _account_url(self, channel: ChannelContext) -> str:
        base = api_base_url(channel, DEFAULT_API_BASE_URL)
        return f"{base}/{API_VERSION}/Accounts/{channel.get('account_sid')}"

    def send(self, channel: ChannelContext, message: OutboundMessage) -> SendResult:
        sender = channel.get("from_number")
        data = {"To": message.to, "Body": message.text}
        # A Messaging Service (MG…) picks the sender number itself.
        data["MessagingServiceSid" if sender.startswith("MG") else "From"] = sender
        if channel.webhook_url:
            data["StatusCallback"] = channel.webhook_url
        response = http_request(
            "POST",
            self._account_url(channel) + "/Messages.json",
            data=data,
            auth=(channel.get("account_sid"), channel.get("auth_token")),
        )
        answer = json_body(response)
        if response.status_code >= 400:
            raise PermanentError(
                f"Twilio {answer.get('code', response.status_code)}: {answer.get('message', '')}"
            )
        return SendResult(provider_message_id=str(answer.get("sid", "")))

    def test_connection(self, channel: ChannelContext) -> ConnectionTest:
        from django.utils.translation import gettext as _

        try:
            response = http_request(
                "GET",
                self._account_url(channel) + ".json",
                auth=(channel.get("account_sid"), channel.get("auth_token")),
            )
            if response.status_code in (401, 403, 404):
                return ConnectionTest(False, _("Twilio refused the Account SID or Auth Token."))
            status = str(json_body(response).get("status", ""))
        except (RetryableError, PermanentError) as error:
            return ConnectionTest(
                False, _("Twilio could not be reached: %(error)s") % {"error": error}
            )
        if status != "active":
            return ConnectionTest(
                False, _("The Twilio account is not active (%(status)s).") % {"status": status}
            )
        return ConnectionTest(True, _("Connected to Twilio."))

    def verify(self, channel: ChannelContext, request: WebhookRequest) -> None:
        auth_token = channel.get("auth_token")
        given = request.header("x-twilio-signature")
        if not auth_token or not given:
            raise SignatureError("X-Twilio-Signature missing", status=401)
        try:
            params = form(request.body)
        except ValueError as error:
            raise SignatureError(str(error)) from error
        expected = signature(
            signed_url(channel, request.query, request.query_string), params, auth_token
        )
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise SignatureError("X-Twilio-Signature does not match")

    def deliveries(
        self, channel: ChannelContext, request: WebhookRequest
    ) -> list[IncomingDelivery]:
        fields = dict(form(request.body))
        sid = fields.get("MessageSid") or fields.get("SmsSid", "")
        if not sid:
            raise ValueError("no MessageSid")
        if _is_status_callback(fields):
            key, callback = f"{sid}:{fields['MessageStatus']}", "status"
        else:
            key, callback = sid, "message"
        return [
            IncomingDelivery(
                dedupe_key=key,
                body=request.body,
                content_type="application/x-www-form-urlencoded",
                meta={"vendor": self.name, "callback": callback},
            )
        ]

    def acknowledge(self) -> WebhookResponse:
        return WebhookResponse(200, EMPTY_TWIML, "text/xml")

    def parse(self, delivery: StoredDelivery) -> list[InboundItem]:
        fields = dict(form(delivery.body))
        sid = fields.get("MessageSid") or fields.get("SmsSid", "")
        if delivery.meta.get("callback") == "status":
            status = RECEIPT_STATUSES.get(fields.get("MessageStatus", ""))
            if status is None:  # queued, accepted, sending: nothing to report yet
                return []
            return [
                DeliveryReceipt(
                    provider_message_id=sid,
                    status=status,
                    at=delivery.received_at,
                    error=fields.get("ErrorCode", "") if status == "failed" else "",
                )
            ]
        attachments = tuple(
            Attachment(
                kind="image" if media_type.startswith("image/") else "file",
                url=fields.get(f"MediaUrl{index}", ""),
                mime_type=media_type,
            )
            for index in range(_count(fields.get("NumMedia", "0")))
            for media_type in [fields.get(f"MediaContentType{index}", "")]
        )
        content_type: ContentType = "text"
        if not fields.get("Body") and attachments:
            content_type = attachments[0].kind
        message = InboundMessage(
            sender=phone_sender(fields.get("From", "")),
            external_id=sid,
            sent_at=delivery.received_at,
            content_type=content_type,
            text=fields.get("Body", ""),
            attachments=attachments,
            properties={"to": fields.get("To", "")},
        )
        return reply_items(message)


def _count(value: str) -> int:
    # Twilio allows at most 10 media per message.
    return min(int(value), 10) if value.isdigit() else 0
