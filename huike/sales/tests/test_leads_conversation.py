""" "Turn into a lead" on an inbox conversation (huike.channels.conversation_actions): the
registered action, the lead of the conversation's customer with the transcript as its first
note, and the open lead returned instead of a second one."""

import uuid
from collections.abc import Callable

import pytest

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.channels.conversation_actions import ConversationContext, conversation_action
from huike.core.errors import PermissionDeniedError
from huike.customers.identities import identity_key
from huike.customers.models import Customer, LifecycleStage
from huike.customers.services import CustomerData, customer_create
from huike.sales.leads import lead_from_conversation
from huike.sales.models import Activity, Lead

pytestmark = pytest.mark.django_db
CONVERSATION = uuid.UUID("5b0c43c8-8c1e-4a55-9f77-0d7e4c1f2a11")


@pytest.fixture
def customer(owner_actor: Actor) -> Customer:
    return customer_create(
        actor=owner_actor,
        data=CustomerData(name="Sun Li", locale="zh-hans"),
        identity_keys=[identity_key("whatsapp_id", "8613911112222")],
    )


def _context(customer: Customer) -> ConversationContext:
    return ConversationContext(
        conversation_public_id=CONVERSATION,
        workspace_id=customer.workspace_id,
        customer_id=customer.pk,
        channel_kind="whatsapp",
        channel_name="WhatsApp Business",
        subject="",
        transcript="Customer: How much for 50 seats?\nAgent: Let me get sales to call you.",
    )


def test_the_action_is_registered_for_roles_that_manage_leads() -> None:
    action = conversation_action("lead", frozenset({"leads.manage"}))
    assert action is not None
    assert action.handler is lead_from_conversation
    assert str(action.label) == "Turn into a lead"
    assert conversation_action("lead", frozenset({"inbox.reply"})) is None


def test_a_conversation_becomes_the_reps_lead_with_the_transcript(
    customer: Customer, member: Membership, member_actor: Actor
) -> None:
    # when
    url = lead_from_conversation(member_actor, _context(customer))
    # then
    lead = Lead.objects.get()
    assert url == f"/sales/leads/{lead.public_id}/"
    assert (lead.customer_id, lead.source, lead.name, lead.owner_id) == (
        customer.pk,
        "channel",
        "Sun Li",
        member.pk,
    )
    assert lead.source_detail == {
        "conversation_id": str(CONVERSATION),
        "channel": "whatsapp:WhatsApp Business",
    }
    note = Activity.objects.get(lead=lead)
    assert (note.kind, note.subject) == ("note", "Conversation on WhatsApp Business")
    assert note.body.startswith("Customer: How much for 50 seats?")
    customer.refresh_from_db()
    assert customer.lifecycle_stage == LifecycleStage.LEAD


def test_an_open_lead_is_returned_instead_of_a_second(
    customer: Customer, member_actor: Actor
) -> None:
    first = lead_from_conversation(member_actor, _context(customer))
    second = lead_from_conversation(member_actor, _context(customer))
    assert first == second
    assert Lead.objects.count() == 1
    assert Activity.objects.count() == 1


def test_a_role_without_leads_manage_is_refused(
    customer: Customer, make_member: Callable[..., Membership]
) -> None:
    agent = Actor.for_membership(make_member("agent@acme.test", "service"))
    with pytest.raises(PermissionDeniedError):
        lead_from_conversation(agent, _context(customer))
    assert not Lead.objects.exists()


def test_another_workspaces_conversation_is_refused(
    customer: Customer, outsider_actor: Actor
) -> None:
    with pytest.raises(PermissionDeniedError):
        lead_from_conversation(outsider_actor, _context(customer))
    assert not Lead.objects.exists()
