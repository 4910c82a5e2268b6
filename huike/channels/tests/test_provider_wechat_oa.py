"""The WeChat Official Account provider: callbacks in plain and safe mode, parsing of every
message and event type, and customer-service sends against a local WeChat API."""

import datetime as dt
import json
from pathlib import Path

import pytest
from django.core.cache import cache

from huike.channels.base import (
    EVENT_FOLLOWED,
    EVENT_OTHER,
    EVENT_SCANNED,
    EVENT_UNFOLLOWED,
    Attachment,
    ChannelContext,
    DeliveryReceipt,
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
from huike.channels.providers.wechat import PROVIDERS
from huike.channels.providers.wechat.crypto import encrypt, signature
from huike.channels.providers.wechat.oa import WeChatOfficialAccountProvider
from huike.channels.testing import FakePlatform
from huike.core.tasks import PermanentError, RetryableError

FIXTURES = Path(__file__).resolve().parents[1] / "providers" / "wechat" / "fixtures"
DOC = json.loads((FIXTURES / "vectors.json").read_text())["wecom_doc"]

APP_ID = "wxd0a1b2c3d4e5f607"
TOKEN = "OAtoken2024"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
NOW = dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)  # unix 1700000000
OPENID = "oia2TjjewbmiOUlr6X-1crbLOvLw"

provider = WeChatOfficialAccountProvider()


@pytest.fixture(autouse=True)
def _clear_token_cache():
    cache.clear()
    yield
    cache.clear()


def channel(**config: str) -> ChannelContext:
    values = {
        "app_id": APP_ID,
        "app_secret": "s3cret",
        "token": TOKEN,
        "encoding_aes_key": "",
        **config,
    }
    return ChannelContext(
        channel_id=1,
        public_id="ch_oa",
        workspace_id=1,
        kind="wechat_oa",
        name="Our account",
        config=values,
    )


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def plain_request(body: bytes, *, token: str = TOKEN, timestamp: int = 1700000000, **query):
    signed = {
        "signature": signature(token, str(timestamp), "29731", *()),
        "timestamp": str(timestamp),
        "nonce": "29731",
        "openid": OPENID,
        **query,
    }
    return WebhookRequest("POST", signed, {}, body, NOW)


def safe_request(plaintext: bytes, *, receive_id: str = APP_ID, token: str = TOKEN):
    ciphertext = encrypt(AES_KEY, plaintext, receive_id)
    body = (
        "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>"
        f"<Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>"
    )
    query = {
        "signature": signature(token, "1700000000", "4242"),
        "msg_signature": signature(token, "1700000000", "4242", ciphertext),
        "timestamp": "1700000000",
        "nonce": "4242",
        "encrypt_type": "aes",
        "openid": OPENID,
    }
    return WebhookRequest("POST", query, {}, body.encode(), NOW)


def stored(body: bytes, dedupe_key: str = "key") -> StoredDelivery:
    return StoredDelivery(1, dedupe_key, body, "application/xml", {}, NOW)


def parse_fixture(name: str):
    config = channel()
    request = plain_request(fixture(name))
    (delivery,) = provider.deliveries(config, request)
    return provider.parse(config, stored(delivery.body, delivery.dedupe_key))


# --- registry ------------------------------------------------------------------------------
def test_package_provides_both_kinds():
    assert [p.kind for p in PROVIDERS] == ["wechat_oa", "wecom"]
    assert [f.name for f in provider.config_fields] == [
        "app_id",
        "app_secret",
        "token",
        "encoding_aes_key",
        "api_base_url",
    ]
    secrets = {f.name for f in provider.config_fields if f.secret}
    assert secrets == {"app_secret", "token", "encoding_aes_key"}
    assert provider.default_api_base_url == "https://api.weixin.qq.com"


# --- handshake -----------------------------------------------------------------------------
def test_handshake_echoes_echostr_when_signed_with_our_token():
    query = {
        "signature": signature(TOKEN, "1700000000", "1514"),
        "timestamp": "1700000000",
        "nonce": "1514",
        "echostr": "6183742851307364952",
    }

    response = provider.handshake(channel(), WebhookRequest("GET", query, {}, b"", NOW))

    assert response is not None
    assert response.status == 200
    assert response.body == b"6183742851307364952"


def test_handshake_with_a_wrong_token_is_refused():
    query = {
        "signature": signature("not-our-token", "1700000000", "1514"),
        "timestamp": "1700000000",
        "nonce": "1514",
        "echostr": "6183742851307364952",
    }

    with pytest.raises(SignatureError):
        provider.handshake(channel(), WebhookRequest("GET", query, {}, b"", NOW))


def test_a_post_is_not_a_handshake():
    assert provider.handshake(channel(), plain_request(fixture("oa_text.xml"))) is None


# --- verify (plain mode) -------------------------------------------------------------------
def test_plain_callback_with_valid_signature_verifies():
    provider.verify(channel(), plain_request(fixture("oa_text.xml")))


def test_plain_callback_with_a_wrong_token_is_refused():
    with pytest.raises(SignatureError) as caught:
        provider.verify(channel(), plain_request(fixture("oa_text.xml"), token="forged"))
    assert caught.value.status == 403


def test_plain_callback_with_an_expired_timestamp_is_refused():
    request = plain_request(fixture("oa_text.xml"), timestamp=1700000000 - 301)

    with pytest.raises(SignatureError, match="window") as caught:
        provider.verify(channel(), request)
    assert caught.value.status == 403


def test_plain_callback_without_signature_is_refused():
    request = WebhookRequest("POST", {"openid": OPENID}, {}, fixture("oa_text.xml"), NOW)

    with pytest.raises(SignatureError) as caught:
        provider.verify(channel(), request)
    assert caught.value.status == 401


def test_plain_callback_with_entities_is_refused_as_unreadable():
    request = plain_request(fixture("oa_entity_expansion.xml"))
    provider.verify(channel(), request)

    with pytest.raises(ValueError, match="not acceptable XML"):
        provider.deliveries(channel(), request)


# --- verify (safe mode) --------------------------------------------------------------------
def test_safe_mode_documented_vector_verifies_and_decrypts():
    # given Tencent's published sample (its AppID / corpid, token and key), posted in safe mode
    vector = DOC["callback"]
    config = channel(
        app_id=DOC["receive_id"], token=DOC["token"], encoding_aes_key=DOC["encoding_aes_key"]
    )
    query = {
        "msg_signature": vector["msg_signature"],
        "timestamp": vector["timestamp"],
        "nonce": vector["nonce"],
        "encrypt_type": "aes",
    }
    received = dt.datetime.fromtimestamp(int(vector["timestamp"]), tz=dt.UTC)
    request = WebhookRequest("POST", query, {}, fixture(vector["body_file"]), received)

    # when
    provider.verify(config, request)
    (delivery,) = provider.deliveries(config, request)

    # then the stored body is the plaintext, deduplicated on its MsgId
    assert delivery.body == fixture(vector["plaintext_file"])
    assert delivery.dedupe_key == "4561255354251345929"
    (message,) = provider.parse(config, stored(delivery.body, delivery.dedupe_key))
    assert isinstance(message, InboundMessage)
    assert message.text == "hello"
    assert message.sender == Sender("wechat_openid:wx5823bf96d3bd56c7", "mycreate")


def test_safe_mode_stores_decrypted_plaintext():
    config = channel(encoding_aes_key=AES_KEY)
    request = safe_request(fixture("oa_text.xml"))

    provider.verify(config, request)
    (delivery,) = provider.deliveries(config, request)

    assert delivery.body == fixture("oa_text.xml")
    assert delivery.dedupe_key == "24316598765432101"
    assert delivery.content_type == "application/xml"


def test_safe_mode_with_tampered_body_is_refused():
    config = channel(encoding_aes_key=AES_KEY)
    request = safe_request(fixture("oa_text.xml"))
    other = encrypt(AES_KEY, fixture("oa_link.xml"), APP_ID)
    tampered = WebhookRequest(
        "POST",
        request.query,
        {},
        f"<xml><Encrypt><![CDATA[{other}]]></Encrypt></xml>".encode(),
        NOW,
    )

    with pytest.raises(SignatureError, match="msg_signature"):
        provider.verify(config, tampered)


def test_safe_mode_with_a_wrong_token_is_refused():
    config = channel(encoding_aes_key=AES_KEY)

    with pytest.raises(SignatureError):
        provider.verify(config, safe_request(fixture("oa_text.xml"), token="forged"))


def test_safe_mode_for_another_app_id_is_refused():
    config = channel(encoding_aes_key=AES_KEY)
    request = safe_request(fixture("oa_text.xml"), receive_id="wxffffffffffffffff")

    with pytest.raises(SignatureError, match="receive id"):
        provider.verify(config, request)


def test_safe_mode_without_a_configured_key_is_refused():
    with pytest.raises(SignatureError, match="EncodingAESKey"):
        provider.verify(channel(), safe_request(fixture("oa_text.xml")))


def test_safe_mode_envelope_with_a_dtd_is_refused():
    config = channel(encoding_aes_key=AES_KEY)
    request = safe_request(fixture("oa_text.xml"))
    evil = WebhookRequest("POST", request.query, {}, fixture("oa_entity_expansion.xml"), NOW)

    with pytest.raises(SignatureError, match="unreadable"):
        provider.verify(config, evil)


# --- deliveries & acknowledge --------------------------------------------------------------
def test_event_delivery_is_deduplicated_on_sender_time_and_event():
    (delivery,) = provider.deliveries(channel(), plain_request(fixture("oa_event_scan.xml")))

    assert delivery.dedupe_key == f"{OPENID}:1700000000:SCAN"


def test_acknowledge_answers_success():
    response = provider.acknowledge(channel(), plain_request(fixture("oa_text.xml")), 1)

    assert response.status == 200
    assert response.body == b"success"


# --- parse: messages -----------------------------------------------------------------------
SENDER = Sender(f"wechat_openid:{APP_ID}", OPENID)
SENT_AT = dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)


def test_parse_text():
    assert parse_fixture("oa_text.xml") == [
        InboundMessage(
            sender=SENDER,
            external_id="24316598765432101",
            sent_at=SENT_AT,
            content_type="text",
            text="你好，请问还有货吗？",
        )
    ]


def test_parse_image():
    (message,) = parse_fixture("oa_image.xml")

    assert message.content_type == "image"
    assert message.attachments == (
        Attachment(
            "image", url="http://mmbiz.qpic.cn/mmbiz_jpg/abc123/0", media_id="media_id_image_1"
        ),
    )
    assert message.external_id == "24316598765432102"


def test_parse_voice_keeps_recognition_as_text():
    (message,) = parse_fixture("oa_voice.xml")

    assert message.content_type == "voice"
    assert message.text == "我想退货"
    assert message.attachments == (Attachment("voice", media_id="media_id_voice_1"),)
    assert message.properties == {"format": "amr"}


@pytest.mark.parametrize(
    ("name", "media_id", "thumb", "short"),
    [
        ("oa_video.xml", "media_id_video_1", "thumb_media_id_1", False),
        ("oa_shortvideo.xml", "media_id_short_1", "thumb_media_id_2", True),
    ],
)
def test_parse_video_and_shortvideo(name, media_id, thumb, short):
    (message,) = parse_fixture(name)

    assert message.content_type == "video"
    assert message.attachments == (Attachment("video", media_id=media_id),)
    assert message.properties == {"thumb_media_id": thumb, "short": short}


def test_parse_location():
    (message,) = parse_fixture("oa_location.xml")

    assert message.content_type == "location"
    assert message.text == "上海市黄浦区人民广场"
    assert message.properties == {
        "latitude": 31.230416,
        "longitude": 121.473701,
        "scale": 15,
        "label": "上海市黄浦区人民广场",
    }


def test_parse_link():
    (message,) = parse_fixture("oa_link.xml")

    assert message.content_type == "link"
    assert message.text == "春季新品"
    assert message.properties == {
        "url": "https://example.com/spring",
        "title": "春季新品",
        "description": "全场八折",
    }


def test_parse_unknown_message_type_gives_nothing():
    body = fixture("oa_text.xml").replace(b"[text]", b"[miniprogrampage]")

    assert provider.parse(channel(), stored(body)) == []


def test_parse_refuses_a_message_without_sender():
    body = fixture("oa_text.xml").replace(OPENID.encode(), b"")

    with pytest.raises(ValueError, match="FromUserName"):
        provider.parse(channel(), stored(body))


# --- parse: events -------------------------------------------------------------------------
def test_parse_subscribe_from_a_parametric_qr_code_carries_the_scene():
    (event,) = parse_fixture("oa_event_subscribe_qrscene.xml")

    assert event == InboundEvent(
        sender=SENDER,
        kind=EVENT_FOLLOWED,
        external_id=f"{OPENID}:1700000000:subscribe",
        occurred_at=SENT_AT,
        properties={
            "scene": "store_42",
            "ticket": "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2tabXNf",
        },
    )


def test_parse_plain_subscribe():
    (event,) = parse_fixture("oa_event_subscribe.xml")

    assert event.kind == EVENT_FOLLOWED
    assert event.properties == {}


def test_parse_unsubscribe():
    (event,) = parse_fixture("oa_event_unsubscribe.xml")

    assert event.kind == EVENT_UNFOLLOWED
    assert event.sender == SENDER


def test_parse_scan():
    (event,) = parse_fixture("oa_event_scan.xml")

    assert event.kind == EVENT_SCANNED
    assert event.properties["scene"] == "store_42"


def test_parse_location_report():
    (event,) = parse_fixture("oa_event_location.xml")

    assert event.kind == EVENT_OTHER
    assert event.properties == {
        "event": "LOCATION",
        "latitude": 23.137466,
        "longitude": 113.352425,
        "precision": 119.38504,
    }


def test_parse_menu_click_and_view():
    (click,) = parse_fixture("oa_event_click.xml")
    (view,) = parse_fixture("oa_event_view.xml")

    assert (click.kind, click.properties) == (
        EVENT_OTHER,
        {"event": "CLICK", "event_key": "MENU_CONTACT_US"},
    )
    assert (view.kind, view.properties) == (
        EVENT_OTHER,
        {"event": "VIEW", "event_key": "https://example.com/shop", "menu_id": "208379533"},
    )


def test_parse_template_send_finished_is_a_receipt():
    assert parse_fixture("oa_event_template_success.xml") == [
        DeliveryReceipt("200163836", "delivered", SENT_AT)
    ]
    assert parse_fixture("oa_event_template_blocked.xml") == [
        DeliveryReceipt("200163840", "failed", SENT_AT, error="failed:user block")
    ]


def test_parse_unused_event_gives_nothing():
    assert parse_fixture("oa_event_masssend.xml") == []


# --- check_send ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("last_inbound", "allowed"),
    [
        (None, False),
        (NOW - dt.timedelta(hours=48, seconds=1), False),
        (NOW - dt.timedelta(hours=47, minutes=59), True),
        (NOW - dt.timedelta(minutes=1), True),
    ],
)
def test_replies_only_within_48_hours_of_the_last_inbound(last_inbound, allowed):
    context = SendContext(now=NOW, last_inbound_at=last_inbound)
    message = OutboundMessage(to=OPENID, text="hi")

    if allowed:
        provider.check_send(channel(), message, context)
    else:
        with pytest.raises(SendRefused, match="48 hours"):
            provider.check_send(channel(), message, context)


def test_opted_out_recipient_is_refused():
    context = SendContext(now=NOW, last_inbound_at=NOW, opted_out=True)

    with pytest.raises(SendRefused, match="opted out"):
        provider.check_send(channel(), OutboundMessage(to=OPENID, text="hi"), context)


# --- send ----------------------------------------------------------------------------------
TOKEN_PATH = "/cgi-bin/token"
SEND_PATH = "/cgi-bin/message/custom/send"


def token_reply(token: str = "ACCESS_TOKEN_1"):
    return (200, {"access_token": token, "expires_in": 7200})


def test_send_text_fetches_token_once_and_caches_it():
    with FakePlatform() as platform:
        platform.route("GET", TOKEN_PATH, token_reply())
        platform.route("POST", SEND_PATH, (200, {"errcode": 0, "errmsg": "ok", "msgid": 1001}))
        config = channel(api_base_url=platform.url)

        first = provider.send(config, OutboundMessage(to=OPENID, text="您好，有货的"))
        provider.send(config, OutboundMessage(to=OPENID, text="second"))

    (token_call,) = platform.calls_to(TOKEN_PATH)
    assert token_call.query == {
        "grant_type": "client_credential",
        "appid": APP_ID,
        "secret": "s3cret",
    }
    sends = platform.calls_to(SEND_PATH)
    assert [call.query["access_token"] for call in sends] == ["ACCESS_TOKEN_1"] * 2
    assert sends[0].json == {
        "touser": OPENID,
        "msgtype": "text",
        "text": {"content": "您好，有货的"},
    }
    # UTF-8 as is, not \u escapes.
    assert "您好".encode() in sends[0].body
    assert first.provider_message_id == "1001"
    assert first.status == "sent"


def test_send_image_by_media_id_then_text():
    with FakePlatform() as platform:
        platform.route("GET", TOKEN_PATH, token_reply())
        platform.route("POST", SEND_PATH, (200, {"errcode": 0, "errmsg": "ok"}))
        message = OutboundMessage(
            to=OPENID, text="see picture", attachments=(Attachment("image", media_id="MEDIA_1"),)
        )

        result = provider.send(channel(api_base_url=platform.url), message)

    assert [call.json for call in platform.calls_to(SEND_PATH)] == [
        {"touser": OPENID, "msgtype": "image", "image": {"media_id": "MEDIA_1"}},
        {"touser": OPENID, "msgtype": "text", "text": {"content": "see picture"}},
    ]
    assert result.provider_message_id == ""


def test_send_refuses_an_attachment_without_media_id_before_any_request():
    with FakePlatform() as platform:
        message = OutboundMessage(
            to=OPENID, text="x", attachments=(Attachment("image", url="https://example.com/a.png"),)
        )

        with pytest.raises(PermanentError, match="media id"):
            provider.send(channel(api_base_url=platform.url), message)

    assert platform.calls == []


def test_send_refuses_an_empty_message_before_any_request():
    with FakePlatform() as platform, pytest.raises(PermanentError, match="nothing"):
        provider.send(channel(api_base_url=platform.url), OutboundMessage(to=OPENID))

    assert platform.calls == []


@pytest.mark.parametrize("errcode", [40001, 42001, 40014])
def test_send_refreshes_an_invalid_token_once(errcode):
    tokens = iter(["STALE", "FRESH"])

    def send(call):
        if call.query["access_token"] == "STALE":
            return (200, {"errcode": errcode, "errmsg": "access_token expired"})
        return (200, {"errcode": 0, "errmsg": "ok"})

    with FakePlatform() as platform:
        platform.route("GET", TOKEN_PATH, lambda call: token_reply(next(tokens)))
        platform.route("POST", SEND_PATH, send)
        config = channel(api_base_url=platform.url)

        provider.send(config, OutboundMessage(to=OPENID, text="hi"))
        provider.send(config, OutboundMessage(to=OPENID, text="again"))

    assert len(platform.calls_to(TOKEN_PATH)) == 2
    assert [c.query["access_token"] for c in platform.calls_to(SEND_PATH)] == [
        "STALE",
        "FRESH",
        "FRESH",
    ]


def test_send_gives_up_after_one_refresh():
    with FakePlatform() as platform:
        platform.route("GET", TOKEN_PATH, token_reply())
        platform.route("POST", SEND_PATH, (200, {"errcode": 42001, "errmsg": "expired"}))

        with pytest.raises(PermanentError, match="42001"):
            provider.send(channel(api_base_url=platform.url), OutboundMessage(to=OPENID, text="x"))

    assert len(platform.calls_to(SEND_PATH)) == 2


@pytest.mark.parametrize("errcode", [-1, 45009, 45011])
def test_busy_and_rate_limit_errcodes_are_retryable(errcode):
    with FakePlatform() as platform:
        platform.route("GET", TOKEN_PATH, token_reply())
        platform.route("POST", SEND_PATH, (200, {"errcode": errcode, "errmsg": "system busy"}))

        with pytest.raises(RetryableError, match=str(errcode)):
            provider.send(channel(api_base_url=platform.url), OutboundMessage(to=OPENID, text="x"))


def test_http_500_is_retryable():
    with FakePlatform() as platform:
        platform.route("GET", TOKEN_PATH, token_reply())
        platform.route("POST", SEND_PATH, (500, "upstream error"))

        with pytest.raises(RetryableError, match="HTTP 500"):
            provider.send(channel(api_base_url=platform.url), OutboundMessage(to=OPENID, text="x"))


def test_out_of_window_errcode_is_permanent_with_errmsg():
    with FakePlatform() as platform:
        platform.route("GET", TOKEN_PATH, token_reply())
        platform.route(
            "POST",
            SEND_PATH,
            (
                200,
                {
                    "errcode": 45015,
                    "errmsg": "response out of time limit or subscription is canceled",
                },
            ),
        )

        with pytest.raises(PermanentError) as caught:
            provider.send(channel(api_base_url=platform.url), OutboundMessage(to=OPENID, text="x"))

    assert str(caught.value) == (
        "WeChat refused the request (error 45015): "
        "response out of time limit or subscription is canceled"
    )


# --- test_connection & validate_config -----------------------------------------------------
def test_connection_succeeds_with_a_token():
    with FakePlatform() as platform:
        platform.route("GET", TOKEN_PATH, token_reply())

        result = provider.test_connection(channel(api_base_url=platform.url))

    assert result.ok is True
    assert result.message == "Connected: WeChat issued an access token."


def test_connection_failure_shows_the_errmsg():
    with FakePlatform() as platform:
        platform.route("GET", TOKEN_PATH, (200, {"errcode": 40125, "errmsg": "invalid appsecret"}))

        result = provider.test_connection(channel(api_base_url=platform.url))

    assert result.ok is False
    assert "invalid appsecret" in result.message
    assert "40125" in result.message


def test_validate_config_checks_token_key_and_app_id():
    good = {"app_id": APP_ID, "token": "abc", "encoding_aes_key": AES_KEY}

    assert provider.validate_config(good) == {}
    assert provider.validate_config({**good, "encoding_aes_key": ""}) == {}
    errors = provider.validate_config(
        {"app_id": "wx 1", "token": "ab", "encoding_aes_key": AES_KEY[:-1]}
    )
    assert set(errors) == {"app_id", "token", "encoding_aes_key"}
    assert set(provider.validate_config({**good, "token": "x" * 33})) == {"token"}
    assert set(provider.validate_config({**good, "token": "abc-def"})) == {"token"}
    assert set(provider.validate_config({**good, "encoding_aes_key": AES_KEY[:-1] + "="})) == {
        "encoding_aes_key"
    }
