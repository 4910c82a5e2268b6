"""The inbox end to end with a real provider (WhatsApp Cloud API): a signed webhook becomes a
conversation in the inbox; the agent's reply reaches a local server speaking the Graph API;
a failure shows its reason in the thread; the 24-hour window refuses free text with 409."""

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
from huike.channels.intake import contexts_clear
from huike.channels.models import Channel, OutboundDelivery
from huike.channels.registry import providers
from huike.channels.services import channel_create
from huike.channels.testing import FakePlatform
from huike.inbox.models import Conversation, Message

APP_SECRET = "wa-app-secret"
PHONE_NUMBER_ID = "106540352242922"
SEND_PATH = f"/v21.0/{PHONE_NUMBER_ID}/messages"
JSON = "application/json"

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        "whatsapp" not in {provider.kind for provider in providers()},
        reason="the WhatsApp provider (huike.channels.providers.meta) is not installed",
    ),
]


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


def _receive(channel: Channel, text: str, *, at: dt.datetime | None = None) -> None:
    """A signed Cloud API webhook with one text message, processed as a worker would."""
    sent = at or timezone.now()
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
        "messages": [
            {
                "from": "16505551234",
                "id": f"wamid.{int(sent.timestamp())}",
                "timestamp": str(int(sent.timestamp())),
                "type": "text",
                "text": {"body": text},
            }
        ],
    }
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1022", "changes": [{"field": "messages", "value": value}]}],
        }
    ).encode()
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = Client().post(
            f"/hooks/whatsapp/{channel.public_id}",
            data=body,
            content_type=JSON,
            headers={"X-Hub-Signature-256": f"sha256={digest}"},
        )
    assert response.status_code == 200


def test_an_inbound_message_shows_in_the_inbox_and_the_reply_reaches_the_platform(
    channel: Channel, platform: FakePlatform, owner_client: Client
) -> None:
    platform.route("POST", SEND_PATH, (200, {"messages": [{"id": "wamid.OUT1"}]}))
    _receive(channel, "Does it come in red?")
    conversation = Conversation.objects.get(channel=channel)
    listed = owner_client.get("/inbox/")
    assert [row.public_id for row in listed.context["page"].items] == [conversation.public_id]
    assert "Does it come in red?" in listed.content.decode()

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = owner_client.post(
            f"/inbox/{conversation.public_id}/reply/", {"text": "Yes, in red and blue."}
        )

    assert response.status_code == 302
    call = platform.calls_to(SEND_PATH)[0]
    assert (call.json["to"], call.json["text"]["body"]) == ("16505551234", "Yes, in red and blue.")
    delivery = OutboundDelivery.objects.get(channel=channel)
    assert (delivery.status, delivery.provider_message_id) == ("sent", "wamid.OUT1")
    thread = owner_client.get(f"/inbox/{conversation.public_id}/").content.decode()
    assert "Yes, in red and blue." in thread
    assert 'data-testid="delivery">Sent<' in thread


def test_a_permanent_failure_shows_the_platforms_reason_in_the_thread(
    channel: Channel, platform: FakePlatform, owner_client: Client
) -> None:
    error = {"error": {"message": "Recipient is not a valid WhatsApp user", "code": 131026}}
    platform.route("POST", SEND_PATH, (400, error))
    _receive(channel, "hello")
    conversation = Conversation.objects.get(channel=channel)
    with TestCase.captureOnCommitCallbacks(execute=True):
        owner_client.post(f"/inbox/{conversation.public_id}/reply/", {"text": "Hi!"})
    thread = owner_client.get(f"/inbox/{conversation.public_id}/").content.decode()
    assert "Failed: " in thread
    assert "not a valid WhatsApp user" in thread
    api = owner_client.get(f"/api/v1/conversations/{conversation.public_id}/messages").json()
    delivery: Any = api["items"][-1]["delivery"]
    assert delivery["status"] == "failed"
    assert "not a valid WhatsApp user" in delivery["error"]


def test_free_text_after_the_24_hour_window_is_refused_with_409_and_nothing_sent(
    channel: Channel, platform: FakePlatform, owner_client: Client
) -> None:
    _receive(channel, "hello", at=timezone.now() - dt.timedelta(hours=25))
    conversation = Conversation.objects.get(channel=channel)
    response = owner_client.post(
        f"/api/v1/conversations/{conversation.public_id}/messages", {"body": "Hi!"}, JSON
    )
    assert response.status_code == 409
    assert response.json()["detail"]
    assert not OutboundDelivery.objects.exists()
    assert not Message.objects.filter(direction="out").exists()
    assert not platform.calls
