import datetime as dt
import json
from pathlib import Path

import pytest

from huike.channels.base import (
    Attachment,
    ChannelContext,
    DeliveryReceipt,
    InboundMessage,
    OutboundMessage,
    SendContext,
    Sender,
    SendRefused,
    SignatureError,
    StoredDelivery,
    WebhookRequest,
)
from huike.channels.providers.meta import PROVIDERS, graph
from huike.channels.providers.meta.messenger import MessengerProvider
from huike.channels.providers.meta.whatsapp import WhatsAppProvider
from huike.channels.testing import FakePlatform
from huike.core.tasks import PermanentError, RetryableError

FIXTURES = Path(__file__).parents[1] / "providers" / "meta" / "fixtures"
NOW = dt.datetime(2025, 6, 8, 12, 0, tzinfo=dt.UTC)
PHONE_NUMBER_ID = "106540352242922"
PAGE_ID = "112233445566778"
APP_SECRET = "6c2b1f0e8d7a4b3c9e5f1a2b3c4d5e6f"

whatsapp = WhatsAppProvider()
messenger = MessengerProvider()


def whatsapp_channel(**config: str) -> ChannelContext:
    values = {
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token": "EAAG-token",
        "app_secret": APP_SECRET,
        "verify_token": "huike-verify",
        **config,
    }
    return ChannelContext(1, "ch_wa", 1, "whatsapp", "WhatsApp", values)


def messenger_channel(**config: str) -> ChannelContext:
    values = {
        "page_id": PAGE_ID,
        "page_access_token": "EAAP-token",
        "app_secret": APP_SECRET,
        "verify_token": "huike-verify",
        **config,
    }
    return ChannelContext(2, "ch_fb", 1, "messenger", "Messenger", values)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def post(body: bytes, signature: str | None) -> WebhookRequest:
    headers = {} if signature is None else {"x-hub-signature-256": signature}
    return WebhookRequest("POST", {}, headers, body, NOW)


def get(query: dict[str, str]) -> WebhookRequest:
    return WebhookRequest("GET", query, {}, b"", NOW)


def stored(delivery_key: str, body: bytes) -> StoredDelivery:
    return StoredDelivery(1, delivery_key, body, "application/json", {}, NOW)


def parse_all(provider, channel, body: bytes) -> list:
    request = post(body, graph.sign(APP_SECRET, body))
    items = []
    for delivery in provider.deliveries(channel, request):
        items.extend(provider.parse(channel, stored(delivery.dedupe_key, delivery.body)))
    return items


def test_providers_cover_both_kinds():
    assert [provider.kind for provider in PROVIDERS] == ["whatsapp", "messenger"]


# --- handshake and signature -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("provider", "channel"), [(whatsapp, whatsapp_channel()), (messenger, messenger_channel())]
)
def test_handshake_echoes_challenge_for_right_token(provider, channel):
    # given
    request = get(
        {"hub.mode": "subscribe", "hub.verify_token": "huike-verify", "hub.challenge": "1158201444"}
    )
    # when
    response = provider.handshake(channel, request)
    # then
    assert response is not None
    assert (response.status, response.body) == (200, b"1158201444")


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "huike-verify", "hub.challenge": "1"},
    ],
)
def test_handshake_refuses_wrong_token_or_mode(query):
    with pytest.raises(SignatureError) as caught:
        whatsapp.handshake(whatsapp_channel(), get(query))
    assert caught.value.status == 403


def test_handshake_ignores_other_requests():
    assert whatsapp.handshake(whatsapp_channel(), post(b"{}", None)) is None


def test_signature_matches_meta_scheme():
    # Meta's X-Hub-Signature-256 is "sha256=" + hex HMAC-SHA256(app secret, raw body); the
    # HMAC of "test" with key "secret" is a published vector of that function.
    assert graph.sign("secret", b"test") == (
        "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"
    )


def test_valid_signature_is_accepted():
    body = fixture("whatsapp_messages.json")
    whatsapp.verify(whatsapp_channel(), post(body, graph.sign(APP_SECRET, body)))


def test_tampered_body_is_refused():
    body = fixture("whatsapp_messages.json")
    signature = graph.sign(APP_SECRET, body)
    with pytest.raises(SignatureError) as caught:
        whatsapp.verify(whatsapp_channel(), post(body.replace(b"another", b"a cheaper"), signature))
    assert caught.value.status == 403


def test_wrong_secret_is_refused():
    body = fixture("messenger_events.json")
    with pytest.raises(SignatureError) as caught:
        messenger.verify(messenger_channel(), post(body, graph.sign("other-secret", body)))
    assert caught.value.status == 403


def test_missing_signature_is_401():
    with pytest.raises(SignatureError) as caught:
        whatsapp.verify(whatsapp_channel(), post(b"{}", None))
    assert caught.value.status == 401


# --- WhatsApp deliveries and parsing --------------------------------------------------------
def test_whatsapp_splits_messages_and_statuses_with_their_keys():
    # given
    channel = whatsapp_channel()
    messages = fixture("whatsapp_messages.json")
    statuses = fixture("whatsapp_statuses.json")
    # when
    message_keys = [d.dedupe_key for d in whatsapp.deliveries(channel, post(messages, None))]
    status_keys = [d.dedupe_key for d in whatsapp.deliveries(channel, post(statuses, None))]
    # then
    assert message_keys[0] == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    assert len(message_keys) == 9
    assert status_keys == [
        "status:wamid.OURS0001:sent",
        "status:wamid.OURS0001:delivered",
        "status:wamid.OURS0001:read",
        "status:wamid.OURS0002:failed",
    ]


def test_whatsapp_replayed_delivery_has_same_key():
    channel = whatsapp_channel()
    body = fixture("whatsapp_messages.json")
    first = whatsapp.deliveries(channel, post(body, None))
    again = whatsapp.deliveries(channel, post(body, None))
    assert [d.dedupe_key for d in first] == [d.dedupe_key for d in again]
    assert [d.body for d in first] == [d.body for d in again]


def test_whatsapp_ignores_another_phone_number():
    body = fixture("whatsapp_other_number.json")
    assert whatsapp.deliveries(whatsapp_channel(), post(body, None)) == []


def test_whatsapp_parses_each_message_type():
    # when
    items = parse_all(whatsapp, whatsapp_channel(), fixture("whatsapp_messages.json"))
    # then (the reaction is not used)
    assert len(items) == 8
    text, image, document, audio, video, location, interactive, button = items
    assert text == InboundMessage(
        sender=Sender(
            "whatsapp_id",
            "16505551234",
            "Sheena Nelson",
            other_identities=(("phone", "+16505551234"),),
        ),
        external_id="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        sent_at=dt.datetime(2025, 6, 8, 20, 59, 43, tzinfo=dt.UTC),
        text="Does it come in another color?",
    )
    assert image.sender.name == "李雷"
    assert image.sender.other_identities == (("phone", "+8613800138000"),)
    assert (image.content_type, image.text) == ("image", "这个")
    assert image.attachments == (
        Attachment("image", media_id="1003383421387256", mime_type="image/jpeg"),
    )
    assert document.attachments == (
        Attachment(
            "file", media_id="2003383421387256", name="invoice.pdf", mime_type="application/pdf"
        ),
    )
    assert (audio.content_type, audio.attachments[0].kind, audio.attachments[0].media_id) == (
        "voice",
        "voice",
        "3003383421387256",
    )
    assert (video.content_type, video.attachments[0].media_id) == ("video", "4003383421387256")
    assert location.content_type == "location"
    assert location.properties == {
        "latitude": 31.2304,
        "longitude": 121.4737,
        "label": "人民广场 上海市黄浦区",
    }
    assert (interactive.text, interactive.properties) == (
        "Yes, please",
        {"reply_id": "yes-please", "reply_to": "wamid.OURS0001"},
    )
    assert (button.text, button.properties) == ("Stop promotions", {"payload": "STOP_PROMOS"})


def test_whatsapp_statuses_become_receipts():
    items = parse_all(whatsapp, whatsapp_channel(), fixture("whatsapp_statuses.json"))
    assert items[:3] == [
        DeliveryReceipt("wamid.OURS0001", "sent", dt.datetime(2025, 6, 8, 21, 0, tzinfo=dt.UTC)),
        DeliveryReceipt(
            "wamid.OURS0001", "delivered", dt.datetime(2025, 6, 8, 21, 0, 1, tzinfo=dt.UTC)
        ),
        DeliveryReceipt("wamid.OURS0001", "read", dt.datetime(2025, 6, 8, 21, 0, 2, tzinfo=dt.UTC)),
    ]
    failed = items[3]
    assert (failed.provider_message_id, failed.status) == ("wamid.OURS0002", "failed")
    assert failed.error == (
        "131047 Re-engagement message: Message failed to send because more than 24 hours have "
        "passed since the customer last replied to this number."
    )


def test_whatsapp_unreadable_body_is_value_error():
    with pytest.raises(ValueError, match="not JSON"):
        whatsapp.deliveries(whatsapp_channel(), post(b"<xml/>", None))


# --- WhatsApp rules and sending ---------------------------------------------------------------
def test_whatsapp_free_form_allowed_inside_24_hours():
    context = SendContext(now=NOW, last_inbound_at=NOW - dt.timedelta(hours=23, minutes=59))
    whatsapp.check_send(whatsapp_channel(), OutboundMessage(to="16505551234", text="Yes"), context)


@pytest.mark.parametrize("last", [None, NOW - dt.timedelta(hours=24, seconds=1)])
def test_whatsapp_free_form_refused_outside_24_hours(last):
    context = SendContext(now=NOW, last_inbound_at=last)
    with pytest.raises(SendRefused, match="24 hours"):
        whatsapp.check_send(
            whatsapp_channel(), OutboundMessage(to="16505551234", text="Hi"), context
        )


def test_whatsapp_template_allowed_outside_window():
    context = SendContext(now=NOW, last_inbound_at=None)
    message = OutboundMessage(to="16505551234", template="order_update")
    whatsapp.check_send(whatsapp_channel(), message, context)


def test_whatsapp_refuses_opted_out():
    context = SendContext(now=NOW, last_inbound_at=NOW, opted_out=True)
    with pytest.raises(SendRefused, match="opted out"):
        whatsapp.check_send(whatsapp_channel(), OutboundMessage(to="1", template="t"), context)


MESSAGES_PATH = f"/v21.0/{PHONE_NUMBER_ID}/messages"


def test_whatsapp_sends_text():
    with FakePlatform() as platform:
        # given
        platform.route(
            "POST",
            MESSAGES_PATH,
            (
                200,
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": "16505551234", "wa_id": "16505551234"}],
                    "messages": [{"id": "wamid.SENT0001"}],
                },
            ),
        )
        # when
        result = whatsapp.send(
            whatsapp_channel(api_base_url=platform.url),
            OutboundMessage(to="+16505551234", text="Blue and red"),
        )
    # then
    assert result.provider_message_id == "wamid.SENT0001"
    call = platform.calls[0]
    assert call.headers["authorization"] == "Bearer EAAG-token"
    assert call.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"body": "Blue and red", "preview_url": False},
    }


def test_whatsapp_sends_template_with_language_and_parameters():
    with FakePlatform() as platform:
        platform.route(
            "POST",
            "/v20.0/" + PHONE_NUMBER_ID + "/messages",
            (200, {"messages": [{"id": "wamid.T1"}]}),
        )
        message = OutboundMessage(
            to="8613800138000",
            template="order_shipped",
            template_params={"2": "SF123456", "1": "李雷"},
        )
        whatsapp.send(whatsapp_channel(api_base_url=platform.url, api_version="v20.0"), message)
        english = OutboundMessage(to="1", template="hello_world", properties={"language": "en_US"})
        whatsapp.send(whatsapp_channel(api_base_url=platform.url, api_version="v20.0"), english)
    assert platform.calls[0].json["template"] == {
        "name": "order_shipped",
        "language": {"code": "zh_CN"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "李雷"},
                    {"type": "text", "text": "SF123456"},
                ],
            }
        ],
    }
    assert platform.calls[1].json["template"] == {
        "name": "hello_world",
        "language": {"code": "en_US"},
    }


def test_whatsapp_server_error_is_retryable():
    with FakePlatform() as platform:
        platform.route("POST", MESSAGES_PATH, (500, {"error": {"message": "boom", "code": 1}}))
        with pytest.raises(RetryableError):
            whatsapp.send(
                whatsapp_channel(api_base_url=platform.url), OutboundMessage(to="1", text="x")
            )


def test_whatsapp_pair_rate_limit_is_retryable():
    error = {
        "error": {
            "message": "(#131056) (Business Account, Consumer Account) pair rate limit hit",
            "type": "OAuthException",
            "code": 131056,
            "error_data": {"messaging_product": "whatsapp", "details": "Too many messages"},
        }
    }
    with FakePlatform() as platform:
        platform.route("POST", MESSAGES_PATH, (400, error))
        with pytest.raises(RetryableError, match="131056"):
            whatsapp.send(
                whatsapp_channel(api_base_url=platform.url), OutboundMessage(to="1", text="x")
            )


def test_whatsapp_invalid_recipient_is_permanent():
    error = {
        "error": {"message": "(#131030) Recipient phone number not in allowed list", "code": 131030}
    }
    with FakePlatform() as platform:
        platform.route("POST", MESSAGES_PATH, (400, error))
        with pytest.raises(PermanentError) as caught:
            whatsapp.send(
                whatsapp_channel(api_base_url=platform.url), OutboundMessage(to="1", text="x")
            )
    assert str(caught.value) == "(#131030) Recipient phone number not in allowed list [code 131030]"


def test_whatsapp_test_connection_reads_the_number():
    with FakePlatform() as platform:
        platform.route(
            "GET",
            f"/v21.0/{PHONE_NUMBER_ID}",
            (
                200,
                {
                    "verified_name": "Huike Demo",
                    "display_phone_number": "+1 555-078-3881",
                    "id": PHONE_NUMBER_ID,
                },
            ),
        )
        result = whatsapp.test_connection(whatsapp_channel(api_base_url=platform.url))
    assert result.ok
    assert result.message == "Connected to +1 555-078-3881 Huike Demo."


def test_whatsapp_test_connection_reports_bad_token():
    with FakePlatform() as platform:
        platform.route(
            "GET",
            f"/v21.0/{PHONE_NUMBER_ID}",
            (401, {"error": {"message": "Invalid OAuth access token.", "code": 190}}),
        )
        result = whatsapp.test_connection(whatsapp_channel(api_base_url=platform.url))
    assert not result.ok
    assert "Invalid OAuth access token." in result.message


# --- Messenger ---------------------------------------------------------------------------------
def test_messenger_deliveries_keep_messages_postbacks_and_delivery_receipts():
    keys = [
        d.dedupe_key
        for d in messenger.deliveries(
            messenger_channel(), post(fixture("messenger_events.json"), None)
        )
    ]
    # read watermarks, echoes of our sends and another page's traffic are not stored
    assert keys == [
        "m_text_0001",
        "m_image_0001",
        "m_postback_0001",
        "delivery:6789012345678901:1749416386000",
    ]


def test_messenger_replayed_delivery_has_same_key():
    body = fixture("messenger_events.json")
    first = messenger.deliveries(messenger_channel(), post(body, None))
    again = messenger.deliveries(messenger_channel(), post(body, None))
    assert [d.dedupe_key for d in first] == [d.dedupe_key for d in again]


def test_messenger_parses_messages_postbacks_and_receipts():
    # when
    items = parse_all(messenger, messenger_channel(), fixture("messenger_events.json"))
    # then
    sender = Sender(f"facebook_psid:{PAGE_ID}", "6789012345678901")
    text, image, postback, delivered_1, delivered_2 = items
    assert text == InboundMessage(
        sender=sender,
        external_id="m_text_0001",
        sent_at=dt.datetime(2025, 6, 8, 20, 59, 43, tzinfo=dt.UTC),
        text="你好 有货吗",
    )
    assert image.content_type == "image"
    assert image.attachments == (
        Attachment("image", url="https://scontent.xx.fbcdn.net/v/photo.jpg"),
    )
    assert (postback.text, postback.properties, postback.external_id) == (
        "Talk to sales",
        {"payload": "SALES"},
        "m_postback_0001",
    )
    at = dt.datetime(2025, 6, 8, 20, 59, 46, tzinfo=dt.UTC)
    assert [delivered_1, delivered_2] == [
        DeliveryReceipt("m_ours_0001", "delivered", at),
        DeliveryReceipt("m_ours_0002", "delivered", at),
    ]


def test_messenger_reply_allowed_inside_window():
    context = SendContext(now=NOW, last_inbound_at=NOW - dt.timedelta(hours=2))
    messenger.check_send(messenger_channel(), OutboundMessage(to="6789", text="Yes"), context)


def test_messenger_reply_outside_window_needs_a_tag():
    context = SendContext(now=NOW, last_inbound_at=NOW - dt.timedelta(days=2))
    with pytest.raises(SendRefused, match="HUMAN_AGENT"):
        messenger.check_send(messenger_channel(), OutboundMessage(to="6789", text="Hi"), context)
    tagged = OutboundMessage(to="6789", text="Hi", properties={"tag": "HUMAN_AGENT"})
    messenger.check_send(messenger_channel(), tagged, context)


def test_messenger_human_agent_tag_ends_after_7_days():
    context = SendContext(now=NOW, last_inbound_at=NOW - dt.timedelta(days=7, seconds=1))
    tagged = OutboundMessage(to="6789", text="Hi", properties={"tag": "HUMAN_AGENT"})
    with pytest.raises(SendRefused, match="7 days"):
        messenger.check_send(messenger_channel(), tagged, context)


def test_messenger_unknown_tag_is_refused():
    context = SendContext(now=NOW, last_inbound_at=None)
    tagged = OutboundMessage(to="6789", text="Hi", properties={"tag": "MARKETING"})
    with pytest.raises(SendRefused, match="MARKETING"):
        messenger.check_send(messenger_channel(), tagged, context)


def test_messenger_sends_response_and_tagged_messages():
    with FakePlatform() as platform:
        platform.route(
            "POST", "/v21.0/me/messages", (200, {"recipient_id": "6789", "message_id": "m_sent_1"})
        )
        channel = messenger_channel(api_base_url=platform.url)
        result = messenger.send(channel, OutboundMessage(to="6789", text="We do!"))
        messenger.send(
            channel, OutboundMessage(to="6789", text="Later", properties={"tag": "HUMAN_AGENT"})
        )
    assert result.provider_message_id == "m_sent_1"
    assert platform.calls[0].headers["authorization"] == "Bearer EAAP-token"
    assert platform.calls[0].json == {
        "recipient": {"id": "6789"},
        "messaging_type": "RESPONSE",
        "message": {"text": "We do!"},
    }
    assert platform.calls[1].json == {
        "recipient": {"id": "6789"},
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
        "message": {"text": "Later"},
    }


def test_messenger_rate_limit_is_retryable_and_window_error_permanent():
    with FakePlatform() as platform:
        platform.route(
            "POST",
            "/v21.0/me/messages",
            (
                400,
                {
                    "error": {
                        "message": "(#613) Calls to this api have exceeded the rate limit.",
                        "code": 613,
                    }
                },
            ),
        )
        with pytest.raises(RetryableError, match="613"):
            messenger.send(
                messenger_channel(api_base_url=platform.url), OutboundMessage(to="6789", text="x")
            )
        platform.route(
            "POST",
            "/v21.0/me/messages",
            (
                400,
                {
                    "error": {
                        "message": "(#10) This message is sent outside of allowed window.",
                        "code": 10,
                        "error_subcode": 2018278,
                    }
                },
            ),
        )
        with pytest.raises(PermanentError, match="outside of allowed window"):
            messenger.send(
                messenger_channel(api_base_url=platform.url), OutboundMessage(to="6789", text="x")
            )


def test_messenger_server_error_is_retryable():
    with FakePlatform() as platform:
        platform.route("POST", "/v21.0/me/messages", (503, "unavailable"))
        with pytest.raises(RetryableError):
            messenger.send(
                messenger_channel(api_base_url=platform.url), OutboundMessage(to="6789", text="x")
            )


def test_messenger_test_connection_reads_the_page():
    with FakePlatform() as platform:
        platform.route(
            "GET", f"/v21.0/{PAGE_ID}", (200, {"id": PAGE_ID, "name": "Huike Demo Page"})
        )
        result = messenger.test_connection(messenger_channel(api_base_url=platform.url))
    assert result.ok
    assert result.message == "Connected to the page Huike Demo Page."
    assert platform.calls[0].query == {"fields": "id,name"}


def test_fixture_bodies_are_valid_json():
    for path in FIXTURES.glob("*.json"):
        assert isinstance(json.loads(path.read_bytes()), dict)
