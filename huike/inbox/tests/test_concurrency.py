"""The inbox under real concurrent transactions (PostgreSQL; SQLite serializes writers, so
these races cannot happen there): two workers on one delivery, two messages of one new person
at once, two agents taking one conversation, two assigners and one free seat."""

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.channels.base import WebhookRequest
from huike.channels.config import channel_context
from huike.channels.models import Channel, InboundDelivery
from huike.channels.processing import delivery_process
from huike.channels.registry import provider_for
from huike.channels.services import channel_create
from huike.core.crypto import encrypted_column, workspace_keys
from huike.core.errors import ConflictError
from huike.customers.models import Customer
from huike.customers.services import CustomerData, customer_create
from huike.inbox.models import (
    AgentPresence,
    AgentState,
    Conversation,
    ConversationAssignment,
    Message,
)
from huike.inbox.services import assign_automatically, conversation_claim
from tests.concurrency import run_together

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "app-secret"
PHONE_NUMBER_ID = "1065"


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions are tested on PostgreSQL")


@pytest.fixture
def channel(owner_actor: Actor) -> Channel:
    return channel_create(
        actor=owner_actor,
        kind="whatsapp",
        name="WhatsApp",
        config={
            "phone_number_id": PHONE_NUMBER_ID,
            "access_token": "t",
            "app_secret": SECRET,
            "verify_token": "v",
        },
    )


def _pending(channel: Channel, message_id: str, text: str) -> int:
    """A delivery stored by intake whose processing task has not run (the provider's own
    splitting of a signed request; the row written as intake writes it, without the enqueue)."""
    value = {
        "metadata": {"phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Lin"}, "wa_id": "8613812345678"}],
        "messages": [
            {
                "from": "8613812345678",
                "id": message_id,
                "timestamp": str(int(timezone.now().timestamp())),
                "type": "text",
                "text": {"body": text},
            }
        ],
    }
    body = json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": value}]}]}
    ).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = WebhookRequest(
        method="POST",
        query={},
        headers={"x-hub-signature-256": f"sha256={signature}"},
        body=body,
        received_at=timezone.now(),
    )
    context = channel_context(channel)
    provider = provider_for("whatsapp")
    provider.verify(context, request)
    [incoming] = provider.deliveries(context, request)
    column = encrypted_column(InboundDelivery, "body_token")
    delivery = InboundDelivery(
        workspace_id=channel.workspace_id,
        channel=channel,
        dedupe_key=incoming.dedupe_key,
        content_type=incoming.content_type,
        meta=dict(incoming.meta),
    )
    delivery.body_token = workspace_keys(channel.workspace_id).encrypt(
        table=column.table,
        column=column.column,
        row_key=str(delivery.public_id),
        plaintext=incoming.body.decode(),
    )
    delivery.save()
    return delivery.pk


def test_two_workers_on_one_delivery_record_it_once(channel: Channel) -> None:
    delivery_id = _pending(channel, "wamid.1", "hello")

    errors = run_together(
        lambda: delivery_process(delivery_id), lambda: delivery_process(delivery_id)
    )

    assert errors == []
    assert Message.objects.count() == 1
    assert InboundDelivery.objects.get().status == InboundDelivery.Status.PROCESSED


def test_two_first_messages_of_one_new_person_make_one_customer_and_one_conversation(
    channel: Channel,
) -> None:
    first = _pending(channel, "wamid.1", "hello")
    second = _pending(channel, "wamid.2", "are you there?")

    errors = run_together(lambda: delivery_process(first), lambda: delivery_process(second))

    assert errors == []
    assert Customer.objects.filter(workspace=channel.workspace).count() == 1
    conversation = Conversation.objects.get(workspace=channel.workspace)
    assert conversation.unread_count == 2
    assert Message.objects.filter(conversation=conversation).count() == 2


def _conversation(channel: Channel, owner_actor: Actor) -> Conversation:
    customer = customer_create(actor=owner_actor, data=CustomerData(name="Lin"))
    return Conversation.objects.create(
        workspace=channel.workspace, channel=channel, customer=customer, thread_key=str(customer.pk)
    )


def _agent(make_member: Any, email: str) -> Membership:
    member: Membership = make_member(email, role_key="service")
    member.accepted_at = timezone.now()
    member.save(update_fields=["accepted_at"])
    return member


def test_two_agents_taking_one_conversation_leave_one_owner(
    channel: Channel, owner_actor: Actor, make_member: Any
) -> None:
    conversation = _conversation(channel, owner_actor)
    agents = [
        Actor.for_membership(_agent(make_member, f"agent{number}@acme.test")) for number in range(2)
    ]

    errors = run_together(
        *[
            lambda agent=agent: conversation_claim(actor=agent, conversation=conversation)
            for agent in agents
        ]
    )

    assert len(errors) == 1
    assert isinstance(errors[0], ConflictError)
    conversation.refresh_from_db()
    assert conversation.assignee_id in {agent.membership.pk for agent in agents if agent.membership}
    assert ConversationAssignment.objects.filter(conversation=conversation).count() == 1


def test_two_assigners_never_exceed_an_agents_capacity(
    channel: Channel, owner_actor: Actor, make_member: Any
) -> None:
    agent = _agent(make_member, "agent@acme.test")
    AgentState.objects.create(
        workspace=channel.workspace,
        membership=agent,
        presence=AgentPresence.ONLINE,
        capacity=1,
        last_seen_at=timezone.now() + dt.timedelta(seconds=5),
    )
    conversations = [_conversation(channel, owner_actor) for _ in range(2)]

    errors = run_together(*[lambda c=c: assign_automatically(c) for c in conversations])

    assert errors == []
    assigned = Conversation.objects.filter(pk__in=[c.pk for c in conversations], assignee=agent)
    assert assigned.count() == 1
