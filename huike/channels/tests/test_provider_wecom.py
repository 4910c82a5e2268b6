"""The WeCom provider: the documented URL-verification and callback vectors, external-contact
events, welcome messages and single-customer mass messages against a local WeCom API."""

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from django.core.cache import cache

from huike.channels.base import (
    EVENT_CONTACT_ADDED,
    EVENT_CONTACT_REMOVED,
    EVENT_CONTACT_UPDATED,
    EVENT_OTHER,
    ChannelContext,
    InboundEvent,
    OutboundMessage,
    SendContext,
    Sender,
    SendRefused,
    SignatureError,
    StoredDelivery,
    WebhookRequest,
)
from huike.channels.providers.wechat.crypto import encrypt, signature
from huike.channels.providers.wechat.wecom import WeComProvider
from huike.channels.testing import FakePlatform
from huike.core.tasks import PermanentError, RetryableError

FIXTURES = Path(__file__).resolve().parents[1] / "providers" / "wechat" / "fixtures"
VECTORS = json.loads((FIXTURES / "vectors.json").read_text())
DOC = VECTORS["wecom_doc"]
WECHATPY = VECTORS["wechatpy"]

CORP_ID = "ww1a2b3c4d5e6f7a8b"
TOKEN = "WeComT0ken"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
NOW = dt.datetime(2023, 11, 14, 22, 15, 0, tzinfo=dt.UTC)  # unix 1700000100
EXTERNAL_USERID = "wmEAlECwAAHrbWYDetiu3Af13xlYDDNQ"

provider = WeComProvider()


@pytest.fixture(autouse=True)
def _clear_token_cache():
    cache.clear()
    yield
    cache.clear()


def channel(**config: str) -> ChannelContext:
    values = {
        "corp_id": CORP_ID,
        "agent_id": "1000002",
        "secret": "app-secret",
        "token": TOKEN,
        "encoding_aes_key": AES_KEY,
        **config,
    }
    return ChannelContext(
        channel_id=2,
        public_id="ch_wecom",
        workspace_id=1,
        kind="wecom",
        name="Our corp",
        config=values,
    )


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def at(timestamp: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)


def callback(
    plaintext: bytes,
    *,
    receive_id: str = CORP_ID,
    token: str = TOKEN,
    timestamp: str = "1700000100",
    received_at: dt.datetime = NOW,
) -> WebhookRequest:
    ciphertext = encrypt(AES_KEY, plaintext, receive_id)
    body = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><AgentID><![CDATA[1000002]]>"
        f"</AgentID><Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>"
    )
    query = {
        "msg_signature": signature(token, timestamp, "1372623149", ciphertext),
        "timestamp": timestamp,
        "nonce": "1372623149",
    }
    return WebhookRequest("POST", query, {}, body.encode(), received_at)


def parse_fixture(name: str):
    config = channel()
    request = callback(fixture(name))
    provider.verify(config, request)
    (delivery,) = provider.deliveries(config, request)
    stored = StoredDelivery(1, delivery.dedupe_key, delivery.body, delivery.content_type, {}, NOW)
    return provider.parse(config, stored)


# --- handshake -----------------------------------------------------------------------------
def doc_channel() -> ChannelContext:
    return channel(
        corp_id=DOC["receive_id"], token=DOC["token"], encoding_aes_key=DOC["encoding_aes_key"]
    )


def doc_handshake(echostr: str) -> WebhookRequest:
    vector = DOC["verify_url"]
    query = {
        "msg_signature": vector["msg_signature"],
        "timestamp": vector["timestamp"],
        "nonce": vector["nonce"],
        "echostr": echostr,
    }
    return WebhookRequest("GET", query, {}, b"", at(vector["timestamp"]))


def test_handshake_documented_vector_returns_the_plaintext_exactly():
    response = provider.handshake(doc_channel(), doc_handshake(DOC["verify_url"]["echostr"]))

    assert response is not None
    assert response.status == 200
    assert response.body == b"1616140317555161061"


def test_handshake_repairs_a_plus_decoded_as_space():
    echostr = DOC["verify_url"]["echostr"]
    assert "+" in echostr

    response = provider.handshake(doc_channel(), doc_handshake(echostr.replace("+", " ")))

    assert response is not None
    assert response.body == b"1616140317555161061"


def test_handshake_wechatpy_vector():
    vector = WECHATPY["verify_url"]
    config = channel(
        corp_id=WECHATPY["receive_id"],
        token=WECHATPY["token"],
        encoding_aes_key=WECHATPY["encoding_aes_key"],
    )
    query = {
        "msg_signature": vector["msg_signature"],
        "timestamp": vector["timestamp"],
        "nonce": vector["nonce"],
        "echostr": vector["echostr"],
    }

    response = provider.handshake(
        config, WebhookRequest("GET", query, {}, b"", at(vector["timestamp"]))
    )

    assert response is not None
    assert response.body == b"5927782489442352469"


def test_handshake_with_a_wrong_token_is_refused():
    config = channel(corp_id=DOC["receive_id"], encoding_aes_key=DOC["encoding_aes_key"])

    with pytest.raises(SignatureError):
        provider.handshake(config, doc_handshake(DOC["verify_url"]["echostr"]))


def test_handshake_for_another_corp_is_refused():
    config = channel(token=DOC["token"], encoding_aes_key=DOC["encoding_aes_key"])

    with pytest.raises(SignatureError, match="receive id"):
        provider.handshake(config, doc_handshake(DOC["verify_url"]["echostr"]))


def test_handshake_replayed_later_is_refused():
    request = doc_handshake(DOC["verify_url"]["echostr"])
    late = WebhookRequest("GET", request.query, {}, b"", NOW)

    with pytest.raises(SignatureError, match="window"):
        provider.handshake(doc_channel(), late)


def test_a_post_is_not_a_handshake():
    assert provider.handshake(channel(), callback(fixture("wecom_member_text.xml"))) is None


# --- verify & deliveries -------------------------------------------------------------------
def test_documented_callback_vector_verifies_and_stores_plaintext():
    vector = DOC["callback"]
    query = {
        "msg_signature": vector["msg_signature"],
        "timestamp": vector["timestamp"],
        "nonce": vector["nonce"],
    }
    request = WebhookRequest(
        "POST", query, {}, fixture(vector["body_file"]), at(vector["timestamp"])
    )

    provider.verify(doc_channel(), request)
    (delivery,) = provider.deliveries(doc_channel(), request)

    assert delivery.body == fixture(vector["plaintext_file"])
    assert delivery.dedupe_key == "4561255354251345929"


def test_event_delivery_is_deduplicated_on_a_hash_of_the_plaintext():
    plaintext = fixture("wecom_add_external_contact.xml")
    # Two deliveries of one event encrypt differently (random prefix) but decrypt alike.
    first = provider.deliveries(channel(), callback(plaintext))
    second = provider.deliveries(channel(), callback(plaintext))

    assert first[0].dedupe_key == hashlib.sha256(plaintext).hexdigest()
    assert second[0].dedupe_key == first[0].dedupe_key
    assert first[0].body == plaintext


def test_tampered_body_is_refused():
    request = callback(fixture("wecom_add_external_contact.xml"))
    other = encrypt(AES_KEY, fixture("wecom_del_external_contact.xml"), CORP_ID)
    tampered = WebhookRequest(
        "POST", request.query, {}, f"<xml><Encrypt>{other}</Encrypt></xml>".encode(), NOW
    )

    with pytest.raises(SignatureError, match="msg_signature"):
        provider.verify(channel(), tampered)


def test_wrong_token_is_refused():
    with pytest.raises(SignatureError):
        provider.verify(channel(), callback(fixture("wecom_member_text.xml"), token="forged"))


def test_expired_timestamp_is_refused():
    request = callback(
        fixture("wecom_member_text.xml"),
        timestamp="1700000100",
        received_at=NOW + dt.timedelta(seconds=301),
    )

    with pytest.raises(SignatureError, match="window") as caught:
        provider.verify(channel(), request)
    assert caught.value.status == 403


def test_callback_for_another_corp_is_refused():
    request = callback(fixture("wecom_member_text.xml"), receive_id="wwffffffffffffffff")

    with pytest.raises(SignatureError, match="receive id"):
        provider.verify(channel(), request)


def test_body_without_encrypt_is_refused():
    request = callback(fixture("wecom_member_text.xml"))
    plain = WebhookRequest("POST", request.query, {}, fixture("wecom_member_text.xml"), NOW)

    with pytest.raises(SignatureError, match="Encrypt") as caught:
        provider.verify(channel(), plain)
    assert caught.value.status == 401


# --- parse ---------------------------------------------------------------------------------
SENDER = Sender(f"wecom_external_userid:{CORP_ID}", EXTERNAL_USERID)
OCCURRED_AT = dt.datetime(2023, 11, 14, 22, 15, 0, tzinfo=dt.UTC)


def test_parse_add_external_contact():
    plaintext = fixture("wecom_add_external_contact.xml")

    assert parse_fixture("wecom_add_external_contact.xml") == [
        InboundEvent(
            sender=SENDER,
            kind=EVENT_CONTACT_ADDED,
            external_id=hashlib.sha256(plaintext).hexdigest(),
            occurred_at=OCCURRED_AT,
            properties={"change_type": "add_external_contact", "state": "spring_fair"},
            staff_external_id="zhangsan",
            welcome_code="WELCOMECODE_abc123",
        )
    ]


def test_parse_add_half_external_contact():
    (event,) = parse_fixture("wecom_add_half_external_contact.xml")

    assert event.kind == EVENT_CONTACT_ADDED
    assert event.welcome_code == "WELCOMECODE_half"
    assert event.properties == {"change_type": "add_half_external_contact", "state": "poster_3"}


def test_parse_edit_external_contact():
    (event,) = parse_fixture("wecom_edit_external_contact.xml")

    assert event.kind == EVENT_CONTACT_UPDATED
    assert event.sender == SENDER
    assert event.staff_external_id == "zhangsan"
    assert event.properties == {"change_type": "edit_external_contact"}


@pytest.mark.parametrize(
    ("name", "properties"),
    [
        (
            "wecom_del_external_contact.xml",
            {"change_type": "del_external_contact", "source": "DELETE_BY_TRANSFER"},
        ),
        ("wecom_del_follow_user.xml", {"change_type": "del_follow_user"}),
    ],
)
def test_parse_removals(name, properties):
    (event,) = parse_fixture(name)

    assert event.kind == EVENT_CONTACT_REMOVED
    assert event.properties == properties
    assert event.welcome_code == ""


def test_parse_transfer_fail():
    (event,) = parse_fixture("wecom_transfer_fail.xml")

    assert event.kind == EVENT_OTHER
    assert event.properties == {"change_type": "transfer_fail", "fail_reason": "customer_refused"}


def test_messages_from_members_are_not_customer_messages():
    assert parse_fixture("wecom_member_text.xml") == []


def test_other_events_give_nothing():
    assert parse_fixture("wecom_change_external_chat.xml") == []


# --- check_send ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("month", "today", "reason"),
    [(4, 0, "a month"), (7, 0, "a month"), (2, 1, "a day")],
)
def test_bulk_sends_beyond_wecom_limits_are_refused(month, today, reason):
    context = SendContext(now=NOW, is_bulk=True, sent_this_month=month, sent_today=today)

    with pytest.raises(SendRefused, match=reason):
        provider.check_send(channel(), OutboundMessage(to=EXTERNAL_USERID, text="x"), context)


def test_bulk_send_within_limits_and_replies_are_allowed():
    message = OutboundMessage(to=EXTERNAL_USERID, text="x")

    provider.check_send(channel(), message, SendContext(now=NOW, is_bulk=True, sent_this_month=3))
    provider.check_send(channel(), message, SendContext(now=NOW, sent_this_month=9, sent_today=5))


def test_opted_out_customer_is_refused():
    with pytest.raises(SendRefused, match="opted out"):
        provider.check_send(
            channel(),
            OutboundMessage(to=EXTERNAL_USERID, text="x"),
            SendContext(now=NOW, opted_out=True),
        )


# --- send ----------------------------------------------------------------------------------
TOKEN_PATH = "/cgi-bin/gettoken"
WELCOME_PATH = "/cgi-bin/externalcontact/send_welcome_msg"
TEMPLATE_PATH = "/cgi-bin/externalcontact/add_msg_template"


def token_reply(token: str = "CORP_TOKEN_1"):
    return (200, {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})


def test_welcome_code_send_is_one_request_on_a_warm_token():
    with FakePlatform() as platform:
        platform.route("GET", TOKEN_PATH, token_reply())
        platform.route("POST", WELCOME_PATH, (200, {"errcode": 0, "errmsg": "ok"}))
        config = channel(api_base_url=platform.url)
        assert provider.test_connection(config).ok
        platform.calls.clear()
        message = OutboundMessage(
            to=EXTERNAL_USERID,
            text="欢迎光临！",
            properties={"welcome_code": "WELCOMECODE_abc123"},
        )

        result = provider.send(config, message)

    (call,) = platform.calls
    assert call.path == WELCOME_PATH
    assert call.query == {"access_token": "CORP_TOKEN_1"}
    assert call.json == {
        "welcome_code": "WELCOMECODE_abc123",
        "text": {"content": "欢迎光临！"},
    }
    assert result.provider_message_id == ""


def test_send_without_welcome_code_creates_a_single_customer_mass_message():
    with FakePlatform() as platform:
        platform.route("GET", TOKEN_PATH, token_reply())
        platform.route(
            "POST",
            TEMPLATE_PATH,
            (
                200,
                {
                    "errcode": 0,
                    "errmsg": "ok",
                    "fail_list": [],
                    "msgid": "msgGCAAAXtWyujaWJHDDGi0mAC",
                },
            ),
        )
        message = OutboundMessage(
            to=EXTERNAL_USERID, text="新品上市", properties={"sender": "zhangsan"}
        )

        result = provider.send(channel(api_base_url=platform.url), message)

    (token_call,) = platform.calls_to(TOKEN_PATH)
    assert token_call.query == {"corpid": CORP_ID, "corpsecret": "app-secret"}
    (call,) = platform.calls_to(TEMPLATE_PATH)
    assert call.json == {
        "chat_type": "single",
        "external_userid": [EXTERNAL_USERID],
        "text": {"content": "新品上市"},
        "sender": "zhangsan",
    }
    assert result.provider_message_id == "msgGCAAAXtWyujaWJHDDGi0mAC"


def test_customer_in_fail_list_is_a_permanent_failure():
    with FakePlatform() as platform:
        platform.route("GET", TOKEN_PATH, token_reply())
        platform.route(
            "POST",
            TEMPLATE_PATH,
            (200, {"errcode": 0, "errmsg": "ok", "fail_list": [EXTERNAL_USERID], "msgid": "m1"}),
        )

        with pytest.raises(PermanentError, match="cannot send to this customer"):
            provider.send(
                channel(api_base_url=platform.url), OutboundMessage(to=EXTERNAL_USERID, text="x")
            )


def test_token_is_cached_per_corp_and_agent():
    with FakePlatform() as platform:
        platform.route("GET", TOKEN_PATH, token_reply())
        platform.route("POST", TEMPLATE_PATH, (200, {"errcode": 0, "errmsg": "ok", "msgid": "m"}))
        message = OutboundMessage(to=EXTERNAL_USERID, text="x")

        provider.send(channel(api_base_url=platform.url), message)
        provider.send(channel(api_base_url=platform.url), message)
        provider.send(channel(api_base_url=platform.url, agent_id="1000003"), message)

    assert len(platform.calls_to(TOKEN_PATH)) == 2
    assert len(platform.calls_to(TEMPLATE_PATH)) == 3


@pytest.mark.parametrize("errcode", [42001, 40014])
def test_expired_token_is_refreshed_once(errcode):
    tokens = iter(["STALE", "FRESH"])

    def welcome(call):
        if call.query["access_token"] == "STALE":
            return (200, {"errcode": errcode, "errmsg": "access_token expired"})
        return (200, {"errcode": 0, "errmsg": "ok"})

    with FakePlatform() as platform:
        platform.route("GET", TOKEN_PATH, lambda call: token_reply(next(tokens)))
        platform.route("POST", WELCOME_PATH, welcome)
        message = OutboundMessage(to=EXTERNAL_USERID, text="hi", properties={"welcome_code": "W"})

        provider.send(channel(api_base_url=platform.url), message)

    assert [c.query["access_token"] for c in platform.calls_to(WELCOME_PATH)] == ["STALE", "FRESH"]


@pytest.mark.parametrize("errcode", [-1, 45009])
def test_busy_and_rate_limited_are_retryable(errcode):
    with FakePlatform() as platform:
        platform.route("GET", TOKEN_PATH, token_reply())
        platform.route("POST", TEMPLATE_PATH, (200, {"errcode": errcode, "errmsg": "busy"}))

        with pytest.raises(RetryableError, match=f"WeCom errcode {errcode}"):
            provider.send(
                channel(api_base_url=platform.url), OutboundMessage(to=EXTERNAL_USERID, text="x")
            )


def test_http_500_on_token_is_retryable():
    with FakePlatform() as platform:
        platform.route("GET", TOKEN_PATH, (503, "busy"))

        with pytest.raises(RetryableError, match="HTTP 503"):
            provider.send(
                channel(api_base_url=platform.url), OutboundMessage(to=EXTERNAL_USERID, text="x")
            )


def test_used_welcome_code_is_a_permanent_failure_with_errmsg():
    with FakePlatform() as platform:
        platform.route("GET", TOKEN_PATH, token_reply())
        platform.route(
            "POST",
            WELCOME_PATH,
            (200, {"errcode": 41051, "errmsg": "customer already begin chatting"}),
        )
        message = OutboundMessage(to=EXTERNAL_USERID, text="hi", properties={"welcome_code": "W"})

        with pytest.raises(PermanentError) as caught:
            provider.send(channel(api_base_url=platform.url), message)

    assert str(caught.value) == (
        "WeCom refused the request (error 41051): customer already begin chatting"
    )


def test_empty_message_is_refused_without_a_request():
    with FakePlatform() as platform, pytest.raises(PermanentError, match="need text"):
        provider.send(channel(api_base_url=platform.url), OutboundMessage(to=EXTERNAL_USERID))

    assert platform.calls == []


# --- test_connection & validate_config -----------------------------------------------------
def test_connection_failure_shows_the_errmsg():
    with FakePlatform() as platform:
        platform.route("GET", TOKEN_PATH, (200, {"errcode": 40001, "errmsg": "invalid credential"}))

        result = provider.test_connection(channel(api_base_url=platform.url))

    assert result.ok is False
    assert "invalid credential" in result.message


def test_validate_config():
    good = {
        "corp_id": CORP_ID,
        "agent_id": "1000002",
        "token": "abc123",
        "encoding_aes_key": AES_KEY,
    }

    assert provider.validate_config(good) == {}
    assert set(provider.validate_config({**good, "agent_id": "10x"})) == {"agent_id"}
    assert set(provider.validate_config({**good, "encoding_aes_key": "short"})) == {
        "encoding_aes_key"
    }
    assert set(provider.validate_config({**good, "token": "a b"})) == {"token"}
    required = {f.name for f in provider.config_fields if f.required}
    assert required == {"corp_id", "agent_id", "secret", "token", "encoding_aes_key"}
