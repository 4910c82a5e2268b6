"""The agents' websocket: who may open it (session, workspace, permission, origin), what it
hears (its workspace's events only, forwarded from the outbox, relayed from the worker's
notices in embedded mode), typing both ways, and the presence heartbeat."""

import asyncio
import datetime as dt
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.utils import timezone

from config.asgi import application
from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.inbox import realtime
from huike.inbox.models import AgentPresence, AgentState, Conversation, RealtimeNotice
from huike.inbox.services import conversation_set_status
from huike.inbox.tests.test_webchat import (
    WebsocketCommunicator,
    fresh_layer,
    run,
    visitor_open,
    webchat_create,
)

__all__ = ["fresh_layer"]
pytestmark = pytest.mark.django_db(transaction=True)
HOST = b"testserver"


def session_cookie(membership: Membership | None) -> bytes:
    if membership is None:
        return b""
    client = Client()
    client.force_login(membership.user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def agent_socket(
    membership: Membership | None, origin: bytes = b"http://testserver"
) -> tuple[WebsocketCommunicator, bool]:
    cookie = await database_sync_to_async(session_cookie)(membership)
    headers = [(b"host", HOST), (b"origin", origin)]
    if cookie:
        headers.append((b"cookie", cookie))
    communicator = WebsocketCommunicator(application, "/ws/inbox/", headers=headers)
    connected, _code = await communicator.connect()
    return communicator, connected


async def agent_open(membership: Membership) -> WebsocketCommunicator:
    communicator, connected = await agent_socket(membership)
    assert connected
    return communicator


def test_the_inbox_socket_needs_a_session_with_the_inbox_permission_from_our_site(
    owner: Membership, make_member: Any
) -> None:
    finance = make_member("finance@acme.test", "finance")

    async def scenario() -> tuple[bool, bool, bool, bool]:
        anonymous = (await agent_socket(None))[1]
        without_permission = (await agent_socket(finance))[1]
        foreign_origin = (await agent_socket(owner, origin=b"https://evil.example"))[1]
        allowed, allowed_ok = await agent_socket(owner)
        await allowed.disconnect()
        return anonymous, without_permission, foreign_origin, allowed_ok

    assert run(scenario) == (False, False, False, True)


def test_agents_hear_their_own_workspace_only(
    workspace: Workspace, owner: Membership, outsider: Membership
) -> None:
    async def scenario() -> tuple[dict[str, Any], bool]:
        ours = await agent_open(owner)
        theirs = await agent_open(outsider)
        # when something happens in Acme
        await database_sync_to_async(realtime.realtime_send)(
            workspace.pk, {"type": "conversation.changed", "conversation_id": "c1"}
        )
        heard = await ours.receive_json_from()
        # then only Acme's agents hear of it
        silent = await theirs.receive_nothing(timeout=0.3)
        await ours.disconnect()
        await theirs.disconnect()
        return heard, silent

    heard, silent = run(scenario)
    assert heard == {"type": "conversation.changed", "conversation_id": "c1"}
    assert silent


def test_outbox_changes_reach_the_inbox_by_public_ids(
    workspace: Workspace, owner: Membership, owner_actor: Actor
) -> None:
    # given a conversation from the website chat and an agent watching
    channel = webchat_create(workspace, owner_actor)

    async def scenario() -> list[dict[str, Any]]:
        agent = await agent_open(owner)
        visitor = await visitor_open(channel)
        await visitor.send_json_to({"type": "message", "client_id": "msg-00001", "text": "Hi"})
        await visitor.receive_json_from()
        frames = [await agent.receive_json_from(), await agent.receive_json_from()]

        # when an agent resolves it
        def resolve() -> None:
            conversation_set_status(
                actor=owner_actor, conversation=Conversation.objects.get(), status="resolved"
            )

        await database_sync_to_async(resolve)()
        frames.append(await agent.receive_json_from())
        await visitor.disconnect()
        await agent.disconnect()
        return frames

    direct, from_outbox, changed = run(scenario)
    conversation = Conversation.objects.get()
    # then the message was announced by the visitor's socket and again by the outbox (the
    # page ignores the repeat), and the change by the outbox, with public ids and no text
    assert direct["type"] == from_outbox["type"] == "message.created"
    assert direct["message_id"] == from_outbox["message_id"]
    assert from_outbox["conversation_id"] == str(conversation.public_id)
    assert "text" not in from_outbox
    assert changed == {
        "type": "conversation.changed",
        "conversation_id": str(conversation.public_id),
        "change": "status",
    }


def test_a_worker_notice_is_relayed_by_the_web_process(
    workspace: Workspace, owner: Membership, monkeypatch: Any
) -> None:
    async def scenario() -> dict[str, Any]:
        agent = await agent_open(owner)  # starts the relay in this loop
        assert realtime._relay_task is not None

        def worker_send() -> None:
            # as the worker does: not the web process, so the event becomes a notice
            monkeypatch.setattr(realtime, "_web_process", False)
            realtime.realtime_send(workspace.pk, {"type": "delivery.updated", "message_id": "m"})
            monkeypatch.setattr(realtime, "_web_process", True)

        await database_sync_to_async(worker_send)()
        heard = await agent.receive_json_from()
        realtime._relay_task.cancel()
        await agent.disconnect()
        return heard

    assert run(scenario) == {"type": "delivery.updated", "message_id": "m"}
    assert RealtimeNotice.objects.get().group == realtime.workspace_group(workspace.pk)


def test_notices_are_relayed_once_and_purged_after_a_minute(
    workspace: Workspace, owner: Membership
) -> None:
    old = RealtimeNotice.objects.create(
        group=realtime.workspace_group(workspace.pk),
        payload={"type": "message.created", "message_id": "old"},
        created_at=timezone.now() - dt.timedelta(minutes=5),
    )

    async def scenario() -> tuple[list[dict[str, Any]], bool]:
        agent = await agent_open(owner)
        task = realtime._relay_task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        last = await realtime.notices_relay(0)
        assert last == old.pk
        heard = [await agent.receive_json_from()]
        # a second pass from the last id relays nothing again
        assert await realtime.notices_relay(last) == last
        silent = await agent.receive_nothing(timeout=0.3)
        await agent.disconnect()
        return heard, silent

    heard, silent = run(scenario)
    assert heard == [{"type": "message.created", "message_id": "old"}]
    assert silent
    fresh = RealtimeNotice.objects.create(group="inbox.1", payload={})
    assert realtime.notices_purge() == 1
    assert list(RealtimeNotice.objects.all()) == [fresh]


def test_typing_goes_both_ways(
    workspace: Workspace, owner: Membership, owner_actor: Actor, member: Membership
) -> None:
    channel = webchat_create(workspace, owner_actor)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], bool]:
        typist = await agent_open(owner)
        colleague = await agent_open(member)
        visitor = await visitor_open(channel)
        await visitor.send_json_to({"type": "message", "client_id": "msg-00001", "text": "Hi"})
        await visitor.receive_json_from()
        for agent in (typist, colleague):
            await agent.receive_json_from()  # message.created (direct)
            await agent.receive_json_from()  # message.created (outbox)
        conversation_id = str((await database_sync_to_async(Conversation.objects.get)()).public_id)
        # the visitor types: the agents see it
        await visitor.send_json_to({"type": "typing"})
        visitor_typing = await colleague.receive_json_from()
        await typist.receive_json_from()
        # an agent types: the visitor and the colleague see it, the typist gets no echo
        await typist.send_json_to({"type": "typing", "conversation_id": conversation_id})
        agent_typing = await visitor.receive_json_from()
        colleague_sees = await colleague.receive_json_from()
        no_echo = await typist.receive_nothing(timeout=0.3)
        for socket in (typist, colleague, visitor):
            await socket.disconnect()
        return visitor_typing, agent_typing, colleague_sees, no_echo

    visitor_typing, agent_typing, colleague_sees, no_echo = run(scenario)
    conversation = Conversation.objects.get()
    assert visitor_typing == {
        "type": "typing",
        "conversation_id": str(conversation.public_id),
        "by": "visitor",
    }
    assert agent_typing == {"type": "typing", "by": "agent"}
    assert colleague_sees["by"] == "agent"
    assert colleague_sees["agent_id"] == str(owner.public_id)
    assert no_echo


def test_typing_on_a_conversation_the_agent_cannot_see_goes_nowhere(
    workspace: Workspace, owner: Membership, outsider: Membership, owner_actor: Actor
) -> None:
    channel = webchat_create(workspace, owner_actor)

    async def scenario() -> tuple[bool, bool]:
        visitor = await visitor_open(channel)
        await visitor.send_json_to({"type": "message", "client_id": "msg-00001", "text": "Hi"})
        await visitor.receive_json_from()
        conversation_id = str((await database_sync_to_async(Conversation.objects.get)()).public_id)
        stranger = await agent_open(outsider)
        await stranger.send_json_to({"type": "typing", "conversation_id": conversation_id})
        nothing_for_visitor = await visitor.receive_nothing(timeout=0.3)
        await stranger.disconnect()
        await visitor.disconnect()
        return nothing_for_visitor, True

    assert run(scenario) == (True, True)


def test_an_open_inbox_keeps_the_agent_online(owner: Membership, workspace: Workspace) -> None:
    long_ago = timezone.now() - dt.timedelta(hours=2)
    AgentState.objects.create(
        workspace=workspace, membership=owner, presence=AgentPresence.ONLINE, last_seen_at=long_ago
    )

    async def scenario() -> None:
        agent = await agent_open(owner)
        await agent.send_json_to({"type": "ping"})
        assert await agent.receive_json_from() == {"type": "pong"}
        await agent.disconnect()

    run(scenario)
    state = AgentState.objects.get(membership=owner)
    assert state.last_seen_at is not None
    assert state.last_seen_at > long_ago
