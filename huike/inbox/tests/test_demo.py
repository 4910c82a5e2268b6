"""The demo workspace has channels and conversations that came through the real pipeline."""

import pytest
from django.test import TestCase

from huike.accounts.demo import demo_seed
from huike.channels.models import Channel, InboundDelivery
from huike.customers.models import Event, Identity
from huike.inbox.models import Conversation, Message, MessageDirection


@pytest.mark.django_db
def test_the_demo_has_channels_and_conversations_and_seeding_twice_adds_nothing() -> None:
    with TestCase.captureOnCommitCallbacks(execute=True):
        demo_seed()
    counts = (Channel.objects.count(), Conversation.objects.count(), Message.objects.count())
    with TestCase.captureOnCommitCallbacks(execute=True):
        demo_seed()

    assert (
        Channel.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
    ) == counts
    assert set(Channel.objects.values_list("kind", flat=True)) == {"webchat", "sms"}
    assert Conversation.objects.count() == 3
    assert InboundDelivery.objects.filter(status="processed").count() == 4
    assert Identity.objects.filter(kind="web_visitor_id").count() == 3
    assert Event.objects.filter(kind="message.received").count() == 4
    directions = set(Message.objects.values_list("direction", flat=True))
    assert directions == {
        MessageDirection.INBOUND,
        MessageDirection.OUTBOUND,
        MessageDirection.NOTE,
    }
