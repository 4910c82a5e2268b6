import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from huike.channels.base import (
    EVENT_OTHER,
    ChannelContext,
    InboundEvent,
    InboundMessage,
    OutboundMessage,
    SendContext,
    Sender,
    SendRefused,
    SignatureError,
    StoredDelivery,
    WebhookRequest,
)
from huike.channels.providers.douyin import PROVIDERS
from huike.channels.providers.douyin.provider import DouyinProvider, sign
from huike.channels.testing import FakePlatform
from huike.core.tasks import PermanentError

FIXTURES = Path(__file__).parents[1] / "providers" / "douyin" / "fixtures"
NOW = dt.datetime(2025, 6, 8, 12, 0, tzinfo=dt.UTC)
CLIENT_KEY = "awx2mmf6ex3nqnb5"
CLIENT_SECRET = "0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b"
CUSTOMER = "ac6479a5-d7a6-4018-84be-c29bfc000001"

douyin = DouyinProvider()


def channel(**config: str) -> ChannelContext:
    values = {"client_key": CLIENT_KEY, "client_secret": CLIENT_SECRET, **config}
    return ChannelContext(3, "ch_dy", 1, "douyin", "Douyin", values)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def post(body: bytes, signature: str | None, msg_id: str = "") -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-douyin-signature"] = signature
    if msg_id:
        headers["msg-id"] = msg_id
    return WebhookRequest("POST", {}, headers, body, NOW)


def parse(name: str, msg_id: str = "") -> list:
    body = fixture(name)
    [delivery] = douyin.deliveries(channel(), post(body, sign(CLIENT_SECRET, body), msg_id))
    stored = StoredDelivery(1, delivery.dedupe_key, delivery.body, "application/json", {}, NOW)
    return douyin.parse(channel(), stored)


def test_providers_cover_douyin():
    assert [provider.kind for provider in PROVIDERS] == ["douyin"]


def test_signature_is_sha1_of_secret_and_body():
    # The documented scheme (Go example): sha1 over client secret then the raw body.
    body = b'{"event":"verify_webhook","client_key":"abc","content":{"challenge":12345}}'
    assert sign("***", body) == hashlib.sha1(b"***" + body).hexdigest()
    assert sign("***", body) != sign("***", body + b" ")


def test_handshake_answers_challenge_as_json():
    # given
    body = fixture("verify_webhook.json")
    # when
    response = douyin.handshake(channel(), post(body, sign(CLIENT_SECRET, body)))
    # then
    assert response is not None
    assert response.status == 200
    assert response.content_type == "application/json"
    assert json.loads(response.body) == {"challenge": 12345}


def test_handshake_with_bad_signature_is_refused():
    body = fixture("verify_webhook.json")
    with pytest.raises(SignatureError) as caught:
        douyin.handshake(channel(), post(body, sign("wrong", body)))
    assert caught.value.status == 403


def test_handshake_ignores_events():
    body = fixture("im_receive_msg_text.json")
    assert douyin.handshake(channel(), post(body, sign(CLIENT_SECRET, body))) is None


def test_valid_signature_is_accepted():
    body = fixture("im_receive_msg_text.json")
    douyin.verify(channel(), post(body, sign(CLIENT_SECRET, body)))


def test_tampered_body_is_refused():
    body = fixture("im_receive_msg_text.json")
    signature = sign(CLIENT_SECRET, body)
    with pytest.raises(SignatureError) as caught:
        douyin.verify(channel(), post(body.replace("还有".encode(), "没有".encode()), signature))
    assert caught.value.status == 403


def test_wrong_secret_is_refused():
    body = fixture("im_receive_msg_text.json")
    with pytest.raises(SignatureError) as caught:
        douyin.verify(channel(), post(body, sign("another-secret", body)))
    assert caught.value.status == 403


def test_missing_signature_is_401():
    with pytest.raises(SignatureError) as caught:
        douyin.verify(channel(), post(fixture("im_receive_msg_text.json"), None))
    assert caught.value.status == 401


def test_dedupe_key_is_msg_id_header_and_replays_match():
    body = fixture("im_receive_msg_text.json")
    first = douyin.deliveries(channel(), post(body, None, msg_id="v-7d3d1c2b"))
    again = douyin.deliveries(channel(), post(body, None, msg_id="v-7d3d1c2b"))
    assert [d.dedupe_key for d in first] == ["v-7d3d1c2b"]
    assert [d.dedupe_key for d in again] == ["v-7d3d1c2b"]


def test_dedupe_key_falls_back_to_log_id():
    [delivery] = douyin.deliveries(channel(), post(fixture("im_receive_msg_text.json"), None))
    assert delivery.dedupe_key == "2023429834752345783"


def test_events_huike_does_not_use_are_not_stored():
    assert douyin.deliveries(channel(), post(fixture("im_send_msg.json"), None, "m1")) == []


def test_text_message_is_parsed():
    [message] = parse("im_receive_msg_text.json", "m-1")
    assert message == InboundMessage(
        sender=Sender(f"douyin_openid:{CLIENT_KEY}", CUSTOMER, name="小王"),
        external_id="@c29bfc000+MNggFhRkwGuX1ntuc0RPc0VH==",
        sent_at=dt.datetime(2025, 6, 8, 20, 59, 43, 123000, tzinfo=dt.UTC),
        text="请问这款还有吗",
        properties={
            "conversation_id": "@c29bfc000+MNggFhRkwGuX1ntuc0QfA==",
            "message_type": "text",
        },
    )


def test_image_message_with_string_content_is_parsed():
    [message] = parse("im_receive_msg_image.json", "m-2")
    assert (message.content_type, message.text, message.external_id) == (
        "image",
        "",
        "@c29bfc000+IMAGE0001==",
    )
    assert message.sender.identity_value == CUSTOMER


def test_entering_the_chat_is_an_event_with_ad_attribution():
    [event] = parse("im_enter_direct_msg.json", "m-3")
    assert event == InboundEvent(
        sender=Sender(f"douyin_openid:{CLIENT_KEY}", CUSTOMER, name="小王"),
        kind=EVENT_OTHER,
        external_id="@c29bfc000+ENTER0001==",
        occurred_at=dt.datetime(2025, 6, 8, 20, 59, 40, tzinfo=dt.UTC),
        properties={
            "event": "im_enter_direct_msg",
            "conversation_id": "@c29bfc000+MNggFhRkwGuX1ntuc0QfA==",
            "scene_type": 1,
            "objectId": "7234567890123456789",
            "adv_id": 1700000000001,
            "ad_id": 1700000000002,
            "promotion_id": 1700000000003,
        },
    )


def test_unreadable_body_is_value_error():
    with pytest.raises(ValueError, match="not JSON"):
        douyin.deliveries(channel(), post(b"not json", None))


def test_replies_are_refused_with_a_reason():
    context = SendContext(now=NOW, last_inbound_at=NOW)
    with pytest.raises(SendRefused, match="Douyin"):
        douyin.check_send(channel(), OutboundMessage(to=CUSTOMER, text="有的"), context)
    with pytest.raises(PermanentError, match="Douyin"):
        douyin.send(channel(), OutboundMessage(to=CUSTOMER, text="有的"))


def test_test_connection_fetches_a_client_token():
    with FakePlatform() as platform:
        # given
        platform.route(
            "POST",
            "/oauth/client_token/",
            (
                200,
                {
                    "data": {
                        "access_token": "clt.abc",
                        "description": "",
                        "error_code": 0,
                        "expires_in": 7200,
                    },
                    "message": "success",
                },
            ),
        )
        # when
        result = douyin.test_connection(channel(api_base_url=platform.url))
    # then
    assert result.ok
    assert platform.calls[0].json == {
        "client_key": CLIENT_KEY,
        "client_secret": CLIENT_SECRET,
        "grant_type": "client_credential",
    }


def test_test_connection_reports_refused_credentials():
    with FakePlatform() as platform:
        platform.route(
            "POST",
            "/oauth/client_token/",
            (
                200,
                {
                    "data": {"description": "client_key或client_secret错误", "error_code": 10013},
                    "message": "error",
                },
            ),
        )
        result = douyin.test_connection(channel(api_base_url=platform.url))
    assert not result.ok
    assert "client_key或client_secret错误" in result.message


def test_test_connection_reports_server_error():
    with FakePlatform() as platform:
        platform.route("POST", "/oauth/client_token/", (502, "bad gateway"))
        result = douyin.test_connection(channel(api_base_url=platform.url))
    assert not result.ok
    assert "HTTP 502" in result.message
