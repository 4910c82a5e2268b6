"""The SMS provider: each vendor's signature against its documented example, sends against
FakePlatform servers, and callbacks from constructed payload fixtures."""

import base64
import datetime as dt
import json
import logging
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from huike.channels.base import (
    EVENT_OPTED_IN,
    EVENT_OPTED_OUT,
    ChannelContext,
    DeliveryReceipt,
    InboundEvent,
    InboundItem,
    InboundMessage,
    OutboundMessage,
    SendContext,
    SendRefused,
    SignatureError,
    StoredDelivery,
    WebhookRequest,
)
from huike.channels.providers.sms import PROVIDERS, aliyun, tencent, twilio
from huike.channels.providers.sms.common import to_e164
from huike.channels.providers.sms.provider import SmsProvider
from huike.channels.testing import Call, FakePlatform
from huike.core.tasks import PermanentError, RetryableError

FIXTURES = Path(__file__).resolve().parents[1] / "providers" / "sms" / "fixtures"
NOW = dt.datetime(2026, 12, 1, 2, 30, tzinfo=dt.UTC)
CALLBACK_TOKEN = "cb-7Hq2xLw9"
TWILIO_SID = "AC0123456789abcdef0123456789abcdef"
TWILIO_TOKEN = "twilio-auth-token"

provider = SmsProvider()

VENDOR_CONFIG = {
    "aliyun": {
        "access_key_id": "testid",
        "access_key_secret": "testsecret",
        "sign_name": "慧客",
        "template_code": "SMS_71390007",
    },
    "tencent": {
        "secret_id": "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
        "secret_key": "tencent-secret-key",
        "sdk_app_id": "1400006666",
        "sign_name": "慧客",
        "template_id": "1110",
    },
    "twilio": {
        "account_sid": TWILIO_SID,
        "auth_token": TWILIO_TOKEN,
        "from_number": "+14155550100",
    },
    "console": {},
}


def channel(vendor: str, *, webhook_url: str = "", **config: str) -> ChannelContext:
    return ChannelContext(
        channel_id=2,
        public_id="ch_sms",
        workspace_id=1,
        kind="sms",
        name="SMS",
        config={
            "provider": vendor,
            "callback_token": CALLBACK_TOKEN,
            **VENDOR_CONFIG[vendor],
            **config,
        },
        webhook_url=webhook_url or "https://crm.example.com/hooks/ch_sms",
    )


def request(
    body: bytes, *, query: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        query=query or {},
        headers=headers or {},
        body=body,
        received_at=NOW,
    )


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def receive(ch: ChannelContext, req: WebhookRequest) -> tuple[list[str], list[InboundItem]]:
    """What the framework does with a webhook: verify, split, then parse each delivery."""
    provider.verify(ch, req)
    deliveries = provider.deliveries(ch, req)
    items: list[InboundItem] = []
    for number, delivery in enumerate(deliveries):
        stored = StoredDelivery(
            id=number,
            dedupe_key=delivery.dedupe_key,
            body=delivery.body,
            content_type=delivery.content_type,
            meta=delivery.meta,
            received_at=NOW,
        )
        items.extend(provider.parse(ch, stored))
    return [d.dedupe_key for d in deliveries], items


def test_package_exports_one_sms_provider() -> None:
    assert [p.kind for p in PROVIDERS] == ["sms"]


# --- Aliyun ------------------------------------------------------------------------------------
# Aliyun's signature documentation: DescribeRegions with AccessKeyId testid, secret testsecret.
ALIYUN_DOC_PARAMS = {
    "Timestamp": "2016-02-23T12:46:24Z",
    "Format": "XML",
    "AccessKeyId": "testid",
    "Action": "DescribeRegions",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
    "Version": "2014-05-26",
    "SignatureVersion": "1.0",
}


def test_aliyun_signature_matches_the_documented_example() -> None:
    assert aliyun.string_to_sign("GET", ALIYUN_DOC_PARAMS) == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML"
        "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
        "%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z"
        "%26Version%3D2014-05-26"
    )
    assert (
        aliyun.signature("GET", ALIYUN_DOC_PARAMS, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    )


def test_aliyun_percent_encoding_rules() -> None:
    assert aliyun.percent_encode("a b*c~d/慧") == "a%20b%2Ac~d%2F%E6%85%A7"


def aliyun_platform(platform: FakePlatform, answer: dict[str, object]) -> None:
    def handler(call: Call) -> tuple[int, dict[str, object]]:
        # The fake checks the signature the way Aliyun does.
        params = dict(call.query)
        given = params.pop("Signature")
        if given != aliyun.signature("GET", params, "testsecret"):
            return 400, {
                "Code": "SignatureDoesNotMatch",
                "Message": "Specified signature is not matched",
            }
        return 200, answer

    platform.route("GET", "/", handler)


def test_aliyun_send_signs_and_returns_the_biz_id() -> None:
    with FakePlatform() as platform:
        aliyun_platform(
            platform,
            {"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0", "RequestId": "r1"},
        )
        result = provider.send(
            channel("aliyun", api_base_url=platform.url),
            OutboundMessage(
                to="+8613800138000", template_params={"code": "1234"}, reference="dlv_1"
            ),
        )
    assert result.provider_message_id == "900619746936498440^0"
    (call,) = platform.calls
    assert call.query["Action"] == "SendSms"
    assert call.query["Version"] == "2017-05-25"
    assert call.query["PhoneNumbers"] == "8613800138000"
    assert call.query["SignName"] == "慧客"
    assert call.query["TemplateCode"] == "SMS_71390007"
    assert json.loads(call.query["TemplateParam"]) == {"code": "1234"}
    assert call.query["OutId"] == "dlv_1"


def test_aliyun_message_template_overrides_the_default() -> None:
    with FakePlatform() as platform:
        aliyun_platform(platform, {"Code": "OK", "BizId": "b2"})
        provider.send(
            channel("aliyun", api_base_url=platform.url),
            OutboundMessage(to="+8613800138000", template="SMS_2"),
        )
    assert platform.calls[0].query["TemplateCode"] == "SMS_2"


def test_aliyun_flow_control_is_retryable() -> None:
    with FakePlatform() as platform:
        aliyun_platform(
            platform, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1"}
        )
        with pytest.raises(RetryableError, match=r"isv\.BUSINESS_LIMIT_CONTROL"):
            provider.send(
                channel("aliyun", api_base_url=platform.url), OutboundMessage(to="+8613800138000")
            )


def test_aliyun_invalid_number_is_permanent_with_the_vendor_message() -> None:
    with FakePlatform() as platform:
        aliyun_platform(platform, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"})
        with pytest.raises(PermanentError) as error:
            provider.send(
                channel("aliyun", api_base_url=platform.url), OutboundMessage(to="+861234")
            )
    assert str(error.value) == "Aliyun isv.MOBILE_NUMBER_ILLEGAL: 非法手机号"


def test_aliyun_connection_test_queries_the_sign_name() -> None:
    with FakePlatform() as platform:
        aliyun_platform(platform, {"Code": "OK", "SignName": "慧客", "SignStatus": 1})
        result = provider.test_connection(channel("aliyun", api_base_url=platform.url))
    assert (result.ok, result.message) == (
        True,
        "Connected to Aliyun SMS; the sign name is approved.",
    )
    assert platform.calls[0].query["Action"] == "QuerySmsSign"


def test_aliyun_delivery_reports() -> None:
    query = {"token": CALLBACK_TOKEN}
    keys, items = receive(
        channel("aliyun"), request(fixture("aliyun_sms_report.json"), query=query)
    )
    assert keys == ["900619746936498440^0:DELIVERED", "900619746936498441^0:MK:0001"]
    china = dt.timezone(dt.timedelta(hours=8))
    assert items == [
        DeliveryReceipt(
            "900619746936498440^0", "delivered", dt.datetime(2026, 12, 1, 10, 0, 5, tzinfo=china)
        ),
        DeliveryReceipt(
            "900619746936498441^0",
            "failed",
            dt.datetime(2026, 12, 1, 10, 0, 9, tzinfo=china),
            error="MK:0001: 用户关机",
        ),
    ]
    ack = provider.acknowledge(channel("aliyun"), request(b"[]"), 2)
    assert json.loads(ack.body) == {"code": 0, "msg": "成功"}


def test_aliyun_reply_td_is_an_opt_out() -> None:
    query = {"token": CALLBACK_TOKEN}
    keys, items = receive(channel("aliyun"), request(fixture("aliyun_sms_up.json"), query=query))
    assert keys == ["up:1234567890", "up:1234567891"]
    td, opt_out, question = items
    assert isinstance(td, InboundMessage)
    assert isinstance(question, InboundMessage)
    assert td.sender.identity_kind == "phone"
    assert td.sender.identity_value == "+8613800138000"
    assert td.text == "TD"
    assert isinstance(opt_out, InboundEvent)
    assert (opt_out.kind, opt_out.external_id) == (
        EVENT_OPTED_OUT,
        "up:1234567890:channel.opted_out",
    )
    assert opt_out.sender == td.sender
    assert question.text == "请问周末营业吗？"


# --- callback token (Aliyun, Tencent) ------------------------------------------------------------
def test_callback_token_valid_absent_and_wrong() -> None:
    body = fixture("aliyun_sms_report.json")
    provider.verify(channel("aliyun"), request(body, query={"token": CALLBACK_TOKEN}))
    with pytest.raises(SignatureError) as absent:
        provider.verify(channel("tencent"), request(body))
    with pytest.raises(SignatureError) as wrong:
        provider.verify(channel("tencent"), request(body, query={"token": "guess"}))
    with pytest.raises(SignatureError) as unconfigured:
        provider.verify(
            channel("aliyun", callback_token=""), request(body, query={"token": "anything"})
        )
    assert (absent.value.status, wrong.value.status, unconfigured.value.status) == (401, 403, 401)


# --- Tencent ------------------------------------------------------------------------------------
# The signature v3 documentation's worked example (CVM DescribeInstances).
TENCENT_DOC_PAYLOAD = (
    b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
)


def test_tencent_signature_matches_the_documented_example() -> None:
    assert tencent.canonical_request("cvm.tencentcloudapi.com", TENCENT_DOC_PAYLOAD) == (
        "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n"
        "\ncontent-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    header = tencent.authorization(
        "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
        "Gu5t9xGARNpq86cd98joQYCN3*******",
        service="cvm",
        host="cvm.tencentcloudapi.com",
        payload=TENCENT_DOC_PAYLOAD,
        timestamp=1551113065,
    )
    assert header == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/"
        "tc3_request, SignedHeaders=content-type;host, "
        "Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    )


def tencent_platform(platform: FakePlatform, response: dict[str, object]) -> None:
    def handler(call: Call) -> tuple[int, dict[str, object]]:
        expected = tencent.authorization(
            VENDOR_CONFIG["tencent"]["secret_id"],
            VENDOR_CONFIG["tencent"]["secret_key"],
            service="sms",
            host=call.headers["host"],
            payload=call.body,
            timestamp=int(call.headers["x-tc-timestamp"]),
        )
        if call.headers.get("authorization") != expected:
            error = {"Code": "AuthFailure.SignatureFailure", "Message": "signature mismatch"}
            return 200, {"Response": {"Error": error, "RequestId": "r"}}
        return 200, {"Response": {**response, "RequestId": "r"}}

    platform.route("POST", "/", handler)


def test_tencent_send_signs_and_returns_the_serial_number() -> None:
    status = {
        "SerialNo": "2028:f825e6b16e23f73f4123",
        "PhoneNumber": "+8613800138000",
        "Fee": 1,
        "SessionContext": "dlv_2",
        "Code": "Ok",
        "Message": "send success",
        "IsoCode": "CN",
    }
    with FakePlatform() as platform:
        tencent_platform(platform, {"SendStatusSet": [status]})
        result = provider.send(
            channel("tencent", api_base_url=platform.url),
            OutboundMessage(
                to="+8613800138000", template_params={"2": "5", "1": "123456"}, reference="dlv_2"
            ),
        )
    assert result.provider_message_id == "2028:f825e6b16e23f73f4123"
    (call,) = platform.calls
    assert call.headers["x-tc-action"] == "SendSms"
    assert call.headers["x-tc-version"] == "2021-01-11"
    assert call.json == {
        "PhoneNumberSet": ["+8613800138000"],
        "SmsSdkAppId": "1400006666",
        "SignName": "慧客",
        "TemplateId": "1110",
        "TemplateParamSet": ["123456", "5"],
        "SessionContext": "dlv_2",
    }


def test_tencent_frequency_limit_is_retryable() -> None:
    status = {"Code": "LimitExceeded.PhoneNumberThirtySecondLimit", "Message": "30秒内频率限制"}
    with FakePlatform() as platform:
        tencent_platform(platform, {"SendStatusSet": [status]})
        with pytest.raises(RetryableError, match=r"LimitExceeded\.PhoneNumberThirtySecondLimit"):
            provider.send(
                channel("tencent", api_base_url=platform.url), OutboundMessage(to="+8613800138000")
            )


def test_tencent_unapproved_sign_is_permanent_with_the_vendor_message() -> None:
    with FakePlatform() as platform:
        platform.route(
            "POST",
            "/",
            (
                200,
                {
                    "Response": {
                        "Error": {
                            "Code": "FailedOperation.SignatureIncorrectOrUnapproved",
                            "Message": "签名未审批或格式错误",
                        },
                        "RequestId": "r",
                    }
                },
            ),
        )
        with pytest.raises(PermanentError) as error:
            provider.send(
                channel("tencent", api_base_url=platform.url), OutboundMessage(to="+8613800138000")
            )
    assert str(error.value) == (
        "Tencent Cloud FailedOperation.SignatureIncorrectOrUnapproved: 签名未审批或格式错误"
    )


def test_tencent_connection_test_lists_the_template() -> None:
    with FakePlatform() as platform:
        tencent_platform(platform, {"DescribeTemplateStatusSet": [{"TemplateId": 1110}]})
        result = provider.test_connection(channel("tencent", api_base_url=platform.url))
    assert (result.ok, result.message) == (True, "Connected to Tencent Cloud SMS.")
    assert platform.calls[0].headers["x-tc-action"] == "DescribeSmsTemplateList"
    assert platform.calls[0].json == {"International": 0, "TemplateIdSet": [1110]}


def test_tencent_status_reports() -> None:
    query = {"token": CALLBACK_TOKEN}
    keys, items = receive(
        channel("tencent"), request(fixture("tencent_status_report.json"), query=query)
    )
    assert keys == ["2028:f825e6b16e23f73f4123:SUCCESS", "2028:f825e6b16e23f73f4124:FAIL"]
    delivered, failed = items
    assert isinstance(delivered, DeliveryReceipt)
    assert isinstance(failed, DeliveryReceipt)
    assert (delivered.provider_message_id, delivered.status) == (
        "2028:f825e6b16e23f73f4123",
        "delivered",
    )
    assert delivered.at == dt.datetime(2026, 12, 1, 2, 0, 4, tzinfo=dt.UTC)
    assert (failed.status, failed.error) == ("failed", "MN:0017: 手机号码为空号")
    ack = provider.acknowledge(channel("tencent"), request(b"[]"), 2)
    assert json.loads(ack.body) == {"result": 0, "errmsg": "OK"}


def test_tencent_reply_unsubscribe_is_an_opt_out() -> None:
    query = {"token": CALLBACK_TOKEN}
    keys, items = receive(channel("tencent"), request(fixture("tencent_reply.json"), query=query))
    message, event = items
    assert isinstance(message, InboundMessage)
    assert isinstance(event, InboundEvent)
    assert message.sender.identity_value == "+8613800138000"
    assert message.sent_at == dt.datetime.fromtimestamp(1796119200, dt.UTC)
    assert event.kind == EVENT_OPTED_OUT
    assert keys[0].startswith("reply:+8613800138000:1796119200:")


# --- Twilio -------------------------------------------------------------------------------------
# Twilio's webhook security documentation: auth token 12345.
TWILIO_DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}


def test_twilio_signature_matches_the_documented_example() -> None:
    assert (
        twilio.signature(TWILIO_DOC_URL, TWILIO_DOC_PARAMS.items(), "12345")
        == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )


def test_twilio_webhook_signature_valid_tampered_and_missing() -> None:
    ch = channel("twilio", webhook_url="https://mycompany.com/myapp.php", auth_token="12345")
    body = urlencode(TWILIO_DOC_PARAMS).encode()
    query = {"foo": "1", "bar": "2"}
    signed = {"x-twilio-signature": "0/KCTR6DLpKmkAf8muzZqo1nDgQ="}
    provider.verify(ch, request(body, query=query, headers=signed))
    tampered = body.replace(b"Digits=1234", b"Digits=9999")
    with pytest.raises(SignatureError) as wrong:
        provider.verify(ch, request(tampered, query=query, headers=signed))
    with pytest.raises(SignatureError) as other_query:
        provider.verify(ch, request(body, query={"foo": "1", "bar": "3"}, headers=signed))
    with pytest.raises(SignatureError) as missing:
        provider.verify(ch, request(body, query=query))
    assert (wrong.value.status, other_query.value.status, missing.value.status) == (403, 403, 401)


def twilio_signed(ch: ChannelContext, body: bytes) -> WebhookRequest:
    sig = twilio.signature(
        ch.webhook_url, parse_qsl(body.decode(), keep_blank_values=True), TWILIO_TOKEN
    )
    return request(body, headers={"x-twilio-signature": sig})


def test_twilio_incoming_stop_is_an_opt_out() -> None:
    ch = channel("twilio")
    keys, items = receive(ch, twilio_signed(ch, fixture("twilio_incoming_stop.form")))
    assert keys == ["SM5f2c1c2b5a7d4c3b9e8f7a6b5c4d3e2f"]
    message, event = items
    assert isinstance(message, InboundMessage)
    assert isinstance(event, InboundEvent)
    assert (message.sender.identity_kind, message.sender.identity_value) == (
        "phone",
        "+14155550123",
    )
    assert message.text == "STOP"
    assert message.properties == {"to": "+14155550100"}
    assert event.kind == EVENT_OPTED_OUT
    ack = provider.acknowledge(ch, request(b""), 1)
    assert (ack.body, ack.content_type) == (
        b'<?xml version="1.0" encoding="UTF-8"?><Response/>',
        "text/xml",
    )


def test_twilio_status_callback_is_a_failed_receipt() -> None:
    ch = channel("twilio")
    keys, items = receive(ch, twilio_signed(ch, fixture("twilio_status_undelivered.form")))
    assert keys == ["SMaaaabbbbccccddddeeeeffff00001111:undelivered"]
    assert items == [
        DeliveryReceipt("SMaaaabbbbccccddddeeeeffff00001111", "failed", NOW, error="30003")
    ]


def test_twilio_queued_status_reports_nothing() -> None:
    ch = channel("twilio")
    body = b"MessageSid=SM1&MessageStatus=queued&SmsStatus=queued&To=%2B14155550123"
    keys, items = receive(ch, twilio_signed(ch, body))
    assert (keys, items) == (["SM1:queued"], [])


def twilio_messages_path() -> str:
    return f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"


def test_twilio_send_posts_the_message_with_basic_auth() -> None:
    with FakePlatform() as platform:
        platform.route("POST", twilio_messages_path(), (201, {"sid": "SM0001", "status": "queued"}))
        result = provider.send(
            channel("twilio", api_base_url=platform.url),
            OutboundMessage(to="+14155550123", text="Your order shipped."),
        )
    assert result.provider_message_id == "SM0001"
    (call,) = platform.calls
    assert call.form == {
        "To": "+14155550123",
        "From": "+14155550100",
        "Body": "Your order shipped.",
        "StatusCallback": "https://crm.example.com/hooks/ch_sms",
    }
    expected_auth = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    assert call.headers["authorization"] == f"Basic {expected_auth}"


def test_twilio_429_is_retryable() -> None:
    with FakePlatform() as platform:
        platform.route(
            "POST", twilio_messages_path(), (429, {"code": 20429, "message": "Too Many Requests"})
        )
        with pytest.raises(RetryableError, match="429"):
            provider.send(
                channel("twilio", api_base_url=platform.url), OutboundMessage(to="+1415", text="x")
            )


def test_twilio_invalid_number_is_permanent_with_the_vendor_message() -> None:
    answer = {
        "code": 21211,
        "message": "The 'To' number +1415 is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    }
    with FakePlatform() as platform:
        platform.route("POST", twilio_messages_path(), (400, answer))
        with pytest.raises(PermanentError) as error:
            provider.send(
                channel("twilio", api_base_url=platform.url), OutboundMessage(to="+1415", text="x")
            )
    assert str(error.value) == "Twilio 21211: The 'To' number +1415 is not a valid phone number."


def test_twilio_connection_test_reads_the_account() -> None:
    with FakePlatform() as platform:
        platform.route(
            "GET", f"/2010-04-01/Accounts/{TWILIO_SID}.json", (200, {"status": "active"})
        )
        ok = provider.test_connection(channel("twilio", api_base_url=platform.url))
        platform.route("GET", f"/2010-04-01/Accounts/{TWILIO_SID}.json", (401, {"code": 20003}))
        refused = provider.test_connection(channel("twilio", api_base_url=platform.url))
    assert (ok.ok, ok.message) == (True, "Connected to Twilio.")
    assert (refused.ok, refused.message) == (False, "Twilio refused the Account SID or Auth Token.")


# --- console ------------------------------------------------------------------------------------
def test_console_logs_instead_of_sending(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="huike.channels.sms.console"):
        result = provider.send(channel("console"), OutboundMessage(to="+8613800138000", text="hi"))
    assert result.provider_message_id.startswith("console-")
    (record,) = caplog.records
    assert "NOT SENT" in record.getMessage()
    assert "to=+8613800138000" in record.getMessage()
    assert result.provider_message_id in record.getMessage()
    assert provider.test_connection(channel("console")).ok is True


# --- rules and configuration ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("TD", EVENT_OPTED_OUT),
        (" t ", EVENT_OPTED_OUT),
        ("退订", EVENT_OPTED_OUT),
        ("n", EVENT_OPTED_OUT),
        ("Stop", EVENT_OPTED_OUT),
        ("STOPALL", EVENT_OPTED_OUT),
        ("unsubscribe", EVENT_OPTED_OUT),
        ("Cancel", EVENT_OPTED_OUT),
        ("END", EVENT_OPTED_OUT),
        ("quit", EVENT_OPTED_OUT),
        ("START", EVENT_OPTED_IN),
        ("unstop", EVENT_OPTED_IN),
        ("Yes", EVENT_OPTED_IN),
        ("stop sending me deals", ""),
        ("请问价格", ""),
    ],
)
def test_keywords(text: str, kind: str) -> None:
    ch = channel("twilio")
    body = urlencode({"MessageSid": "SM9", "From": "+14155550123", "Body": text}).encode()
    _, items = receive(ch, twilio_signed(ch, body))
    events = [item.kind for item in items if isinstance(item, InboundEvent)]
    assert events == ([kind] if kind else [])


def test_to_e164() -> None:
    assert to_e164("13800138000") == "+8613800138000"
    assert to_e164("8613800138000") == "+8613800138000"
    assert to_e164("008613800138000") == "+8613800138000"
    assert to_e164("+14155550123") == "+14155550123"
    assert to_e164("4155550123", "1") == "+14155550123"


def test_check_send_refuses_opted_out_template_less_and_national_numbers() -> None:
    context = SendContext(now=NOW)
    with pytest.raises(SendRefused, match="opted out"):
        provider.check_send(
            channel("twilio"),
            OutboundMessage(to="+14155550123"),
            SendContext(now=NOW, opted_out=True),
        )
    with pytest.raises(SendRefused, match="templates"):
        provider.check_send(
            channel("aliyun", template_code=""), OutboundMessage(to="+8613800138000"), context
        )
    with pytest.raises(SendRefused, match="international format"):
        provider.check_send(channel("twilio"), OutboundMessage(to="13800138000"), context)
    provider.check_send(channel("aliyun"), OutboundMessage(to="+8613800138000"), context)


def test_validate_config_checks_the_chosen_vendors_keys() -> None:
    assert provider.validate_config({"provider": "sinch"}) == {
        "provider": "Choose aliyun, tencent, twilio or console."
    }
    assert provider.validate_config(
        {"provider": "tencent", "secret_id": "x", "sdk_app_id": "14x"}
    ) == {
        "secret_key": "Required for this SMS vendor.",
        "sign_name": "Required for this SMS vendor.",
        "sdk_app_id": "The SmsSdkAppId is a number.",
    }
    assert provider.validate_config({"provider": "twilio", **VENDOR_CONFIG["twilio"]}) == {}
    assert provider.validate_config({"provider": "console"}) == {}


def test_tencent_host_is_signed_from_the_base_url() -> None:
    # The Host header and the signature use the configured base URL's host, port included.
    with FakePlatform() as platform:
        tencent_platform(platform, {"SendStatusSet": [{"Code": "Ok", "SerialNo": "s"}]})
        provider.send(
            channel("tencent", api_base_url=platform.url), OutboundMessage(to="+8613800138000")
        )
    assert platform.calls[0].headers["host"] == urlsplit(platform.url).netloc
