"""The website chat channel: the provider's frames, the visitors' websocket (stored, processed at
once, deduplicated, history, contact details, origins, rate limit, pictures) and the widget's
HTTP endpoints (script, translated settings, uploads and who may fetch them)."""

import datetime as dt
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.db import database_sync_to_async
from channels.layers import channel_layers, get_channel_layer
from django.test import Client
from django.utils import timezone, translation

from config.asgi import application
from huike.accounts.access import Actor
from huike.accounts.models import Workspace
from huike.channels import base
from huike.channels.models import Channel, InboundDelivery
from huike.channels.providers.webchat import WebchatProvider
from huike.channels.services import channel_create
from huike.core.crypto import workspace_keys
from huike.customers.identities import identities_find, identity_key, identity_value
from huike.customers.models import Customer, CustomerMerge, Event, Identity, MergeCandidate
from huike.customers.services import CustomerData, customer_create
from huike.inbox import realtime
from huike.inbox.models import (
    AgentPresence,
    AgentState,
    Conversation,
    Message,
    RealtimeNotice,
)
from tests.support import WebsocketCommunicator

FIXTURES = Path(__file__).resolve().parents[2] / "channels" / "providers" / "webchat" / "fixtures"
VISITOR = "8f14e45fceea167a5a36dedd4bea2543"
OTHER_VISITOR = "0" * 31 + "1"
ORIGIN = "https://shop.example.com"
PROVIDER = WebchatProvider()
# How long a test waits for a frame before it fails (not a measurement).
TIMEOUT = 5.0


def fixture_delivery(name: str) -> base.StoredDelivery:
    body = (FIXTURES / name).read_bytes()
    return base.StoredDelivery(
        id=1,
        dedupe_key="k",
        body=body,
        content_type="application/json",
        meta={},
        received_at=dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC),
    )


def webchat_context(**config: str) -> base.ChannelContext:
    return base.ChannelContext(
        channel_id=1,
        public_id="5b2f7f4e-3c1a-4d7e-9a55-0c6a1f6b2d10",
        workspace_id=1,
        kind="webchat",
        name="Site",
        config=config,
    )


def webchat_create(workspace: Workspace, actor: Actor, **config: str) -> Channel:
    return channel_create(actor=actor, kind="webchat", name="Website", config=config)


def run(scenario: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Drive an async scenario from a sync test (pytest-asyncio is not installed); the
    ORM calls inside it run on this thread, in the test's database."""
    return async_to_sync(scenario)(*args)


async def visitor_socket(
    channel: Channel, visitor: str = "", origin: str = ORIGIN, lang: str = "en"
) -> tuple[WebsocketCommunicator, bool]:
    query = f"?lang={lang}" + (f"&visitor={visitor}" if visitor else "")
    communicator = WebsocketCommunicator(
        application,
        f"/ws/webchat/{channel.public_key}/{query}",
        headers=[(b"origin", origin.encode()), (b"host", b"testserver")],
    )
    connected, _code = await communicator.connect()
    return communicator, connected


async def visitor_open(channel: Channel, visitor: str = VISITOR) -> WebsocketCommunicator:
    communicator, connected = await visitor_socket(channel, visitor)
    assert connected
    welcome = await communicator.receive_json_from()
    assert welcome["type"] == "welcome"
    history = await communicator.receive_json_from()
    assert history["type"] == "history"
    return communicator


@pytest.fixture(autouse=True)
def fresh_layer() -> Iterator[None]:
    """Each test's event loop gets its own in-memory layer (queues belong to one loop)."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def private_dir(settings: Any, tmp_path: Path) -> Path:
    settings.HUIKE_PRIVATE_DIR = str(tmp_path / "private")
    return tmp_path / "private"


# --- the provider ------------------------------------------------------------------------------
def test_message_frame_parses_to_a_message_from_the_web_visitor() -> None:
    # given the stored frame of a visitor's message
    delivery = fixture_delivery("message.json")
    # when it is parsed
    [item] = PROVIDER.parse(webchat_context(), delivery)
    # then it is a text message from the visitor's id, keyed by visitor and client id
    assert isinstance(item, base.InboundMessage)
    assert item.sender.identity_kind == "web_visitor_id"
    assert item.sender.identity_value == VISITOR
    assert item.sender.locale == "zh-hans"
    assert item.external_id == f"{VISITOR}:c0ffee0001"
    assert item.text == json.loads((FIXTURES / "message.json").read_text())["text"]
    assert item.text.startswith("你好")
    assert item.sent_at == delivery.received_at


def test_image_frame_parses_to_an_image_message() -> None:
    [item] = PROVIDER.parse(webchat_context(), fixture_delivery("image.json"))
    assert isinstance(item, base.InboundMessage)
    assert item.content_type == "image"
    [attachment] = item.attachments
    assert attachment.kind == "image"
    assert attachment.url.endswith("/files/0123456789abcdef0123456789abcdef")
    assert (attachment.mime_type, attachment.size, attachment.name) == (
        "image/png",
        68,
        "receipt.png",
    )


def test_contact_frame_parses_to_an_event_carrying_email_and_phone() -> None:
    [item] = PROVIDER.parse(webchat_context(), fixture_delivery("contact.json"))
    assert isinstance(item, base.InboundEvent)
    assert item.kind == base.EVENT_OTHER
    assert item.properties == {"action": "contact_left"}
    assert item.sender.identity_value == VISITOR
    assert item.sender.name == "Li Lei"
    # what the visitor typed is not vouched for by the widget, unlike the visitor id
    assert item.sender.typed_identities == (
        ("email", "li.lei@example.com"),
        ("phone", "+8613912345678"),
    )
    assert item.sender.other_identities == ()


def _frame_body(**fields: str) -> bytes:
    return json.dumps({"visitor_id": VISITOR, "client_id": "c0ffee0001", **fields}).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not a webchat frame"),
        (_frame_body(type="message", visitor_id="short", text="x"), "visitor id"),
        (_frame_body(type="message", client_id="x", text="x"), "client id"),
        (_frame_body(type="message", text=" "), "without text"),
        (_frame_body(type="contact"), "without an email or a phone"),
        (_frame_body(type="image"), "without a url"),
        (_frame_body(type="shout"), "not a webchat frame"),
    ],
)
def test_unreadable_frames_are_refused(body: bytes, reason: str) -> None:
    delivery = base.StoredDelivery(1, "k", body, "application/json", {}, timezone.now())
    with pytest.raises(ValueError, match=reason):
        PROVIDER.parse(webchat_context(), delivery)


def test_configuration_checks_size_and_origins() -> None:
    errors = PROVIDER.validate_config(
        {"max_upload_mb": "500", "allowed_origins": "shop.example.com"}
    )
    assert set(errors) == {"max_upload_mb", "allowed_origins"}
    assert PROVIDER.validate_config({"max_upload_mb": "5", "allowed_origins": ORIGIN}) == {}
    assert PROVIDER.receives_webhooks is False
    assert PROVIDER.test_connection(webchat_context()).ok


def test_send_to_an_opted_out_visitor_is_refused() -> None:
    context = base.SendContext(now=timezone.now(), opted_out=True)
    with pytest.raises(base.SendRefused):
        PROVIDER.check_send(webchat_context(), base.OutboundMessage(to=VISITOR, text="hi"), context)
    PROVIDER.check_send(
        webchat_context(),
        base.OutboundMessage(to=VISITOR, text="hi"),
        base.SendContext(now=timezone.now()),
    )


@pytest.mark.django_db(transaction=True)
def test_send_pushes_the_reply_to_the_visitors_group() -> None:
    # given a socket listening in the visitor's group
    context = webchat_context()

    async def scenario() -> dict[str, Any]:
        layer = get_channel_layer()
        listener = await layer.new_channel()
        await layer.group_add(realtime.visitor_group(context.public_id, VISITOR), listener)
        # when the provider sends the agent's reply
        result = await sync_to_async(PROVIDER.send)(
            context, base.OutboundMessage(to=VISITOR, text="Yes, today.", reference="ref-1")
        )
        assert (result.status, result.provider_message_id) == ("delivered", "ref-1")
        return dict(await layer.receive(listener))

    # then the visitor's widget gets the text
    received = run(scenario)
    assert received["event"]["type"] == "message"
    assert received["event"]["text"] == "Yes, today."
    assert received["event"]["id"] == "ref-1"


@pytest.mark.django_db
def test_send_from_the_worker_in_embedded_mode_writes_a_notice(monkeypatch: Any) -> None:
    # given a process that is not the web process, with the in-memory layer
    monkeypatch.setattr(realtime, "_web_process", False)
    context = webchat_context()
    # when the provider sends
    PROVIDER.send(context, base.OutboundMessage(to=VISITOR, text="Later", reference="ref-2"))
    # then the reply waits as a notice for the web process to relay
    notice = RealtimeNotice.objects.get()
    assert notice.group == realtime.visitor_group(context.public_id, VISITOR)
    assert notice.payload["text"] == "Later"


# --- the visitors' websocket --------------------------------------------------------------------
pytestmark_db = pytest.mark.django_db(transaction=True)


@pytestmark_db
def test_a_visitor_without_an_id_gets_one(workspace: Workspace, owner_actor: Actor) -> None:
    channel = webchat_create(workspace, owner_actor)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        communicator, connected = await visitor_socket(channel, visitor="not-a-valid-id")
        assert connected
        welcome = await communicator.receive_json_from()
        history = await communicator.receive_json_from()
        await communicator.disconnect()
        return welcome, history

    welcome, history = run(scenario)
    assert len(welcome["visitor_id"]) == 32
    assert welcome["visitor_id"] != "not-a-valid-id"
    int(welcome["visitor_id"], 16)
    assert history == {"type": "history", "messages": []}


@pytestmark_db
def test_a_visitors_message_becomes_a_conversation_the_agents_hear_of(
    workspace: Workspace, owner_actor: Actor
) -> None:
    # given a website chat and an agent group listener
    channel = webchat_create(workspace, owner_actor)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        layer = get_channel_layer()
        agents = await layer.new_channel()
        await layer.group_add(realtime.workspace_group(workspace.pk), agents)
        visitor = await visitor_open(channel)
        # when the visitor writes
        await visitor.send_json_to({"type": "message", "client_id": "msg-00001", "text": "Hello"})
        ack = await visitor.receive_json_from()
        heard = dict(await layer.receive(agents))
        await visitor.disconnect()
        return ack, heard

    ack, heard = run(scenario)
    # then the inbox has it: a conversation on the visitor's identity, the message, the event
    message = Message.objects.get(public_id=ack["id"])
    assert (message.direction, message.text) == ("in", "Hello")
    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert conversation.channel_id == channel.pk
    key = identity_key("web_visitor_id", VISITOR)
    identity = identities_find(keys=workspace_keys(workspace.pk), identity_keys=[key])[key.slot]
    assert conversation.identity_id == identity.pk
    assert (
        Event.objects.filter(customer=conversation.customer, kind="message.received").count() == 1
    )
    assert InboundDelivery.objects.get().status == InboundDelivery.Status.PROCESSED
    # and the agents were told by public ids, without the text
    assert heard["event"] == {
        "type": "message.created",
        "conversation_id": str(conversation.public_id),
        "message_id": str(message.public_id),
        "direction": "in",
    }
    assert ack["duplicate"] is False


@pytestmark_db
def test_a_replayed_client_id_produces_nothing_new(
    workspace: Workspace, owner_actor: Actor
) -> None:
    channel = webchat_create(workspace, owner_actor)

    async def scenario() -> list[dict[str, Any]]:
        visitor = await visitor_open(channel)
        acks = []
        for _ in range(2):
            await visitor.send_json_to({"type": "message", "client_id": "same-0001", "text": "Hi"})
            acks.append(await visitor.receive_json_from())
        await visitor.disconnect()
        return acks

    first, second = run(scenario)
    assert first["duplicate"] is False
    assert second == {"type": "ack", "client_id": "same-0001", "duplicate": True}
    assert Message.objects.count() == 1
    assert InboundDelivery.objects.count() == 1
    assert Event.objects.filter(kind="message.received").count() == 1


@pytestmark_db
def test_contact_details_attach_to_the_visitor(workspace: Workspace, owner_actor: Actor) -> None:
    channel = webchat_create(workspace, owner_actor)

    async def scenario() -> dict[str, Any]:
        visitor = await visitor_open(channel)
        await visitor.send_json_to({"type": "message", "client_id": "msg-00001", "text": "Hi"})
        await visitor.receive_json_from()
        await visitor.send_json_to(
            {"type": "contact", "client_id": "contact-01", "email": "Li.Lei@Example.com"}
        )
        ack = await visitor.receive_json_from()
        await visitor.disconnect()
        return ack

    ack = run(scenario)
    assert ack["type"] == "ack"
    customer = Conversation.objects.get().customer
    keys = workspace_keys(workspace.pk)
    email = identity_key("email", "li.lei@example.com")
    visitor = identity_key("web_visitor_id", VISITOR)
    found = identities_find(keys=keys, identity_keys=[email, visitor])
    assert found[email.slot].customer_id == customer.pk
    assert found[visitor.slot].customer_id == customer.pk
    assert Event.objects.get(customer=customer, kind=base.EVENT_OTHER).properties["action"] == (
        "contact_left"
    )


def _identities_of(customer: Customer) -> list[tuple[str, str]]:
    keys = workspace_keys(customer.workspace_id)
    return sorted(
        (identity.kind, identity_value(identity, keys))
        for identity in Identity.objects.filter(customer=customer)
    )


def _known_customer(owner_actor: Actor) -> Customer:
    return customer_create(
        actor=owner_actor,
        data=CustomerData(name="Han Meimei"),
        identity_keys=[
            identity_key("email", "han.meimei@example.com"),
            identity_key("phone", "13912340099"),
        ],
    )


@pytestmark_db
def test_a_visitor_typing_a_known_customers_email_stays_their_own_customer(
    workspace: Workspace, owner_actor: Actor
) -> None:
    # given a known customer and a visitor who has written
    known = _known_customer(owner_actor)
    channel = webchat_create(workspace, owner_actor)
    contact = {"type": "contact", "client_id": "contact-01", "email": "Han.Meimei@Example.com"}

    async def scenario() -> list[dict[str, Any]]:
        visitor = await visitor_open(channel)
        await visitor.send_json_to({"type": "message", "client_id": "msg-00001", "text": "Hi"})
        await visitor.receive_json_from()
        # when the visitor types the known customer's e-mail, and the frame is sent twice
        acks = []
        for _ in range(2):
            await visitor.send_json_to(contact)
            acks.append(await visitor.receive_json_from())
        await visitor.disconnect()
        return acks

    first, second = run(scenario)
    # then the visitor is still their own customer, and nobody was merged
    assert (first["type"], first["duplicate"]) == ("ack", False)
    assert second == {"type": "ack", "client_id": "contact-01", "duplicate": True}
    conversation = Conversation.objects.get()
    visitor = conversation.customer
    assert visitor.pk != known.pk
    assert CustomerMerge.objects.count() == 0
    known.refresh_from_db()
    visitor.refresh_from_db()
    assert (known.status, visitor.status) == (Customer.Status.ACTIVE, Customer.Status.ACTIVE)
    assert _identities_of(known) == [
        ("email", "han.meimei@example.com"),
        ("phone", "+8613912340099"),
    ]
    assert _identities_of(visitor) == [("web_visitor_id", VISITOR)]
    # and a person is asked about the pair once; the contact event is the visitor's, once
    candidate = MergeCandidate.objects.get()
    assert {candidate.first_id, candidate.second_id} == {known.pk, visitor.pk}
    assert (candidate.matched_kinds, candidate.source) == ("email", "channel:webchat")
    assert list(Event.objects.filter(kind=base.EVENT_OTHER).values_list("customer", flat=True)) == [
        visitor.pk
    ]
    assert list(Event.objects.filter(customer=known).values_list("kind", flat=True)) == [
        "customer.created"
    ]
    assert InboundDelivery.objects.filter(channel=channel).count() == 2


@pytestmark_db
def test_a_new_visitor_leaving_a_known_phone_becomes_a_customer_of_its_own(
    workspace: Workspace, owner_actor: Actor
) -> None:
    # given a known customer and a visitor nobody has seen
    known = _known_customer(owner_actor)
    channel = webchat_create(workspace, owner_actor)

    async def scenario() -> dict[str, Any]:
        visitor = await visitor_open(channel)
        # when their first frame leaves the known customer's phone and a fresh e-mail
        await visitor.send_json_to(
            {
                "type": "contact",
                "client_id": "contact-01",
                "phone": "139 1234 0099",
                "email": "new.visitor@example.com",
                "name": "Someone",
            }
        )
        ack = await visitor.receive_json_from()
        await visitor.disconnect()
        return ack

    ack = run(scenario)
    # then the visitor is a new customer with their id and the e-mail nobody held
    assert ack["type"] == "ack"
    visitor = Event.objects.get(kind=base.EVENT_OTHER).customer
    assert visitor.pk != known.pk
    assert visitor.name == "Someone"
    assert _identities_of(visitor) == [
        ("email", "new.visitor@example.com"),
        ("web_visitor_id", VISITOR),
    ]
    assert _identities_of(known) == [
        ("email", "han.meimei@example.com"),
        ("phone", "+8613912340099"),
    ]
    candidate = MergeCandidate.objects.get()
    assert {candidate.first_id, candidate.second_id} == {known.pk, visitor.pk}
    assert candidate.matched_kinds == "phone"
    assert CustomerMerge.objects.count() == 0


@pytestmark_db
def test_a_contact_frame_with_a_bad_email_is_refused_in_the_visitors_language(
    workspace: Workspace, owner_actor: Actor
) -> None:
    channel = webchat_create(workspace, owner_actor)

    async def scenario() -> dict[str, Any]:
        communicator, _connected = await visitor_socket(channel, VISITOR, lang="zh-hans")
        await communicator.receive_json_from()
        await communicator.receive_json_from()
        await communicator.send_json_to(
            {"type": "contact", "client_id": "contact-01", "email": "x@"}
        )
        error = await communicator.receive_json_from()
        await communicator.disconnect()
        return error

    error = run(scenario)
    with translation.override("zh-hans"):
        expected = translation.gettext("Enter a valid email address.")
    assert error == {
        "type": "error",
        "code": "invalid",
        "message": expected,
        "client_id": "contact-01",
    }
    assert expected != "Enter a valid email address."
    assert InboundDelivery.objects.count() == 0


@pytestmark_db
def test_the_visitor_gets_the_agents_reply_at_once_and_the_history_later(
    workspace: Workspace, owner_actor: Actor
) -> None:
    # given a visitor who wrote and is still connected
    from huike.inbox.services import note_add, reply_send

    channel = webchat_create(workspace, owner_actor)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        visitor = await visitor_open(channel)
        await visitor.send_json_to({"type": "message", "client_id": "msg-00001", "text": "Hi"})
        await visitor.receive_json_from()

        def answer() -> None:
            conversation = Conversation.objects.get()
            reply_send(actor=owner_actor, conversation=conversation, text="Hello, how can I help?")
            note_add(actor=owner_actor, conversation=conversation, text="VIP, be nice")

        # when an agent replies (and writes an internal note)
        await database_sync_to_async(answer)()
        pushed = await visitor.receive_json_from()
        await visitor.disconnect()
        # and the visitor comes back later
        again = await visitor_socket(channel, VISITOR)
        await again[0].receive_json_from()
        history = await again[0].receive_json_from()
        await again[0].disconnect()
        return pushed, history

    pushed, history = run(scenario)
    # then the reply was pushed, and the history has both sides but not the note
    assert pushed["type"] == "message"
    assert pushed["text"] == "Hello, how can I help?"
    assert [(m["from"], m["text"]) for m in history["messages"]] == [
        ("visitor", "Hi"),
        ("agent", "Hello, how can I help?"),
    ]


@pytestmark_db
def test_a_reply_reaches_the_visitor_with_no_worker_running(
    workspace: Workspace, owner_actor: Actor, settings: Any
) -> None:
    # given the database queue with no worker to run it, and a connected visitor
    from django_tasks_db.models import DBTaskResult

    from huike.channels.models import OutboundDelivery
    from huike.inbox.services import reply_send

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    channel = webchat_create(workspace, owner_actor)

    async def scenario() -> dict[str, Any]:
        visitor = await visitor_open(channel)
        await visitor.send_json_to({"type": "message", "client_id": "msg-00001", "text": "Hi"})
        await visitor.receive_json_from()

        def answer() -> None:
            reply_send(actor=owner_actor, conversation=Conversation.objects.get(), text="Hello")

        # when an agent replies
        await database_sync_to_async(answer)()
        pushed = await visitor.receive_json_from()
        await visitor.disconnect()
        return dict(pushed)

    pushed = run(scenario)
    # then the process that queued the reply sent it: nothing waits for a worker
    assert pushed["text"] == "Hello"
    delivery = OutboundDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert not DBTaskResult.objects.filter(task_path__endswith="send_delivery").exists()


@pytestmark_db
def test_sockets_from_other_websites_are_refused(workspace: Workspace, owner_actor: Actor) -> None:
    channel = webchat_create(workspace, owner_actor, allowed_origins=f"{ORIGIN}, https://b.example")

    async def scenario() -> tuple[bool, bool, bool]:
        _refused, refused_ok = await visitor_socket(channel, VISITOR, origin="https://evil.example")
        allowed, allowed_ok = await visitor_socket(channel, VISITOR, origin="https://b.example")
        await allowed.disconnect()
        unknown = WebsocketCommunicator(application, "/ws/webchat/NoSuchKey1234/")
        unknown_ok, _code = await unknown.connect()
        return refused_ok, allowed_ok, unknown_ok

    assert run(scenario) == (False, True, False)


@pytestmark_db
def test_a_visitor_sending_too_fast_gets_an_error_frame(
    workspace: Workspace, owner_actor: Actor, monkeypatch: Any
) -> None:
    from huike.inbox.webchat import service

    monkeypatch.setattr(service, "RATE_LIMIT", 2)
    channel = webchat_create(workspace, owner_actor)

    async def scenario() -> list[dict[str, Any]]:
        visitor = await visitor_open(channel)
        replies = []
        for number in range(5):
            await visitor.send_json_to(
                {"type": "message", "client_id": f"fast-{number:04d}", "text": "spam"}
            )
            replies.append(await visitor.receive_json_from())
        await visitor.disconnect()
        return replies

    replies = run(scenario)
    errors = [reply for reply in replies if reply["type"] == "error"]
    assert errors
    assert errors[0]["code"] == "rate_limited"
    assert Message.objects.count() == len(replies) - len(errors)


@pytestmark_db
def test_a_picture_is_sent_by_its_upload_token_only_by_its_uploader(
    workspace: Workspace, owner_actor: Actor, private_dir: Path
) -> None:
    channel = webchat_create(workspace, owner_actor)
    client = Client()
    with (FIXTURES / "pixel.png").open("rb") as handle:
        uploaded = client.post(
            f"/webchat/{channel.public_key}/upload", {"visitor": VISITOR, "file": handle}
        ).json()

    async def scenario(visitor_id: str) -> dict[str, Any]:
        visitor = await visitor_open(channel, visitor_id)
        await visitor.send_json_to(
            {"type": "image", "client_id": "pic-00001", "token": uploaded["token"]}
        )
        reply = await visitor.receive_json_from()
        await visitor.disconnect()
        return reply

    # another visitor cannot send it
    assert run(scenario, OTHER_VISITOR)["type"] == "error"
    # its uploader can
    reply = run(scenario, VISITOR)
    assert reply["type"] == "ack"
    message = Message.objects.get(public_id=reply["id"])
    assert message.content_type == "image"
    assert message.attachments[0]["url"] == uploaded["url"]
    assert message.attachments[0]["mime_type"] == "image/png"


# --- HTTP endpoints ----------------------------------------------------------------------------
def test_the_widget_script_is_served_cacheable(client: Client) -> None:
    response = client.get("/webchat/widget.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert "max-age" in response["Cache-Control"]
    assert b"/ws/webchat/" in response.content
    assert client.get("/webchat/widget.css").status_code == 200


@pytest.mark.django_db
def test_config_is_translated_per_language(
    client: Client, workspace: Workspace, owner_actor: Actor
) -> None:
    channel = webchat_create(workspace, owner_actor, welcome_text="Welcome!", max_upload_mb="3")
    english = client.get(f"/webchat/{channel.public_key}/config?lang=en").json()
    chinese = client.get(f"/webchat/{channel.public_key}/config?lang=zh-hans").json()
    assert english["language"] == "en"
    assert chinese["language"] == "zh-hans"
    assert english["strings"]["invalid_email"] == "Enter a valid email address."
    with translation.override("zh-hans"):
        expected = translation.gettext("Enter a valid email address.")
    assert chinese["strings"]["invalid_email"] == expected
    assert any("\u4e00" <= character <= "\u9fff" for character in expected)
    assert (english["welcome_text"], english["max_upload_mb"], english["online"]) == (
        "Welcome!",
        3,
        False,
    )


@pytest.mark.django_db
def test_config_says_online_when_an_agent_is(
    client: Client, workspace: Workspace, owner_actor: Actor
) -> None:
    channel = webchat_create(workspace, owner_actor)
    AgentState.objects.create(
        workspace=workspace,
        membership=owner_actor.membership,
        presence=AgentPresence.ONLINE,
        last_seen_at=timezone.now(),
    )
    assert client.get(f"/webchat/{channel.public_key}/config").json()["online"] is True
    AgentState.objects.update(last_seen_at=timezone.now() - dt.timedelta(hours=1))
    assert client.get(f"/webchat/{channel.public_key}/config").json()["online"] is False


@pytest.mark.django_db
def test_config_answers_allowed_origins_only(
    client: Client, workspace: Workspace, owner_actor: Actor
) -> None:
    channel = webchat_create(workspace, owner_actor, allowed_origins=ORIGIN)
    url = f"/webchat/{channel.public_key}/config"
    allowed = client.get(url, headers={"Origin": ORIGIN})
    assert allowed.status_code == 200
    assert allowed["Access-Control-Allow-Origin"] == ORIGIN
    assert client.get(url, headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.get("/webchat/NoSuchKey1234/config").status_code == 404
    Channel.objects.filter(pk=channel.pk).update(is_active=False)
    assert client.get(url, headers={"Origin": ORIGIN}).status_code == 404


@pytest.mark.django_db
def test_uploads_take_pictures_only_within_the_size_limit(
    client: Client, workspace: Workspace, owner_actor: Actor, private_dir: Path, tmp_path: Path
) -> None:
    channel = webchat_create(workspace, owner_actor, max_upload_mb="1")
    url = f"/webchat/{channel.public_key}/upload"
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"<script>alert(1)</script>")
    large = tmp_path / "large.png"
    large.write_bytes((FIXTURES / "pixel.png").read_bytes() + b"\0" * (1024 * 1024))
    with fake.open("rb") as handle:
        wrong_type = client.post(url, {"visitor": VISITOR, "file": handle})
    with large.open("rb") as handle:
        too_large = client.post(url, {"visitor": VISITOR, "file": handle})
    with (FIXTURES / "pixel.png").open("rb") as handle:
        no_visitor = client.post(url, {"visitor": "me", "file": handle})
    assert wrong_type.status_code == 415
    assert too_large.status_code == 413
    assert no_visitor.status_code == 400
    assert "1 MB" in wrong_type.json()["message"]
    assert not (private_dir / "webchat").exists()


@pytest.mark.django_db
def test_an_uploaded_picture_is_served_to_its_visitor_and_the_workspaces_agents(
    client: Client,
    workspace: Workspace,
    owner_actor: Actor,
    private_dir: Path,
    owner_client: Client,
    outsider_client: Client,
    make_member: Any,
) -> None:
    # given a picture a visitor uploaded
    channel = webchat_create(workspace, owner_actor)
    with (FIXTURES / "pixel.png").open("rb") as handle:
        response = client.post(
            f"/webchat/{channel.public_key}/upload", {"visitor": VISITOR, "file": handle}
        )
    assert response.status_code == 201
    url = response.json()["url"]
    assert response.json()["mime_type"] == "image/png"
    png = (FIXTURES / "pixel.png").read_bytes()
    # then its visitor and the workspace's agents get it
    served = client.get(url, {"visitor": VISITOR})
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == png
    assert b"".join(owner_client.get(url).streaming_content) == png
    # and nobody else: another visitor, anonymous, another workspace, a role without the inbox
    finance = Client()
    finance.force_login(make_member("finance@acme.test", "finance").user)
    assert client.get(url, {"visitor": OTHER_VISITOR}).status_code == 404
    assert Client().get(url).status_code == 404
    assert outsider_client.get(url).status_code == 404
    assert finance.get(url).status_code == 404
    assert client.get(f"/webchat/{channel.public_key}/files/{'0' * 32}").status_code == 404
    stored = list((private_dir / "webchat").rglob("*.bin"))
    assert [path.read_bytes() for path in stored] == [png]
    assert json.loads(stored[0].with_suffix(".json").read_text())["visitor_id"] == VISITOR
