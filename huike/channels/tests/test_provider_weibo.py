import datetime as dt
import json
import urllib.parse
from pathlib import Path

import pytest

from huike.channels.base import (
    EVENT_FOLLOWED,
    EVENT_UNFOLLOWED,
    Attachment,
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
from huike.channels.providers.weibo import PROVIDERS
from huike.channels.providers.weibo.provider import WeiboProvider, signature
from huike.channels.testing import FakePlatform
from huike.core.tasks import PermanentError, RetryableError

FIXTURES = Path(__file__).parents[1] / "providers" / "weibo" / "fixtures"
NOW = dt.datetime(2025, 6, 8, 12, 0, tzinfo=dt.UTC)
APP_SECRET = "xyz123xyz"
SENT_AT = dt.datetime(2012, 7, 16, 18, 9, 20, tzinfo=dt.timezone(dt.timedelta(hours=8)))
FAN = Sender("weibo_uid", "2489518277")

weibo = WeiboProvider()


def channel(**config: str) -> ChannelContext:
    values = {
        "app_key": "1234567890",
        "app_secret": APP_SECRET,
        "access_token": "2.00abc",
        **config,
    }
    return ChannelContext(4, "ch_wb", 1, "weibo", "Weibo", values)


def signed_query(at: dt.datetime = NOW, secret: str = APP_SECRET, **extra: str) -> dict[str, str]:
    timestamp = str(int(at.timestamp() * 1000))
    nonce = "57155157"
    return {
        "signature": signature(secret, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        **extra,
    }


def push(name: str, query: dict[str, str] | None = None) -> WebhookRequest:
    body = (FIXTURES / name).read_bytes()
    return WebhookRequest("POST", signed_query() if query is None else query, {}, body, NOW)


def parse(name: str) -> list:
    [delivery] = weibo.deliveries(channel(), push(name))
    stored = StoredDelivery(1, delivery.dedupe_key, delivery.body, "application/json", {}, NOW)
    return weibo.parse(channel(), stored)


def test_providers_cover_weibo():
    assert [provider.kind for provider in PROVIDERS] == ["weibo"]


def test_signature_matches_weibo_doc_example():
    # 粉丝服务平台开发接口接入指南: appsecret xyz123xyz, timestamp 1397022061823, nonce 57155157
    # sort to "139702206182357155157xyz123xyz", sha1 90e4c22c90a58f26526c2dd5b6c56c8822edeaa1.
    assert signature("xyz123xyz", "1397022061823", "57155157") == (
        "90e4c22c90a58f26526c2dd5b6c56c8822edeaa1"
    )


def test_handshake_echoes_echostr():
    request = WebhookRequest("GET", signed_query(echostr="weibo-echo-42"), {}, b"", NOW)
    response = weibo.handshake(channel(), request)
    assert response is not None
    assert (response.status, response.body) == (200, b"weibo-echo-42")


def test_handshake_with_wrong_secret_is_refused():
    request = WebhookRequest("GET", signed_query(secret="other", echostr="e"), {}, b"", NOW)
    with pytest.raises(SignatureError) as caught:
        weibo.handshake(channel(), request)
    assert caught.value.status == 403


def test_handshake_ignores_pushes():
    assert weibo.handshake(channel(), push("text.json")) is None


def test_valid_push_signature_is_accepted():
    weibo.verify(channel(), push("text.json"))


def test_tampered_signature_is_refused():
    query = signed_query()
    query["nonce"] = "57155158"
    with pytest.raises(SignatureError) as caught:
        weibo.verify(channel(), push("text.json", query))
    assert caught.value.status == 403


def test_wrong_secret_is_refused():
    with pytest.raises(SignatureError) as caught:
        weibo.verify(channel(), push("text.json", signed_query(secret="not-the-secret")))
    assert caught.value.status == 403


def test_missing_signature_is_401():
    query = signed_query()
    del query["signature"]
    with pytest.raises(SignatureError) as caught:
        weibo.verify(channel(), push("text.json", query))
    assert caught.value.status == 401


def test_expired_timestamp_is_refused():
    old = signed_query(at=NOW - dt.timedelta(seconds=301))
    with pytest.raises(SignatureError, match="window") as caught:
        weibo.verify(channel(), push("text.json", old))
    assert caught.value.status == 403


def test_timestamp_in_seconds_is_accepted_inside_window():
    timestamp = str(int(NOW.timestamp()) - 299)
    query = {
        "signature": signature(APP_SECRET, timestamp, "1"),
        "timestamp": timestamp,
        "nonce": "1",
    }
    weibo.verify(channel(), push("text.json", query))


def test_replayed_push_has_same_dedupe_key():
    first = weibo.deliveries(channel(), push("text.json"))
    again = weibo.deliveries(channel(), push("text.json"))
    assert [d.dedupe_key for d in first] == ["2489518277:Mon Jul 16 18:09:20 +0800 2012:text"]
    assert [d.dedupe_key for d in again] == [d.dedupe_key for d in first]


def test_follow_and_text_at_the_same_second_do_not_collide():
    [follow] = weibo.deliveries(channel(), push("event_follow.json"))
    [text] = weibo.deliveries(channel(), push("text.json"))
    assert follow.dedupe_key != text.dedupe_key


def test_text_is_parsed():
    key = "2489518277:Mon Jul 16 18:09:20 +0800 2012:text"
    assert parse("text.json") == [
        InboundMessage(sender=FAN, external_id=key, sent_at=SENT_AT, text="请问客服在吗")
    ]


def test_image_and_voice_are_parsed():
    [image] = parse("image.json")
    [voice] = parse("voice.json")
    assert (image.content_type, image.attachments) == (
        "image",
        (Attachment("image", media_id="821804459"),),
    )
    assert image.properties == {"tovfid": 821804469}
    assert (voice.content_type, voice.attachments) == (
        "voice",
        (Attachment("voice", media_id="821804459"),),
    )


def test_position_is_parsed():
    [position] = parse("position.json")
    assert position.content_type == "location"
    assert position.properties == {
        "latitude": "39.982525",
        "longitude": "116.308586",
        "label": "我在这里: http://t.cn/zQgLLYO",
    }


def test_follow_unfollow_and_scan_events_are_parsed():
    [follow] = parse("event_follow.json")
    [unfollow] = parse("event_unfollow.json")
    [scan] = parse("event_scan_follow.json")
    assert follow == InboundEvent(
        sender=FAN,
        kind=EVENT_FOLLOWED,
        external_id="2489518277:Mon Jul 16 18:09:20 +0800 2012:event",
        occurred_at=SENT_AT,
        properties={"subtype": "follow"},
    )
    assert unfollow.kind == EVENT_UNFOLLOWED
    assert (scan.kind, scan.properties) == (
        EVENT_FOLLOWED,
        {"subtype": "scan_follow", "scene": "spring_fair", "ticket": "TICKET123"},
    )


def test_acknowledgement_is_empty():
    assert weibo.acknowledge(channel(), push("text.json"), 1).body == b""


def test_reply_allowed_within_48_hours():
    context = SendContext(now=NOW, last_inbound_at=NOW - dt.timedelta(hours=47))
    weibo.check_send(channel(), OutboundMessage(to="2489518277", text="在的"), context)


@pytest.mark.parametrize("last", [None, NOW - dt.timedelta(hours=48, seconds=1)])
def test_reply_refused_after_48_hours(last):
    context = SendContext(now=NOW, last_inbound_at=last)
    with pytest.raises(SendRefused, match="48 hours"):
        weibo.check_send(channel(), OutboundMessage(to="2489518277", text="在的"), context)


def test_reply_is_posted_to_fan_service_api():
    with FakePlatform() as platform:
        # given
        platform.route(
            "POST", "/2/messages/reply.json", (200, {"result": True, "id": 3332910801173380})
        )
        # when
        result = weibo.send(
            channel(api_base_url=platform.url), OutboundMessage(to="2489518277", text="在的")
        )
    # then
    assert result.provider_message_id == "3332910801173380"
    call = platform.calls[0]
    assert call.query == {"access_token": "2.00abc"}
    form = call.form
    assert (form["receiver_id"], form["type"], form["save_sender_box"]) == (
        "2489518277",
        "text",
        "1",
    )
    assert json.loads(urllib.parse.unquote(form["data"])) == {"text": "在的"}


def test_reply_server_error_is_retryable():
    with FakePlatform() as platform:
        platform.route("POST", "/2/messages/reply.json", (500, "oops"))
        with pytest.raises(RetryableError):
            weibo.send(channel(api_base_url=platform.url), OutboundMessage(to="1", text="x"))


def test_reply_rate_limit_is_retryable():
    with FakePlatform() as platform:
        platform.route(
            "POST",
            "/2/messages/reply.json",
            (403, {"error": "User requests out of rate limit!", "error_code": 10023}),
        )
        with pytest.raises(RetryableError, match="10023"):
            weibo.send(channel(api_base_url=platform.url), OutboundMessage(to="1", text="x"))


def test_reply_refused_by_weibo_is_permanent():
    with FakePlatform() as platform:
        platform.route(
            "POST",
            "/2/messages/reply.json",
            (
                400,
                {
                    "error": "receiver unfollowed",
                    "error_code": 21602,
                    "request": "/2/messages/reply.json",
                },
            ),
        )
        with pytest.raises(PermanentError, match="receiver unfollowed"):
            weibo.send(channel(api_base_url=platform.url), OutboundMessage(to="1", text="x"))


def test_test_connection_reads_the_menu():
    with FakePlatform() as platform:
        platform.route("GET", "/2/messages/menu/show.json", (200, {"menu": {"button": []}}))
        assert weibo.test_connection(channel(api_base_url=platform.url)).ok
        platform.route(
            "GET",
            "/2/messages/menu/show.json",
            (400, {"error": "invalid_access_token", "error_code": 21332}),
        )
        failed = weibo.test_connection(channel(api_base_url=platform.url))
    assert not failed.ok
    assert "invalid_access_token" in failed.message
