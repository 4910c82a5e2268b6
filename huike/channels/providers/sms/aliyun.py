"""Aliyun (阿里云) SMS: SendSms over the RPC API with the HMAC-SHA1 "POP" signature, and the
HTTP push of SmsReport (delivery reports) and SmsUp (replies).

Callback shape (both are JSON arrays; one URL takes both): an element with `biz_id` or
`report_time` is a delivery report, one with `content` is a reply.
"""

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

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

DEFAULT_API_BASE_URL = "https://dysmsapi.aliyuncs.com"
API_VERSION = "2017-05-25"
REGION_ID = "cn-hangzhou"
# Flow control (per number / per minute) and throttling of the API lift by themselves.
RETRYABLE_CODE_PREFIXES = (
    "isv.BUSINESS_LIMIT_CONTROL",
    "Throttling",
    "isp.SYSTEM_ERROR",
    "ServiceUnavailable",
    "InternalError",
)
ACKNOWLEDGEMENT = json.dumps({"code": 0, "msg": "成功"}, ensure_ascii=False).encode()


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as the POP signature wants it: only A-Z a-z 0-9 - _ . ~ stay."""
    return quote(value, safe="~")


def canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(
        f"{percent_encode(key)}={percent_encode(value)}" for key, value in sorted(params.items())
    )


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"


def signature(method: str, params: Mapping[str, str], access_key_secret: str) -> str:
    key = (access_key_secret + "&").encode()
    digest = hmac.new(key, string_to_sign(method, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signed_url(channel: ChannelContext, action: str, params: Mapping[str, str]) -> str:
    all_params = {
        "AccessKeyId": channel.get("access_key_id"),
        "Action": action,
        "Format": "JSON",
        "RegionId": REGION_ID,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": uuid.uuid4().hex,
        "SignatureVersion": "1.0",
        "Timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Version": API_VERSION,
        **params,
    }
    sign = signature("GET", all_params, channel.get("access_key_secret"))
    query = canonical_query(all_params) + "&Signature=" + percent_encode(sign)
    return f"{api_base_url(channel, DEFAULT_API_BASE_URL)}/?{query}"


def call(channel: ChannelContext, action: str, params: Mapping[str, str]) -> Mapping[str, Any]:
    """The answer of one RPC call whose Code is OK; otherwise the vendor's error."""
    data = json_body(http_request("GET", signed_url(channel, action, params)))
    code = str(data.get("Code", ""))
    if code != "OK":
        message = f"Aliyun {code or 'error'}: {data.get('Message', '')}"
        if code.startswith(RETRYABLE_CODE_PREFIXES):
            raise RetryableError(message)
        raise PermanentError(message)
    return data


class Aliyun(Vendor):
    name = "aliyun"
    required = ("access_key_id", "access_key_secret", "sign_name")
    default_api_base_url = DEFAULT_API_BASE_URL
    sends_templates = True

    def send(self, channel: ChannelContext, message: OutboundMessage) -> SendResult:
        template = template_of(channel, message, "template_code")
        if not template:
            raise PermanentError("Aliyun SMS sends templates only: no template code")
        params = {
            # Aliyun takes mainland numbers with or without 86, others with the country code.
            "PhoneNumbers": message.to.lstrip("+"),
            "SignName": channel.get("sign_name"),
            "TemplateCode": template,
        }
        if message.template_params:
            params["TemplateParam"] = json.dumps(dict(message.template_params), ensure_ascii=False)
        if message.reference:
            params["OutId"] = message.reference
        data = call(channel, "SendSms", params)
        return SendResult(provider_message_id=str(data.get("BizId", "")))

    def test_connection(self, channel: ChannelContext) -> ConnectionTest:
        from django.utils.translation import gettext as _

        try:
            data = call(channel, "QuerySmsSign", {"SignName": channel.get("sign_name")})
        except (RetryableError, PermanentError) as error:
            return ConnectionTest(
                False, _("Aliyun SMS refused the call: %(error)s") % {"error": error}
            )
        status = {
            0: _("Connected to Aliyun SMS; the sign name is still under review."),
            1: _("Connected to Aliyun SMS; the sign name is approved."),
            2: _("Connected to Aliyun SMS, but the sign name was rejected."),
        }
        sign_status = data.get("SignStatus")
        message = status.get(sign_status if isinstance(sign_status, int) else -1)
        return ConnectionTest(sign_status == 1, message or _("Connected to Aliyun SMS."))

    def verify(self, channel: ChannelContext, request: WebhookRequest) -> None:
        verify_callback_token(channel, request)

    def deliveries(
        self, channel: ChannelContext, request: WebhookRequest
    ) -> list[IncomingDelivery]:
        deliveries = []
        for item in json_items(request.body):
            if "biz_id" in item or "report_time" in item:
                outcome = "DELIVERED" if _succeeded(item) else str(item.get("err_code", "FAILED"))
                key = f"{item.get('biz_id', '')}:{outcome}"
                deliveries.append(json_delivery(key, item, self.name, "report"))
            elif "content" in item:
                key = f"up:{item.get('sequence_id') or _digest(item)}"
                deliveries.append(json_delivery(key, item, self.name, "reply"))
        return deliveries

    def acknowledge(self) -> WebhookResponse:
        return WebhookResponse(200, ACKNOWLEDGEMENT, "application/json; charset=utf-8")

    def parse(self, delivery: StoredDelivery) -> list[InboundItem]:
        (item,) = json_items(delivery.body)
        if delivery.meta.get("callback") == "report":
            succeeded = _succeeded(item)
            error = "" if succeeded else f"{item.get('err_code', '')}: {item.get('err_msg', '')}"
            return [
                DeliveryReceipt(
                    provider_message_id=str(item.get("biz_id", "")),
                    status="delivered" if succeeded else "failed",
                    at=china_time(str(item.get("report_time", "")), delivery.received_at),
                    error=error,
                )
            ]
        message = InboundMessage(
            sender=phone_sender(to_e164(str(item.get("phone_number", "")))),
            external_id=delivery.dedupe_key,
            sent_at=china_time(str(item.get("send_time", "")), delivery.received_at),
            text=str(item.get("content", "")),
            properties={
                "sign_name": str(item.get("sign_name", "")),
                "dest_code": str(item.get("dest_code", "")),
            },
        )
        return reply_items(message)


def _succeeded(item: Mapping[str, Any]) -> bool:
    return item.get("success") in (True, "true", "True")


def _digest(item: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest()[:32]
