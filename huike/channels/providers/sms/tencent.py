"""Tencent Cloud (腾讯云) SMS: SendSms over API 3.0 with the TC3-HMAC-SHA256 signature, and the
status report and reply callbacks.

Callback shape: a status report is a JSON array of objects with `report_status`; a reply is
an object (or an array of them) with `text` and `mobile`.
"""

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from huike.channels.base import (
    ChannelContext,
    ConnectionTest,
    DeliveryReceipt,
    InboundItem,
    InboundMessage,
    IncomingDelivery,
    OutboundMessage,
    SendResult,
    StoredDelivery,
    WebhookRequest,
    WebhookResponse,
)
from huike.channels.http import api_base_url, http_request, json_body
from huike.channels.providers.sms.common import (
    Vendor,
    china_time,
    json_delivery,
    json_items,
    phone_sender,
    reply_items,
    template_of,
    to_e164,
    verify_callback_token,
)
from huike.core.tasks import PermanentError, RetryableError

DEFAULT_API_BASE_URL = "https://sms.tencentcloudapi.com"
SERVICE = "sms"
API_VERSION = "2021-01-11"
# SendSms is served from every region; Guangzhou is the one Tencent's examples use.
REGION = "ap-guangzhou"
CONTENT_TYPE = "application/json; charset=utf-8"
ALGORITHM = "TC3-HMAC-SHA256"
RETRYABLE_CODE_PREFIXES = ("LimitExceeded", "RequestLimitExceeded", "InternalError")
ACKNOWLEDGEMENT = b'{"result":0,"errmsg":"OK"}'


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_request(host: str, payload: bytes) -> str:
    headers = f"content-type:{CONTENT_TYPE}\nhost:{host}\n"
    return f"POST\n/\n\n{headers}\ncontent-type;host\n{_sha256_hex(payload)}"


def tc3_signature(
    secret_key: str, *, service: str, host: str, payload: bytes, timestamp: int
) -> str:
    date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    hashed = _sha256_hex(canonical_request(host, payload).encode())
    string_to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{hashed}"
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def authorization(
    secret_id: str, secret_key: str, *, service: str, host: str, payload: bytes, timestamp: int
) -> str:
    date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    signed = tc3_signature(
        secret_key, service=service, host=host, payload=payload, timestamp=timestamp
    )
    return (
        f"{ALGORITHM} Credential={secret_id}/{date}/{service}/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={signed}"
    )


def call(channel: ChannelContext, action: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The `Response` of one API call; the vendor's error when it carries one."""
    base = api_base_url(channel, DEFAULT_API_BASE_URL)
    host = urlsplit(base).netloc
    payload = json.dumps(body, ensure_ascii=False).encode()
    timestamp = int(dt.datetime.now(dt.UTC).timestamp())
    headers = {
        "Authorization": authorization(
            channel.get("secret_id"),
            channel.get("secret_key"),
            service=SERVICE,
            host=host,
            payload=payload,
            timestamp=timestamp,
        ),
        "Content-Type": CONTENT_TYPE,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Version": API_VERSION,
        "X-TC-Region": REGION,
    }
    data = json_body(http_request("POST", base + "/", content=payload, headers=headers))
    response = data.get("Response")
    if not isinstance(response, dict):
        raise PermanentError("Tencent Cloud: the answer has no Response")
    error = response.get("Error")
    if isinstance(error, dict):
        raise _failure(str(error.get("Code", "")), str(error.get("Message", "")))
    return response


def _failure(code: str, message: str) -> Exception:
    text = f"Tencent Cloud {code}: {message}"
    return (
        RetryableError(text) if code.startswith(RETRYABLE_CODE_PREFIXES) else PermanentError(text)
    )


def template_param_set(params: Mapping[str, str]) -> list[str]:
    """Tencent templates number their variables {1}, {2}…: numeric keys go in that order,
    other keys in the order given."""
    if all(key.isdigit() for key in params):
        return [params[key] for key in sorted(params, key=int)]
    return list(params.values())


class Tencent(Vendor):
    name = "tencent"
    required = ("secret_id", "secret_key", "sdk_app_id", "sign_name")
    default_api_base_url = DEFAULT_API_BASE_URL
    sends_templates = True

    def send(self, channel: ChannelContext, message: OutboundMessage) -> SendResult:
        template = template_of(channel, message, "template_id")
        if not template:
            raise PermanentError("Tencent Cloud SMS sends templates only: no template id")
        body: dict[str, Any] = {
            "PhoneNumberSet": [message.to],
            "SmsSdkAppId": channel.get("sdk_app_id"),
            "SignName": channel.get("sign_name"),
            "TemplateId": template,
            "TemplateParamSet": template_param_set(message.template_params),
        }
        if message.reference:
            body["SessionContext"] = message.reference
        response = call(channel, "SendSms", body)
        statuses = response.get("SendStatusSet") or [{}]
        status = statuses[0] if isinstance(statuses[0], dict) else {}
        code = str(status.get("Code", ""))
        if code != "Ok":
            raise _failure(code or "error", str(status.get("Message", "")))
        return SendResult(provider_message_id=str(status.get("SerialNo", "")))

    def test_connection(self, channel: ChannelContext) -> ConnectionTest:
        from django.utils.translation import gettext as _

        template = channel.get("template_id")
        body: dict[str, Any] = {"International": 0}
        if template.isdigit():
            body["TemplateIdSet"] = [int(template)]
        else:
            body.update(Limit=1, Offset=0)
        try:
            call(channel, "DescribeSmsTemplateList", body)
        except (RetryableError, PermanentError) as error:
            return ConnectionTest(
                False, _("Tencent Cloud SMS refused the call: %(error)s") % {"error": error}
            )
        return ConnectionTest(True, _("Connected to Tencent Cloud SMS."))

    def verify(self, channel: ChannelContext, request: WebhookRequest) -> None:
        verify_callback_token(channel, request)

    def deliveries(
        self, channel: ChannelContext, request: WebhookRequest
    ) -> list[IncomingDelivery]:
        deliveries = []
        for item in json_items(request.body):
            if "report_status" in item:
                key = f"{item.get('sid', '')}:{item.get('report_status', '')}"
                deliveries.append(json_delivery(key, item, self.name, "report"))
            elif "text" in item and "mobile" in item:
                number = to_e164(str(item["mobile"]), str(item.get("nationcode", "86")))
                text_digest = hashlib.sha256(str(item["text"]).encode()).hexdigest()[:16]
                key = f"reply:{number}:{item.get('time', '')}:{text_digest}"
                deliveries.append(json_delivery(key, item, self.name, "reply"))
        return deliveries

    def acknowledge(self) -> WebhookResponse:
        return WebhookResponse(200, ACKNOWLEDGEMENT, "application/json; charset=utf-8")

    def parse(self, delivery: StoredDelivery) -> list[InboundItem]:
        (item,) = json_items(delivery.body)
        if delivery.meta.get("callback") == "report":
            delivered = item.get("report_status") == "SUCCESS"
            error = "" if delivered else f"{item.get('errmsg', '')}: {item.get('description', '')}"
            return [
                DeliveryReceipt(
                    provider_message_id=str(item.get("sid", "")),
                    status="delivered" if delivered else "failed",
                    at=china_time(str(item.get("user_receive_time", "")), delivery.received_at),
                    error=error,
                )
            ]
        sent = item.get("time")
        message = InboundMessage(
            sender=phone_sender(
                to_e164(str(item.get("mobile", "")), str(item.get("nationcode", "86")))
            ),
            external_id=delivery.dedupe_key,
            sent_at=(
                dt.datetime.fromtimestamp(sent, dt.UTC)
                if isinstance(sent, int)
                else delivery.received_at
            ),
            text=str(item.get("text", "")),
            properties={"sign": str(item.get("sign", "")), "extend": str(item.get("extend", ""))},
        )
        return reply_items(message)
