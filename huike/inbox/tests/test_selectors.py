"""Reads of the inbox: list filters, the tab counts' single query, thread loading, canned
replies in the customer's language, templates offered per channel."""

from collections.abc import Callable
from typing import Any

import pytest

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.channels.services import template_create
from huike.core.errors import InvalidInputError, NotFoundError
from huike.inbox import selectors
from huike.inbox.configure import canned_reply_create
from huike.inbox.models import Message, MessageDirection
from huike.inbox.services import note_add
from huike.inbox.tests import test_inbox_support
from huike.inbox.tests.test_inbox_support import MakeConversation

pytestmark = pytest.mark.django_db

sms_channel = test_inbox_support.sms_channel
make_conversation = test_inbox_support.make_conversation


def test_status_counts_are_one_query_over_visible_conversations(
    owner_actor: Actor,
    make_conversation: MakeConversation,
    make_member: Callable[..., Membership],
    django_assert_num_queries: Any,
) -> None:
    colleague = make_member("colleague@acme.test", "service")
    for status in ("open", "open", "snoozed", "resolved"):
        make_conversation(status=status)
    make_conversation(status="pending", assignee=colleague)
    with django_assert_num_queries(1):
        counts = selectors.status_counts(owner_actor)
    assert counts == {"open": 2, "pending": 1, "snoozed": 1}
    rep = Actor.for_membership(make_member("rep@acme.test", "sales"))
    assert selectors.status_counts(rep) == {"open": 2, "pending": 0, "snoozed": 1}


def test_unknown_assignee_matches_nothing(
    owner_actor: Actor, make_conversation: MakeConversation
) -> None:
    make_conversation()
    filters = selectors.ConversationFilters(assignee="not-a-uuid")
    assert list(selectors.conversation_list(owner_actor, filters)) == []
    everyone = selectors.ConversationFilters(status=selectors.STATUS_ALL)
    assert selectors.conversation_list(owner_actor, everyone).count() == 1


def test_a_thread_loads_in_two_queries_for_any_length(
    owner_actor: Actor, make_conversation: MakeConversation, django_assert_num_queries: Any
) -> None:
    conversation = make_conversation(text="one")
    for number in range(4):
        note_add(actor=owner_actor, conversation=conversation, text=f"note {number} @owner")
    with django_assert_num_queries(2):
        messages = list(selectors.conversation_messages(conversation))
        authors = [message.author.user.email for message in messages if message.author]
        mentioned = [len(message.mentions.all()) for message in messages]
    assert len(messages) == 5
    assert authors == ["owner@acme.test"] * 4
    assert mentioned == [0, 1, 1, 1, 1]


def test_canned_reply_falls_back_to_the_other_language(owner_actor: Actor) -> None:
    reply = canned_reply_create(actor=owner_actor, shortcut="bye", title="Bye", body_en="Bye!")
    assert selectors.canned_reply_text(reply, "zh-hans") == "Bye!"
    assert selectors.canned_reply_text(reply, "en") == "Bye!"
    both = canned_reply_create(
        actor=owner_actor, shortcut="hi", title="Hi", body_en="Hi", body_zh_hans="你好"
    )
    assert selectors.canned_reply_text(both, "zh-hans") == "你好"
    assert selectors.canned_reply_text(both, "") == "Hi"


def test_templates_offered_are_active_and_of_the_channel_kind(
    owner_actor: Actor, make_conversation: MakeConversation
) -> None:
    conversation = make_conversation(name="Ada")
    template_create(actor=owner_actor, data={"name": "Any", "body_en": "Hi {{customer.name}}"})
    template_create(
        actor=owner_actor, data={"name": "Mail only", "body_en": "x", "channel_kind": "email"}
    )
    template_create(actor=owner_actor, data={"name": "Off", "body_en": "x", "is_active": False})
    choices = selectors.composer_templates(owner_actor, conversation)
    assert [(choice.label, choice.text) for choice in choices] == [("Any", "Hi Ada")]
    with pytest.raises(InvalidInputError):
        selectors.access_reply_template(conversation, "not-an-id")


def test_access_canned_reply_stays_in_the_workspace(
    owner_actor: Actor, outsider_actor: Actor
) -> None:
    reply = canned_reply_create(actor=owner_actor, shortcut="hi", title="Hi", body_en="Hi")
    assert selectors.access_canned_reply(owner_actor, reply.public_id) == reply
    with pytest.raises(NotFoundError):
        selectors.access_canned_reply(outsider_actor, reply.public_id)


def test_notes_never_leave_the_workspace_as_messages(
    owner_actor: Actor, make_conversation: MakeConversation
) -> None:
    conversation = make_conversation()
    note_add(actor=owner_actor, conversation=conversation, text="internal")
    assert Message.objects.filter(direction=MessageDirection.NOTE).get().outbound_delivery is None
