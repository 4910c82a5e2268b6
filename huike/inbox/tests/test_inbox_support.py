"""Fixtures and builders shared by the inbox page, API and selector tests (no tests here).

Conversations and inbound messages are written with the ORM, as the channels sink would
leave them: the inbound path itself is covered by the test that goes through
huike.channels.processing. Replies go out through a real provider: the `sms` channel with the
console vendor (it logs instead of calling a vendor), so a reply really runs message_send and
the provider's rules.
"""

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team
from huike.accounts.services import team_create
from huike.channels.models import Channel
from huike.channels.services import channel_create
from huike.customers.identities import identity_key
from huike.customers.models import Customer, Identity
from huike.customers.services import CustomerData, customer_create
from huike.inbox.models import Conversation, Message, MessageDirection

MakeConversation = Callable[..., Conversation]


@pytest.fixture
def sms_channel(owner_actor: Actor) -> Channel:
    return channel_create(actor=owner_actor, kind="sms", name="SMS", config={"provider": "console"})


@pytest.fixture
def north(owner_actor: Actor) -> Team:
    return team_create(actor=owner_actor, name="North")


def customer_with_phone(actor: Actor, name: str, phone: str) -> tuple[Customer, Identity]:
    customer = customer_create(
        actor=actor, data=CustomerData(name=name), identity_keys=[identity_key("phone", phone)]
    )
    identity = Identity.objects.get(customer=customer, kind="phone")
    return customer, identity


def inbound(conversation: Conversation, text: str, *, at: dt.datetime | None = None) -> Message:
    """A customer message as the sink records it (the unread count and preview move too)."""
    at = at or timezone.now()
    message = Message.objects.create(
        workspace_id=conversation.workspace_id,
        conversation=conversation,
        direction=MessageDirection.INBOUND,
        text=text,
        created_at=at,
    )
    conversation.last_message_at = at
    conversation.last_inbound_at = at
    conversation.last_message_preview = text[:200]
    conversation.unread_count += 1
    conversation.save(
        update_fields=["last_message_at", "last_inbound_at", "last_message_preview", "unread_count"]
    )
    return message


@pytest.fixture
def make_conversation(owner_actor: Actor, sms_channel: Channel) -> MakeConversation:
    counter = iter(range(10_000))

    def make(
        *,
        name: str = "",
        text: str = "Hello",
        channel: Channel | None = None,
        assignee: Membership | None = None,
        team: Team | None = None,
        status: str = "open",
        at: dt.datetime | None = None,
        actor: Actor | None = None,
        **fields: Any,
    ) -> Conversation:
        number = next(counter)
        customer, identity = customer_with_phone(
            actor or owner_actor, name or f"Customer {number}", f"1391234{number:04d}"
        )
        target = channel or sms_channel
        conversation = Conversation.objects.create(
            workspace_id=target.workspace_id,
            channel=target,
            customer=customer,
            identity=identity,
            assignee=assignee,
            team=team,
            status=status,
            **fields,
        )
        if text:
            inbound(conversation, text, at=at)
        return conversation

    return make


def member_with_role(
    make_member: Callable[..., Membership], email: str, role: str, team: Team | None = None
) -> Membership:
    member = make_member(email, role)
    if team is not None:
        member.team = team
        member.save(update_fields=["team"])
    return Membership.objects.select_related("workspace", "role", "user", "team").get(pk=member.pk)
