"""Who gets a conversation: round robin and fewest-open assignment honour presence, the online
timeout, capacity and auto-assign; two takes of one conversation end with one owner; snoozed
conversations wake; opening marks read."""

import datetime as dt
from collections.abc import Callable

import pytest
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.core.errors import ConflictError
from huike.inbox import services
from huike.inbox.models import AgentState, AssignmentStrategy, ConversationAssignment
from huike.inbox.tests import test_inbox_support
from huike.inbox.tests.test_inbox_support import MakeConversation

pytestmark = pytest.mark.django_db

sms_channel = test_inbox_support.sms_channel
make_conversation = test_inbox_support.make_conversation


def _agent(
    make_member: Callable[..., Membership],
    email: str,
    *,
    presence: str = "online",
    capacity: int = 10,
    auto_assign: bool = True,
    seen_ago: dt.timedelta = dt.timedelta(seconds=5),
    last_assigned_ago: dt.timedelta | None = None,
) -> Membership:
    member = make_member(email, "service")
    now = timezone.now()
    AgentState.objects.create(
        workspace_id=member.workspace_id,
        membership=member,
        presence=presence,
        capacity=capacity,
        auto_assign=auto_assign,
        last_seen_at=now - seen_ago,
        last_assigned_at=now - last_assigned_ago if last_assigned_ago else None,
    )
    return member


def _strategy(workspace_id: int, strategy: str) -> None:
    settings = services.inbox_settings(workspace_id)
    settings.strategy = strategy
    settings.save(update_fields=["strategy"])


def test_round_robin_gives_the_next_to_whoever_waited_longest(
    make_member: Callable[..., Membership], make_conversation: MakeConversation, workspace: object
) -> None:
    recent = _agent(make_member, "recent@acme.test", last_assigned_ago=dt.timedelta(minutes=1))
    waiting = _agent(make_member, "waiting@acme.test", last_assigned_ago=dt.timedelta(hours=1))
    first = make_conversation()
    second = make_conversation()
    third = make_conversation()
    assert services.assign_automatically(first) == waiting
    assert services.assign_automatically(second) == recent
    assert services.assign_automatically(third) == waiting
    reasons = set(ConversationAssignment.objects.values_list("reason", flat=True))
    assert reasons == {"round_robin"}


def test_least_open_picks_the_agent_with_fewest_open_and_respects_capacity(
    make_member: Callable[..., Membership], make_conversation: MakeConversation, workspace: object
) -> None:
    busy = _agent(make_member, "busy@acme.test", capacity=5)
    light = _agent(make_member, "light@acme.test", capacity=2)
    _strategy(busy.workspace_id, AssignmentStrategy.LEAST_OPEN)
    for _ in range(3):
        make_conversation(assignee=busy)
    make_conversation(assignee=light)
    # light has 1 open of 2: gets the next one, then is full
    assert services.assign_automatically(make_conversation()) == light
    assert services.assign_automatically(make_conversation()) == busy
    # pending ones do not count against capacity
    make_conversation(assignee=light, status="pending")
    assert services.assign_automatically(make_conversation()) == busy


def test_nobody_gets_it_when_offline_stale_opted_out_or_full(
    make_member: Callable[..., Membership], make_conversation: MakeConversation
) -> None:
    _agent(make_member, "offline@acme.test", presence="offline")
    _agent(make_member, "stale@acme.test", seen_ago=dt.timedelta(minutes=10))
    _agent(make_member, "manual@acme.test", auto_assign=False)
    full = _agent(make_member, "full@acme.test", capacity=1)
    make_conversation(assignee=full)
    waiting = make_conversation()
    assert services.assign_automatically(waiting) is None
    waiting.refresh_from_db()
    assert waiting.assignee is None
    assert not ConversationAssignment.objects.exists()


def test_manual_strategy_leaves_conversations_in_the_queue(
    make_member: Callable[..., Membership], make_conversation: MakeConversation
) -> None:
    agent = _agent(make_member, "agent@acme.test")
    _strategy(agent.workspace_id, AssignmentStrategy.MANUAL)
    assert services.assign_automatically(make_conversation()) is None


def test_presence_set_brings_an_agent_into_automatic_assignment(
    make_member: Callable[..., Membership], make_conversation: MakeConversation
) -> None:
    agent = make_member("agent@acme.test", "service")
    actor = Actor.for_membership(agent)
    assert services.assign_automatically(make_conversation()) is None
    services.agent_presence_set(actor=actor, presence="online", capacity=1)
    assert services.assign_automatically(make_conversation()) == agent
    assert services.assign_automatically(make_conversation()) is None  # at capacity


def test_two_takes_of_one_conversation_end_with_one_owner(
    make_member: Callable[..., Membership], make_conversation: MakeConversation
) -> None:
    conversation = make_conversation()
    first = Actor.for_membership(make_member("first@acme.test", "service"))
    second = Actor.for_membership(make_member("second@acme.test", "service"))
    # both opened it while it was in the queue
    seen_by_first = services.access_conversation(first, conversation.public_id)
    seen_by_second = services.access_conversation(second, conversation.public_id)
    services.conversation_claim(actor=first, conversation=seen_by_first)
    with pytest.raises(ConflictError):
        services.conversation_claim(actor=second, conversation=seen_by_second)
    conversation.refresh_from_db()
    assert conversation.assignee == first.membership
    assert ConversationAssignment.objects.count() == 1


def test_snoozed_conversations_wake_when_their_time_comes(
    owner_actor: Actor, make_conversation: MakeConversation
) -> None:
    soon = make_conversation()
    later = make_conversation()
    now = timezone.now()
    services.conversation_set_status(
        actor=owner_actor,
        conversation=soon,
        status="snoozed",
        snoozed_until=now + dt.timedelta(hours=1),
    )
    services.conversation_set_status(
        actor=owner_actor,
        conversation=later,
        status="snoozed",
        snoozed_until=now + dt.timedelta(days=1),
    )
    assert services.snoozed_wake(now=now + dt.timedelta(hours=2)) == 1
    soon.refresh_from_db()
    later.refresh_from_db()
    assert (soon.status, soon.snoozed_until) == ("open", None)
    assert later.status == "snoozed"


def test_mark_read_clears_the_unread_count(
    owner_actor: Actor, make_conversation: MakeConversation
) -> None:
    conversation = make_conversation()
    test_inbox_support.inbound(conversation, "again")
    conversation.refresh_from_db()
    assert conversation.unread_count == 2
    services.conversation_mark_read(actor=owner_actor, conversation=conversation)
    conversation.refresh_from_db()
    assert conversation.unread_count == 0
    assert conversation.agent_last_read_at is not None
