"""The agents' websocket (/ws/inbox/): the events of the workspace the session acts in, typing
both ways, and the presence heartbeat.

The session is the page's: the same membership the pages act as (session_membership), the
same two-factor rule, and inbox.view. Frames from the page: {"type": "ping"} (every ~30 s;
keeps the agent online) and {"type": "typing", "conversation_id"}.
"""

import time
from typing import Any

from django.contrib.sessions.backends.base import SessionBase

from huike.accounts.access import Actor
from huike.accounts.middleware import session_membership
from huike.accounts.models import Membership, User
from huike.core.asyncdb import KeptConnectionConsumer, db_sync_to_async
from huike.core.errors import NotFoundError, PermissionDeniedError
from huike.inbox import realtime
from huike.inbox.services import access_conversation, agent_seen

# Refused before the handshake completes: the browser sees a failed connection.
CLOSE_FORBIDDEN = 4403
# A typing frame per conversation is relayed at most this often.
TYPING_INTERVAL = 2.0
SEEN_INTERVAL = 20.0


def _two_factor_verified(user: User, session: SessionBase) -> bool:
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.models import Device

    persistent_id = session.get(DEVICE_ID_SESSION_KEY)
    if not persistent_id:
        return False
    device = Device.from_persistent_id(persistent_id, for_verify=False)
    return device is not None and device.user_id == user.pk


def agent_membership(user: Any, session: SessionBase | None) -> Membership | None:
    """The membership a websocket of this session acts as, if it may watch the inbox."""
    if not isinstance(user, User) or not user.is_authenticated or session is None:
        return None
    membership = session_membership(user=user, session=session)
    if membership is None:
        return None
    if membership.workspace.require_two_factor and not _two_factor_verified(user, session):
        return None
    if not Actor.for_membership(membership).has("inbox.view"):
        return None
    return membership


def typing_target(membership: Membership, conversation_id: str) -> tuple[str, str, str] | None:
    """(conversation public id, webchat channel public id, visitor id) of a conversation the
    agent may see; the last two are "" unless it is a website chat."""
    from huike.core.crypto import workspace_keys
    from huike.customers.identities import identity_value

    try:
        conversation = access_conversation(Actor.for_membership(membership), conversation_id)
    except (NotFoundError, PermissionDeniedError):
        return None
    if conversation.channel.kind != "webchat" or conversation.identity is None:
        return str(conversation.public_id), "", ""
    visitor = identity_value(conversation.identity, workspace_keys(conversation.workspace_id))
    return str(conversation.public_id), str(conversation.channel.public_id), visitor


class InboxConsumer(KeptConnectionConsumer):
    membership: Membership | None = None
    group = ""

    async def connect(self) -> None:
        membership = await db_sync_to_async(agent_membership)(
            self.scope.get("user"), self.scope.get("session")
        )
        if membership is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.membership = membership
        self.group = realtime.workspace_group(membership.workspace_id)
        self.targets: dict[str, tuple[str, str, str] | None] = {}
        self.typed_at: dict[str, float] = {}
        self.seen_at = time.monotonic()
        await self.channel_layer.group_add(self.group, self.channel_name)
        realtime.relay_ensure()
        await self.accept()
        await db_sync_to_async(agent_seen)(membership)

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if self.membership is None or not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "ping":
            if time.monotonic() - self.seen_at >= SEEN_INTERVAL:
                self.seen_at = time.monotonic()
                await db_sync_to_async(agent_seen)(self.membership)
            await self.send_json({"type": "pong"})
        elif kind == "typing":
            await self._typing(str(content.get("conversation_id", ""))[:64])

    async def _typing(self, conversation_id: str) -> None:
        assert self.membership is not None
        now = time.monotonic()
        if now - self.typed_at.get(conversation_id, -TYPING_INTERVAL) < TYPING_INTERVAL:
            return
        self.typed_at[conversation_id] = now
        if conversation_id not in self.targets:
            self.targets[conversation_id] = await db_sync_to_async(typing_target)(
                self.membership, conversation_id
            )
        target = self.targets[conversation_id]
        if target is None:
            return
        public_id, channel_id, visitor = target
        await realtime.group_send_now(
            self.group,
            {
                "type": "typing",
                "conversation_id": public_id,
                "by": "agent",
                "agent_id": str(self.membership.public_id),
            },
            sender=self.channel_name,
        )
        if visitor:
            await realtime.group_send_now(
                realtime.visitor_group(channel_id, visitor), {"type": "typing", "by": "agent"}
            )

    async def realtime_event(self, message: dict[str, Any]) -> None:
        if message.get("sender") and message["sender"] == self.channel_name:
            return
        await self.send_json(message["event"])
