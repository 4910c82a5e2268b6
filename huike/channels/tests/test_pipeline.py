"""The channel pipeline end to end with a real provider (WhatsApp Cloud API): webhook intake,
deduplication, processing into customers, timeline events and inbox conversations, sending
through a local server that speaks the Graph API, retries, permanent failures, receipts."""

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, TestCase
from django.utils import timezone

from huike.accounts.access import Actor
from huike.channels import processing
from huike.channels.base import SendRefused
from huike.channels.intake import contexts_clear
from huike.channels.models import Channel, InboundDelivery, OutboundDelivery
from huike.channels.sending import OutboundContent, message_send
from huike.channels.services import channel_create, channel_set_active
from huike.channels.testing import FakePlatform
from huike.customers.models import Customer, Event, Identity
from huike.inbox.models import Conversation, Message, MessageDirection

APP_SECRET = "wa-app-secret"
PHONE_NUMBER_ID = "106540352242922"


@pytest.fixture(autouse=True)
def _fresh_contexts() -> Iterator[None]:
    contexts_clear()
    yield
    contexts_clear()


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    with FakePlatform() as fake:
        yield fake


@pytest.fixture
def channel(owner_actor: Actor, platform: FakePlatform) -> Channel:
    return channel_create(
        actor=owner_actor,
        kind="whatsapp",
        name="WhatsApp",
        config={
            "phone_number_id": PHONE_NUMBER_ID,
            "access_token": "token-1",
            "app_secret": APP_SECRET,
            "verify_token": "verify-me",
            "api_base_url": platform.url,
        },
    )


def _payload(*messages: dict[str, Any], statuses: list[dict[str, Any]] | None = None) -> bytes:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
    }
    if messages:
        value["contacts"] = [
            {"profile": {"name": "Sheena Nelson"}, "wa_id": message["from"]} for message in messages
        ]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = statuses
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1022", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


def _text(message_id: str, text: str, sender: str = "16505551234") -> dict[str, Any]:
    return {
        "from": sender,
        "id": message_id,
        "timestamp": str(int(timezone.now().timestamp())),
        "type": "text",
        "text": {"body": text},
    }


def _post(
    channel: Channel,
    body: bytes,
    *,
    secret: str = APP_SECRET,
    sign: bool = True,
    run_tasks: bool = True,
) -> Any:
    headers = {}
    if sign:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Hub-Signature-256"] = f"sha256={digest}"
    # The processing task enqueued on commit runs, as a worker would run it (unless the test
    # plays a worker that died: then the task is never run).
    with TestCase.captureOnCommitCallbacks(execute=run_tasks):
        return Client().post(
            f"/hooks/whatsapp/{channel.public_id}",
            data=body,
            content_type="application/json",
            headers=headers,
        )


@pytest.mark.django_db
def test_handshake_answers_the_challenge(channel: Channel) -> None:
    url = f"/hooks/whatsapp/{channel.public_id}"
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
    assert Client().get(url, {**query, "hub.verify_token": "verify-me"}).content == b"1158201444"
    assert Client().get(url, {**query, "hub.verify_token": "wrong"}).status_code == 403


@pytest.mark.django_db
def test_a_message_becomes_a_customer_an_event_and_a_conversation(channel: Channel) -> None:
    response = _post(channel, _payload(_text("wamid.A1", "Does it come in red?")))

    assert response.status_code == 200
    delivery = InboundDelivery.objects.get(channel=channel)
    assert delivery.status == InboundDelivery.Status.PROCESSED
    assert delivery.dedupe_key == "wamid.A1"
    assert b"come in red" not in bytes(delivery.body_token)  # stored encrypted
    customer = Customer.objects.get(workspace=channel.workspace)
    assert customer.name == "Sheena Nelson"
    assert customer.source_channel == "whatsapp"
    kinds = set(Identity.objects.filter(customer=customer).values_list("kind", flat=True))
    assert kinds == {"whatsapp_id", "phone"}
    event = Event.objects.get(customer=customer)
    assert event.kind == "message.received"
    assert event.properties["preview"] == "Does it come in red?"
    conversation = Conversation.objects.get(customer=customer)
    assert conversation.channel == channel
    assert conversation.identity is not None
    assert conversation.identity.kind == "whatsapp_id"
    assert conversation.unread_count == 1
    message = Message.objects.get(conversation=conversation)
    assert (message.direction, message.text) == (MessageDirection.INBOUND, "Does it come in red?")


@pytest.mark.django_db
def test_a_retried_delivery_produces_nothing_new(channel: Channel) -> None:
    body = _payload(_text("wamid.A1", "hello"))
    assert _post(channel, body).status_code == 200
    assert _post(channel, body).status_code == 200

    assert InboundDelivery.objects.filter(channel=channel).count() == 1
    assert Message.objects.filter(workspace=channel.workspace).count() == 1
    assert Event.objects.filter(workspace=channel.workspace).count() == 1


@pytest.mark.django_db
def test_a_second_message_joins_the_conversation(channel: Channel) -> None:
    _post(channel, _payload(_text("wamid.A1", "hello")))
    _post(channel, _payload(_text("wamid.A2", "anyone there?")))

    conversation = Conversation.objects.get(workspace=channel.workspace)
    assert conversation.unread_count == 2
    assert conversation.last_message_preview == "anyone there?"
    assert Customer.objects.filter(workspace=channel.workspace).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sign", "secret", "status"),
    [(False, APP_SECRET, 401), (True, "not-the-secret", 403)],
    ids=["unsigned", "wrong-secret"],
)
def test_a_request_that_fails_verification_stores_nothing(
    channel: Channel, sign: bool, secret: str, status: int
) -> None:
    response = _post(channel, _payload(_text("wamid.A1", "hello")), secret=secret, sign=sign)

    assert response.status_code == status
    assert not InboundDelivery.objects.exists()
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_a_tampered_body_is_refused(channel: Channel) -> None:
    body = _payload(_text("wamid.A1", "hello"))
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    tampered = body.replace(b"hello", b"HELLO")

    response = Client().post(
        f"/hooks/whatsapp/{channel.public_id}",
        data=tampered,
        content_type="application/json",
        headers={"X-Hub-Signature-256": f"sha256={digest}"},
    )

    assert response.status_code == 403
    assert not InboundDelivery.objects.exists()


@pytest.mark.django_db
def test_unknown_and_disabled_channels_answer_404(channel: Channel, owner_actor: Actor) -> None:
    body = _payload(_text("wamid.A1", "hello"))
    assert (
        Client()
        .post("/hooks/whatsapp/not-a-uuid", data=body, content_type="application/json")
        .status_code
        == 404
    )
    assert (
        Client()
        .post(f"/hooks/weibo/{channel.public_id}", data=body, content_type="application/json")
        .status_code
        == 404
    )
    channel_set_active(actor=owner_actor, channel=channel, active=False)
    assert _post(channel, body).status_code == 404
    assert not InboundDelivery.objects.exists()


@pytest.mark.django_db
def test_deliveries_whose_task_was_lost_are_processed_once_by_the_sweep(channel: Channel) -> None:
    # The worker died between intake and processing: the task never ran.
    assert _post(channel, _payload(_text("wamid.A1", "hello")), run_tasks=False).status_code == 200
    delivery = InboundDelivery.objects.get()
    assert delivery.status == InboundDelivery.Status.PENDING

    assert processing.deliveries_sweep() == 0  # too fresh: its own task may still come
    later = timezone.now() + dt.timedelta(minutes=1)
    assert processing.deliveries_sweep(now=later) == 1
    assert processing.deliveries_sweep(now=later) == 0

    delivery.refresh_from_db()
    assert delivery.status == InboundDelivery.Status.PROCESSED
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_a_processing_failure_keeps_the_delivery_for_another_try(channel: Channel) -> None:
    def broken(inbound: processing.Inbound) -> None:
        raise RuntimeError("the inbox is down")

    processing.register_inbound_sink("zz-broken", broken)
    try:
        _post(channel, _payload(_text("wamid.A1", "hello")), run_tasks=False)
        delivery = InboundDelivery.objects.get()
        with pytest.raises(RuntimeError):
            processing.delivery_process(delivery.pk)
    finally:
        processing._SINKS.pop("zz-broken")

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (InboundDelivery.Status.PENDING, 1)
    assert "the inbox is down" in delivery.error
    assert not Message.objects.exists()  # rolled back with the failed attempt
    assert processing.delivery_process(delivery.pk).status == "processed"
    assert Message.objects.count() == 1


# --- sending ---------------------------------------------------------------------------------
def _conversation(channel: Channel) -> Conversation:
    _post(channel, _payload(_text("wamid.IN1", "hello")))
    return Conversation.objects.select_related("identity", "customer").get(
        workspace=channel.workspace
    )


def _send(channel: Channel, conversation: Conversation, text: str = "Hi!") -> OutboundDelivery:
    assert conversation.identity is not None
    with TestCase.captureOnCommitCallbacks(execute=True):
        return message_send(
            channel=channel,
            customer=conversation.customer,
            identity=conversation.identity,
            content=OutboundContent(text=text),
            last_inbound_at=conversation.last_inbound_at,
        )


@pytest.mark.django_db
def test_sending_goes_to_the_platform_and_receipts_move_it_on(
    channel: Channel, platform: FakePlatform
) -> None:
    path = f"/v21.0/{PHONE_NUMBER_ID}/messages"
    platform.route("POST", path, (200, {"messages": [{"id": "wamid.OUT1"}]}))
    conversation = _conversation(channel)

    delivery = _send(channel, conversation)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_message_id) == ("sent", "wamid.OUT1")
    call = platform.calls_to(path)[0]
    assert call.json["to"] == "16505551234"
    assert call.json["text"]["body"] == "Hi!"
    assert call.headers["authorization"] == "Bearer token-1"

    now = str(int(timezone.now().timestamp()))
    read = {"id": "wamid.OUT1", "status": "read", "timestamp": now, "recipient_id": "16505551234"}
    _post(channel, _payload(statuses=[read]))
    late = {**read, "status": "delivered"}
    _post(channel, _payload(statuses=[late]))

    delivery.refresh_from_db()
    assert delivery.status == "read"  # a late "delivered" does not move it back
    assert delivery.read_at is not None
    assert delivery.delivered_at is not None


@pytest.mark.django_db
def test_a_retryable_failure_is_tried_again(channel: Channel, platform: FakePlatform) -> None:
    path = f"/v21.0/{PHONE_NUMBER_ID}/messages"
    answers = iter(
        [(503, {"error": {"message": "busy"}}), (200, {"messages": [{"id": "wamid.OK"}]})]
    )
    platform.route("POST", path, lambda call: next(answers))
    conversation = _conversation(channel)

    delivery = _send(channel, conversation)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert len(platform.calls_to(path)) == 2


@pytest.mark.django_db
def test_a_platform_that_stays_down_fails_the_message_after_the_last_attempt(
    channel: Channel, platform: FakePlatform
) -> None:
    path = f"/v21.0/{PHONE_NUMBER_ID}/messages"
    platform.route("POST", path, (500, {"error": {"message": "down"}}))
    conversation = _conversation(channel)

    delivery = _send(channel, conversation)

    delivery.refresh_from_db()
    assert delivery.status == OutboundDelivery.Status.FAILED
    assert delivery.attempts == 6
    assert "500" in delivery.error


@pytest.mark.django_db
def test_a_permanent_failure_is_not_retried_and_keeps_the_reason(
    channel: Channel, platform: FakePlatform
) -> None:
    path = f"/v21.0/{PHONE_NUMBER_ID}/messages"
    error = {"error": {"message": "Recipient is not a valid WhatsApp user", "code": 131026}}
    platform.route("POST", path, (400, error))
    conversation = _conversation(channel)

    delivery = _send(channel, conversation)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "not a valid WhatsApp user" in delivery.error
    assert len(platform.calls_to(path)) == 1


@pytest.mark.django_db
def test_a_send_the_platform_rules_forbid_is_refused_before_it_is_attempted(
    channel: Channel, platform: FakePlatform
) -> None:
    conversation = _conversation(channel)
    conversation.last_inbound_at = timezone.now() - dt.timedelta(hours=25)

    with pytest.raises(SendRefused):
        _send(channel, conversation)

    assert not OutboundDelivery.objects.exists()
    assert not platform.calls


@pytest.mark.django_db
def test_deliveries_past_retention_are_purged_but_pending_ones_stay(channel: Channel) -> None:
    _post(channel, _payload(_text("wamid.OLD", "old")))
    _post(channel, _payload(_text("wamid.WAIT", "waiting")), run_tasks=False)
    later = timezone.now() + dt.timedelta(days=31)

    assert processing.deliveries_purge(now=later) == 1

    assert list(InboundDelivery.objects.values_list("dedupe_key", flat=True)) == ["wamid.WAIT"]
    assert Message.objects.filter(text="old").exists()  # the conversation keeps what was said
