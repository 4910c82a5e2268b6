"""Running the actions other parts register on conversations
(huike.channels.conversation_actions)."""

from django.db import transaction
from django.utils.translation import gettext as _

from huike.accounts.access import Actor
from huike.channels.conversation_actions import ConversationContext, conversation_action
from huike.core.errors import NotFoundError
from huike.inbox.models import Conversation, Message, MessageDirection

# The latest messages handed to an action as the transcript: enough to see what the customer
# asked for, short enough to be a lead's or a ticket's first note.
TRANSCRIPT_MESSAGES = 20
_SPEAKERS = {
    MessageDirection.INBOUND: "Customer",
    MessageDirection.OUTBOUND: "Agent",
}


def conversation_context(conversation: Conversation) -> ConversationContext:
    latest = list(
        Message.objects.filter(conversation=conversation, direction__in=list(_SPEAKERS)).order_by(
            "-created_at", "-id"
        )[:TRANSCRIPT_MESSAGES]
    )
    lines = [
        f"{_SPEAKERS[MessageDirection(message.direction)]}: {message.text or message.subject}"
        for message in reversed(latest)
        if message.text or message.subject
    ]
    return ConversationContext(
        conversation_public_id=conversation.public_id,
        workspace_id=conversation.workspace_id,
        customer_id=conversation.customer_id,
        channel_kind=conversation.channel.kind,
        channel_name=conversation.channel.name,
        subject=conversation.subject or conversation.last_message_preview,
        transcript="\n".join(lines),
    )


def conversation_action_run(*, actor: Actor, conversation: Conversation, key: str) -> str:
    """Run the registered action `key` on the conversation and return the URL of what it made
    (or found). The handler runs in this transaction with the conversation's row locked, so two
    presses of the button make one record; the URL is kept in `linked_records[key]`.
    Raises NotFoundError for an unknown action or one the role may not use, and whatever the
    handler raises."""
    action = conversation_action(key, actor.permissions)
    if action is None:
        raise NotFoundError(_("No such action."))
    with transaction.atomic():
        locked = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("channel")
            .get(pk=conversation.pk)
        )
        url = action.handler(actor, conversation_context(locked))
        locked.linked_records = {**locked.linked_records, key: url}
        locked.save(update_fields=["linked_records"])
    conversation.linked_records = locked.linked_records
    return url
