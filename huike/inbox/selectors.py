"""Reads of the inbox: the conversation list with its filters and tab counts, a thread, the
members a conversation can go to, canned replies and message templates for the composer.
Every read starts from services.conversations_visible / access_conversation or checks the
permission itself."""

import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, QuerySet
from django.utils.translation import gettext as _

from huike.accounts.access import Actor, parse_public_id
from huike.accounts.models import Membership, Team
from huike.channels.models import Channel, MessageTemplate
from huike.channels.sending import template_text, template_values
from huike.channels.templates_render import template_render
from huike.core.errors import InvalidInputError, NotFoundError
from huike.inbox.models import (
    AgentState,
    CannedReply,
    Conversation,
    ConversationStatus,
    ConversationTag,
    Message,
)
from huike.inbox.services import conversations_visible

# Newest activity first; the id makes every sort key distinct (keyset pagination).
CONVERSATION_ORDERING = ("-last_message_at", "-id")
# Oldest first reads a thread as it happened; the API also offers newest first.
MESSAGE_ORDERINGS = {"oldest": ("created_at", "id"), "newest": ("-created_at", "-id")}
STATUS_ALL = "all"
STATUS_FILTERS = (*ConversationStatus.values, STATUS_ALL)
ASSIGNEE_ME = "me"
ASSIGNEE_NONE = "none"
# The tabs that show a count: the work in hand. Resolved conversations only grow, so counting
# them (or "all") on every list view would get slower forever; those tabs show no number.
COUNTED_STATUSES = (
    ConversationStatus.OPEN,
    ConversationStatus.PENDING,
    ConversationStatus.SNOOZED,
)


@dataclass(frozen=True)
class ConversationFilters:
    """What the list page and the API filter conversations by; all combined."""

    status: str = ConversationStatus.OPEN
    channel: uuid.UUID | None = None
    # "me", "none" (unassigned), or a member's public id.
    assignee: str = ""
    team: uuid.UUID | None = None
    tag: uuid.UUID | None = None
    unread: bool = False


def conversation_list(actor: Actor, filters: ConversationFilters) -> QuerySet[Conversation]:
    """The visible conversations matching `filters`, with what a row shows loaded (page it
    with huike.core.pagination on CONVERSATION_ORDERING). An unknown member, channel, team or
    tag matches nothing rather than everything."""
    queryset: QuerySet[Conversation] = conversations_visible(actor)
    if filters.status != STATUS_ALL:
        queryset = queryset.filter(status=filters.status)
    if filters.channel is not None:
        queryset = queryset.filter(channel__public_id=filters.channel)
    if filters.assignee == ASSIGNEE_ME:
        queryset = (
            queryset.filter(assignee=actor.membership) if actor.membership else queryset.none()
        )
    elif filters.assignee == ASSIGNEE_NONE:
        queryset = queryset.filter(assignee__isnull=True)
    elif filters.assignee:
        try:
            member_id = uuid.UUID(filters.assignee)
        except ValueError:
            return queryset.none()
        queryset = queryset.filter(assignee__public_id=member_id)
    if filters.team is not None:
        queryset = queryset.filter(team__public_id=filters.team)
    if filters.tag is not None:
        queryset = queryset.filter(
            Exists(
                ConversationTag.objects.filter(
                    workspace=actor.workspace,
                    conversation=OuterRef("pk"),
                    tag__public_id=filters.tag,
                )
            )
        )
    if filters.unread:
        queryset = queryset.filter(unread_count__gt=0)
    return queryset.select_related(
        "channel", "customer", "assignee__user", "team"
    ).prefetch_related("tags")


def status_counts(actor: Actor) -> dict[str, int]:
    """Visible conversations per counted status: one grouped COUNT (see COUNTED_STATUSES)."""
    rows = (
        conversations_visible(actor)
        .filter(status__in=COUNTED_STATUSES)
        .values("status")
        .annotate(total=Count("pk"))
        .order_by()
    )
    counts: dict[str, int] = {str(status): 0 for status in COUNTED_STATUSES}
    for row in rows:
        counts[row["status"]] = row["total"]
    return counts


def conversation_tags(conversation: Conversation) -> list[Any]:
    links = ConversationTag.objects.filter(
        workspace_id=conversation.workspace_id, conversation=conversation
    ).select_related("tag")
    return [link.tag for link in links.order_by("tag__name")]


def conversation_messages(conversation: Conversation) -> QuerySet[Message]:
    """The thread's messages with authors, deliveries and mentions loaded: two queries for any
    number of messages (the mentions are prefetched)."""
    return (
        Message.objects.filter(workspace_id=conversation.workspace_id, conversation=conversation)
        .select_related("author__user", "outbound_delivery")
        .prefetch_related(Prefetch("mentions", queryset=Membership.objects.select_related("user")))
    )


def assignable_members(actor: Actor) -> list[Membership]:
    """Members a conversation can be given to: usable, and their role sees the inbox."""
    members = (
        Membership.objects.usable()
        .filter(workspace=actor.workspace)
        .select_related("user", "role")
        .order_by("user__email")
    )
    return [member for member in members if "inbox.view" in (member.role.permissions or [])]


def teams(actor: Actor) -> QuerySet[Team]:
    return Team.objects.filter(workspace=actor.workspace).order_by("path")


def channels(actor: Actor) -> QuerySet[Channel]:
    return Channel.objects.filter(workspace=actor.workspace).order_by("name")


def agent_state(actor: Actor) -> AgentState | None:
    if actor.membership is None:
        return None
    found: AgentState | None = AgentState.objects.filter(membership=actor.membership).first()
    return found


def canned_replies(actor: Actor) -> QuerySet[CannedReply]:
    actor.require("inbox.view")
    return CannedReply.objects.filter(workspace=actor.workspace).select_related("created_by__user")


def canned_reply_text(reply: CannedReply, locale: str) -> str:
    """The reply in the customer's language (zh-hans or en), else in the other one."""
    chinese_first = (locale or "").lower().startswith("zh")
    first, second = (
        (reply.body_zh_hans, reply.body_en)
        if chinese_first
        else (reply.body_en, reply.body_zh_hans)
    )
    return first or second


@dataclass(frozen=True)
class ComposerChoice:
    """A canned reply or message template as the composer offers it: rendered for this
    customer in their language, ready to insert."""

    id: uuid.UUID
    label: str
    shortcut: str
    text: str


def _agent_name(actor: Actor) -> str:
    return actor.membership.user.display_name if actor.membership else ""


def composer_canned_replies(actor: Actor, conversation: Conversation) -> list[ComposerChoice]:
    values = template_values(
        customer=conversation.customer, channel=conversation.channel, agent_name=_agent_name(actor)
    )
    locale = conversation.customer.locale
    return [
        ComposerChoice(
            id=reply.public_id,
            label=reply.title,
            shortcut=reply.shortcut,
            text=template_render(canned_reply_text(reply, locale), values),
        )
        for reply in canned_replies(actor).order_by("shortcut")
    ]


def reply_templates(conversation: Conversation) -> QuerySet[MessageTemplate]:
    """Active general-purpose templates usable on the conversation's channel."""
    return MessageTemplate.objects.filter(
        workspace_id=conversation.workspace_id,
        purpose=MessageTemplate.Purpose.GENERAL,
        is_active=True,
        channel_kind__in=[conversation.channel.kind, ""],
    ).order_by("name")


def template_rendered(actor: Actor, conversation: Conversation, template: MessageTemplate) -> str:
    return template_render(
        template_text(template, conversation.customer.locale),
        template_values(
            customer=conversation.customer,
            channel=conversation.channel,
            agent_name=_agent_name(actor),
        ),
    )


def composer_templates(actor: Actor, conversation: Conversation) -> list[ComposerChoice]:
    return [
        ComposerChoice(
            id=template.public_id,
            label=template.name,
            shortcut="",
            text=template_rendered(actor, conversation, template),
        )
        for template in reply_templates(conversation)
    ]


def access_canned_reply(actor: Actor, public_id: uuid.UUID | str) -> CannedReply:
    """A canned reply of the actor's workspace (every inbox role reads them)."""
    not_found = _("No such canned reply.")
    found: CannedReply | None = (
        canned_replies(actor).filter(public_id=parse_public_id(public_id, not_found)).first()
    )
    if found is None:
        raise NotFoundError(not_found)
    return found


def access_reply_template(
    conversation: Conversation, public_id: uuid.UUID | str
) -> MessageTemplate:
    """A template the composer offers for this conversation (active, of its channel kind); a
    body field names it, so an unknown one is a bad input, not a missing page."""
    not_found = _("No such template for this channel.")
    try:
        template_id = parse_public_id(public_id, not_found)
    except NotFoundError:
        raise InvalidInputError(not_found, field="template_id") from None
    found: MessageTemplate | None = (
        reply_templates(conversation).filter(public_id=template_id).first()
    )
    if found is None:
        raise InvalidInputError(not_found, field="template_id")
    return found
