"""What happens in the inbox: inbound messages land in conversations (the channels sink),
agents reply, write notes, assign, transfer, change status. Pages and the API are thin over
these; realtime.py pushes each change to the agents watching.

Locking: a conversation row is locked (SELECT … FOR UPDATE; SQLite's single writer) for every
change, so two agents taking the same conversation at once end with one owner, and automatic
assignment locks the candidate agents' rows, so capacity holds under concurrent assigners.
"""

import datetime as dt
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team
from huike.channels.base import InboundEvent, InboundMessage, SendRefused
from huike.channels.processing import Inbound
from huike.channels.sending import OutboundContent, message_send
from huike.core.errors import ConflictError, InvalidInputError, PermissionDeniedError
from huike.core.outbox import outbox_publish
from huike.customers.events import event_record
from huike.customers.models import Tag
from huike.customers.services import UNSET
from huike.inbox.models import (
    AgentPresence,
    AgentState,
    AssignmentReason,
    AssignmentStrategy,
    Conversation,
    ConversationAssignment,
    ConversationStatus,
    ConversationTag,
    InboxSettings,
    Message,
    MessageDirection,
)

logger = logging.getLogger("huike.inbox")

PREVIEW_LENGTH = 200
MAX_TEXT = 20_000
OUTBOX_MESSAGE = "inbox.message.created"
OUTBOX_CONVERSATION = "inbox.conversation.changed"
EVENT_MESSAGE_SENT = "message.sent"
# Open conversations count against an agent's capacity; pending and snoozed ones wait on the
# customer or on time, so they do not.
LOAD_STATUSES = (ConversationStatus.OPEN,)


def _preview(text: str, fallback: str) -> str:
    text = " ".join((text or "").split())
    return (text or fallback)[:PREVIEW_LENGTH]


def _publish_message(message: Message) -> None:
    outbox_publish(
        workspace_id=message.workspace_id,
        kind=OUTBOX_MESSAGE,
        payload={"conversation_id": message.conversation_id, "message_id": message.pk},
    )


def _publish_conversation(conversation: Conversation, change: str) -> None:
    outbox_publish(
        workspace_id=conversation.workspace_id,
        kind=OUTBOX_CONVERSATION,
        payload={"conversation_id": conversation.pk, "change": change},
    )


def inbox_settings(workspace_id: int) -> InboxSettings:
    found, _created = InboxSettings.objects.get_or_create(workspace_id=workspace_id)
    return found


# --- inbound (the channels sink) -----------------------------------------------------------
def _conversation_for(inbound: Inbound, thread_key: str) -> tuple[Conversation, bool]:
    channel = inbound.channel
    lookup = Conversation.objects.select_for_update().filter(
        workspace_id=channel.workspace_id, channel=channel, thread_key=thread_key
    )
    if inbound.identity is not None:
        lookup = lookup.filter(identity=inbound.identity)
    else:
        lookup = lookup.filter(identity__isnull=True, customer=inbound.customer)
    found = lookup.order_by("-last_message_at").first()
    if found is not None:
        return found, False
    subject = inbound.item.subject if isinstance(inbound.item, InboundMessage) else ""
    try:
        with transaction.atomic():
            created = Conversation.objects.create(
                workspace_id=channel.workspace_id,
                channel=channel,
                customer=inbound.customer,
                identity=inbound.identity,
                thread_key=thread_key,
                subject=subject[:255],
                team_id=channel.team_id,
            )
            return created, True
    except IntegrityError:
        # Another worker created it a moment ago.
        return lookup.get(), False


def inbound_receive(inbound: Inbound) -> None:
    """The sink channels call for every inbound message and event, in its transaction."""
    item = inbound.item
    if isinstance(item, InboundEvent):
        _inbound_event(inbound, item)
        return
    assert isinstance(item, InboundMessage)
    conversation, created = _conversation_for(inbound, item.thread_key[:255])
    message = Message.objects.create(
        workspace_id=conversation.workspace_id,
        conversation=conversation,
        direction=MessageDirection.INBOUND,
        content_type=item.content_type,
        text=item.text[:MAX_TEXT],
        html=item.html,
        subject=item.subject[:255],
        attachments=[attachment.__dict__ for attachment in item.attachments],
        properties=dict(item.properties),
        external_id=item.external_id[:255],
        inbound_delivery=inbound.delivery,
        created_at=item.sent_at,
    )
    reopened = conversation.status in (ConversationStatus.RESOLVED, ConversationStatus.SNOOZED)
    Conversation.objects.filter(pk=conversation.pk).update(
        customer=inbound.customer,
        last_message_at=item.sent_at,
        last_inbound_at=item.sent_at,
        last_message_preview=_preview(item.text or item.subject, item.content_type),
        unread_count=F("unread_count") + 1,
        status=ConversationStatus.OPEN,
        snoozed_until=None,
        resolved_at=None,
    )
    conversation.refresh_from_db()
    _publish_message(message)
    if created or (reopened and conversation.assignee_id is None):
        assign_automatically(conversation)


def _inbound_event(inbound: Inbound, event: InboundEvent) -> None:
    """A platform event shows in the conversation it belongs to, if there is one; it does not
    open a conversation of its own (the timeline has it)."""
    if inbound.identity is None:
        return
    conversation = (
        Conversation.objects.filter(
            workspace_id=inbound.channel.workspace_id,
            channel=inbound.channel,
            identity=inbound.identity,
        )
        .order_by("-last_message_at")
        .first()
    )
    if conversation is None:
        return
    message = Message.objects.create(
        workspace_id=conversation.workspace_id,
        conversation=conversation,
        direction=MessageDirection.SYSTEM,
        content_type="event",
        text=event.kind,
        properties={"kind": event.kind, **dict(event.properties)},
        external_id=event.external_id[:255],
        inbound_delivery=inbound.delivery,
        created_at=event.occurred_at,
    )
    _publish_message(message)


# --- access --------------------------------------------------------------------------------
def conversations_visible(actor: Actor) -> Any:
    """Conversations the actor may see: all with records.view_all; otherwise their own, the
    unassigned ones of their team and of no team (the shared queue), and with
    records.view_team everything of their team subtree."""
    actor.require("inbox.view")
    queryset = Conversation.objects.filter(workspace=actor.workspace)
    if actor.has("records.view_all"):
        return queryset
    membership = actor.membership
    if membership is None:
        return queryset.none()
    condition = Q(assignee=membership) | Q(assignee__isnull=True, team__isnull=True)
    if membership.team_id:
        condition |= Q(assignee__isnull=True, team_id=membership.team_id)
    if actor.has("records.view_team"):
        from huike.accounts.visibility import team_subtree_ids

        subtree = team_subtree_ids(membership)
        if subtree:
            condition |= Q(team_id__in=subtree) | Q(assignee__team_id__in=subtree)
    return queryset.filter(condition)


def access_conversation(actor: Actor, public_id: Any, *, lock: bool = False) -> Conversation:
    from huike.accounts.access import parse_public_id
    from huike.core.errors import NotFoundError

    queryset = conversations_visible(actor).filter(
        public_id=parse_public_id(public_id, _("No such conversation."))
    )
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    found: Conversation | None = queryset.select_related("channel", "customer", "identity").first()
    if found is None:
        raise NotFoundError(_("No such conversation."))
    return found


def _require_member(actor: Actor) -> Membership:
    if actor.membership is None:
        raise PermissionDeniedError(_("Only a member can do this, not an API key alone."))
    return actor.membership


# --- replies and notes ---------------------------------------------------------------------
def _clean_text(text: str) -> str:
    text = (text or "").strip()
    if len(text) > MAX_TEXT:
        raise InvalidInputError(
            _("At most %(count)d characters.") % {"count": MAX_TEXT}, field="body"
        )
    return text


def reply_send(
    *,
    actor: Actor,
    conversation: Conversation,
    text: str,
    subject: str = "",
    template: str = "",
    template_params: dict[str, str] | None = None,
) -> Message:
    """Send `text` to the customer on the conversation's channel. Raises ConflictError with
    the platform's rule when it forbids the send (no message is recorded then)."""
    actor.require("inbox.reply")
    text = _clean_text(text)
    if not text and not template:
        raise InvalidInputError(_("Write a message first."), field="body")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conversation.identity is None:
            raise ConflictError(
                _("The customer's address on this channel is gone: replies cannot be sent.")
            )
        properties: dict[str, Any] = {}
        last_email = (
            Message.objects.filter(conversation=conversation)
            .exclude(properties__message_id=None)
            .filter(direction=MessageDirection.INBOUND)
            .order_by("-created_at")
            .values_list("properties", flat=True)
            .first()
        )
        if last_email and last_email.get("message_id"):
            references = str(last_email.get("references") or "").split()
            properties = {
                "in_reply_to": last_email["message_id"],
                "references": " ".join([*references, last_email["message_id"]]),
            }
        if not subject and conversation.subject:
            subject = conversation.subject
            if conversation.channel.kind == "email" and not subject.lower().startswith("re:"):
                subject = f"Re: {subject}"
        try:
            delivery = message_send(
                channel=conversation.channel,
                customer=conversation.customer,
                identity=conversation.identity,
                content=OutboundContent(
                    text=text,
                    subject=subject,
                    template=template,
                    template_params=template_params or {},
                    properties=properties,
                ),
                created_by_id=actor.membership.pk if actor.membership else None,
                last_inbound_at=conversation.last_inbound_at,
            )
        except SendRefused as refused:
            raise ConflictError(str(refused)) from None
        now = timezone.now()
        message = Message.objects.create(
            workspace_id=conversation.workspace_id,
            conversation=conversation,
            direction=MessageDirection.OUTBOUND,
            author=actor.membership,
            text=text,
            subject=subject[:255],
            outbound_delivery=delivery,
            created_at=now,
        )
        conversation.last_message_at = now
        conversation.last_message_preview = _preview(text, template)
        conversation.first_reply_at = conversation.first_reply_at or now
        conversation.unread_count = 0
        conversation.agent_last_read_at = now
        conversation.save(
            update_fields=[
                "last_message_at",
                "last_message_preview",
                "first_reply_at",
                "unread_count",
                "agent_last_read_at",
            ]
        )
        event_record(
            customer=conversation.customer,
            kind=EVENT_MESSAGE_SENT,
            occurred_at=now,
            channel=conversation.channel.kind,
            properties={
                "channel_id": str(conversation.channel.public_id),
                "channel_name": conversation.channel.name,
                "conversation_id": str(conversation.public_id),
                "preview": _preview(text, template)[:140],
                "by": actor.label,
            },
            identity=conversation.identity,
            source="inbox",
        )
        _publish_message(message)
    return message


_MENTION = re.compile(r"@([\w.\-]+)", re.UNICODE)


def _mentioned(workspace_id: int, text: str, given: Sequence[Membership]) -> list[Membership]:
    """The members a note names: those picked in the composer, and `@handle` where the handle
    is a member's name without spaces or the part of their email before the @."""
    found = {member.pk: member for member in given if member.workspace_id == workspace_id}
    handles = {handle.lower() for handle in _MENTION.findall(text)}
    if handles:
        members = Membership.objects.usable().filter(workspace_id=workspace_id)
        for member in members.select_related("user"):
            name = member.user.full_name.replace(" ", "").lower()
            local = member.user.email.split("@", 1)[0].lower()
            if name in handles or local in handles:
                found[member.pk] = member
    return list(found.values())


def note_add(
    *,
    actor: Actor,
    conversation: Conversation,
    text: str,
    mentions: Sequence[Membership] = (),
) -> Message:
    """An internal note: agents see it, the customer never does. Members it mentions are told
    (realtime, and it shows in their mentions)."""
    actor.require("inbox.reply")
    text = _clean_text(text)
    if not text:
        raise InvalidInputError(_("Write a note first."), field="body")
    with transaction.atomic():
        message = Message.objects.create(
            workspace_id=conversation.workspace_id,
            conversation=conversation,
            direction=MessageDirection.NOTE,
            author=actor.membership,
            text=text,
        )
        named = _mentioned(conversation.workspace_id, text, mentions)
        if named:
            message.mentions.set(named)
        _publish_message(message)
    return message


def conversation_tags_set(
    *, actor: Actor, conversation: Conversation, tags: Sequence[Tag]
) -> list[Tag]:
    """Label the conversation with exactly `tags` (the workspace's customer tags); the labels
    filter the inbox. Returns them by name."""
    actor.require("inbox.reply")
    wanted = {tag.pk: tag for tag in tags}
    if any(tag.workspace_id != conversation.workspace_id for tag in wanted.values()):
        raise InvalidInputError(_("No such tag."), field="tag_ids")
    with transaction.atomic():
        Conversation.objects.select_for_update().filter(pk=conversation.pk).first()
        links = ConversationTag.objects.filter(
            workspace_id=conversation.workspace_id, conversation=conversation
        )
        links.exclude(tag_id__in=list(wanted)).delete()
        present = set(links.values_list("tag_id", flat=True))
        ConversationTag.objects.bulk_create(
            [
                ConversationTag(
                    workspace_id=conversation.workspace_id, conversation=conversation, tag=tag
                )
                for tag_id, tag in wanted.items()
                if tag_id not in present
            ]
        )
        _publish_conversation(conversation, "tags")
    return sorted(wanted.values(), key=lambda tag: tag.name)


def conversation_mark_read(*, actor: Actor, conversation: Conversation) -> None:
    if conversation.unread_count == 0:
        return
    Conversation.objects.filter(pk=conversation.pk).update(
        unread_count=0, agent_last_read_at=timezone.now()
    )
    conversation.unread_count = 0


# --- status --------------------------------------------------------------------------------
def conversation_set_status(
    *,
    actor: Actor,
    conversation: Conversation,
    status: str,
    snoozed_until: dt.datetime | None = None,
) -> Conversation:
    actor.require("inbox.reply")
    if status not in ConversationStatus.values:
        raise InvalidInputError(_("Unknown status."), field="status")
    if status == ConversationStatus.SNOOZED and (
        snoozed_until is None or snoozed_until <= timezone.now()
    ):
        raise InvalidInputError(_("Snoozing needs a time in the future."), field="snoozed_until")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        conversation.status = status
        conversation.snoozed_until = snoozed_until if status == ConversationStatus.SNOOZED else None
        conversation.resolved_at = timezone.now() if status == ConversationStatus.RESOLVED else None
        conversation.save(update_fields=["status", "snoozed_until", "resolved_at"])
        _publish_conversation(conversation, "status")
    return conversation


def snoozed_wake(*, now: dt.datetime | None = None) -> int:
    """Snoozed conversations whose time has come are open again."""
    now = now or timezone.now()
    woken = 0
    due = Conversation.objects.filter(
        status=ConversationStatus.SNOOZED, snoozed_until__lte=now
    ).values_list("pk", flat=True)[:1000]
    for conversation_id in list(due):
        with transaction.atomic():
            conversation = (
                Conversation.objects.select_for_update()
                .filter(pk=conversation_id, status=ConversationStatus.SNOOZED)
                .first()
            )
            if conversation is None:
                continue
            conversation.status = ConversationStatus.OPEN
            conversation.snoozed_until = None
            conversation.save(update_fields=["status", "snoozed_until"])
            _publish_conversation(conversation, "status")
            woken += 1
    return woken


# --- assignment ----------------------------------------------------------------------------
def _record_assignment(
    conversation: Conversation,
    *,
    to_assignee: Membership | None,
    to_team: Team | None,
    reason: str,
    by: Membership | None,
    note: str = "",
) -> None:
    ConversationAssignment.objects.create(
        workspace_id=conversation.workspace_id,
        conversation=conversation,
        from_assignee_id=conversation.assignee_id,
        to_assignee=to_assignee,
        from_team_id=conversation.team_id,
        to_team=to_team,
        reason=reason,
        note=note[:500],
        by=by,
    )
    conversation.assignee = to_assignee
    conversation.team = to_team
    conversation.save(update_fields=["assignee", "team"])
    if to_assignee is not None:
        AgentState.objects.filter(membership=to_assignee).update(last_assigned_at=timezone.now())
    _publish_conversation(conversation, "assignment")


def _can_handle(member: Membership) -> bool:
    return (
        member.is_active
        and member.accepted_at is not None
        and "inbox.view" in (member.role.permissions or [])
    )


def conversation_assign(
    *,
    actor: Actor,
    conversation: Conversation,
    assignee: Membership | None,
    team: Team | None = UNSET,
    note: str = "",
) -> Conversation:
    """Give the conversation to `assignee` (None: back to the queue), optionally moving it to
    `team`: a transfer when it had someone else."""
    actor.require("inbox.assign")
    if assignee is not None and (
        assignee.workspace_id != actor.workspace.pk or not _can_handle(assignee)
    ):
        raise InvalidInputError(_("This member cannot take conversations."), field="assignee")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        to_team = conversation.team if team is UNSET else team
        if assignee is None:
            reason = AssignmentReason.UNASSIGNED
        elif conversation.assignee_id and conversation.assignee_id != assignee.pk:
            reason = AssignmentReason.TRANSFER
        else:
            reason = AssignmentReason.MANUAL
        if conversation.assignee_id == (assignee.pk if assignee else None) and (
            to_team == conversation.team
        ):
            return conversation
        _record_assignment(
            conversation,
            to_assignee=assignee,
            to_team=to_team,
            reason=reason,
            by=actor.membership,
            note=note,
        )
    return conversation


def conversation_claim(*, actor: Actor, conversation: Conversation) -> Conversation:
    """The agent takes an unassigned conversation. Two agents claiming at once: the row lock
    lets one through, the other gets a ConflictError."""
    actor.require("inbox.reply")
    member = _require_member(actor)
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if locked.assignee_id is not None:
            if locked.assignee_id == member.pk:
                return locked
            raise ConflictError(_("Someone else has taken this conversation."))
        _record_assignment(
            locked,
            to_assignee=member,
            to_team=locked.team,
            reason=AssignmentReason.CLAIMED,
            by=member,
        )
    return locked


@dataclass(frozen=True)
class AgentLoad:
    membership_id: int
    open_count: int
    capacity: int
    last_assigned_at: dt.datetime | None


def _candidates(conversation: Conversation, settings: InboxSettings) -> list[AgentLoad]:
    """Online agents who take conversations automatically, in the conversation's team when it
    has one, below their capacity; their state rows locked so concurrent assigners queue."""
    cutoff = timezone.now() - dt.timedelta(seconds=settings.online_timeout_seconds)
    states = AgentState.objects.select_for_update(of=("self",)).filter(
        workspace_id=conversation.workspace_id,
        presence=AgentPresence.ONLINE,
        auto_assign=True,
        last_seen_at__gte=cutoff,
        membership__is_active=True,
        membership__accepted_at__isnull=False,
    )
    if conversation.team_id:
        states = states.filter(membership__team_id=conversation.team_id)
    rows = list(states.order_by("pk").select_related("membership__role"))
    rows = [row for row in rows if _can_handle(row.membership)]
    if not rows:
        return []
    counts = dict(
        Conversation.objects.filter(
            workspace_id=conversation.workspace_id,
            assignee_id__in=[row.membership_id for row in rows],
            status__in=LOAD_STATUSES,
        )
        .values("assignee_id")
        .annotate(total=Count("pk"))
        .values_list("assignee_id", "total")
    )
    loads = [
        AgentLoad(
            row.membership_id, counts.get(row.membership_id, 0), row.capacity, row.last_assigned_at
        )
        for row in rows
    ]
    return [load for load in loads if load.capacity == 0 or load.open_count < load.capacity]


def _pick(loads: Iterable[AgentLoad], strategy: str) -> AgentLoad | None:
    never = dt.datetime.min.replace(tzinfo=dt.UTC)
    ordered = list(loads)
    if not ordered:
        return None
    if strategy == AssignmentStrategy.LEAST_OPEN:
        return min(
            ordered,
            key=lambda load: (load.open_count, load.last_assigned_at or never, load.membership_id),
        )
    return min(ordered, key=lambda load: (load.last_assigned_at or never, load.membership_id))


def assign_automatically(conversation: Conversation) -> Membership | None:
    """Assign an unassigned conversation by the workspace's strategy; None when it is manual
    or nobody is online with room (it waits in the queue)."""
    settings = inbox_settings(conversation.workspace_id)
    if settings.strategy == AssignmentStrategy.MANUAL:
        return None
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if locked.assignee_id is not None:
            return None
        chosen = _pick(_candidates(locked, settings), settings.strategy)
        if chosen is None:
            return None
        member = Membership.objects.get(pk=chosen.membership_id)
        _record_assignment(
            locked,
            to_assignee=member,
            to_team=locked.team,
            reason=(
                AssignmentReason.LEAST_OPEN
                if settings.strategy == AssignmentStrategy.LEAST_OPEN
                else AssignmentReason.ROUND_ROBIN
            ),
            by=None,
        )
    conversation.assignee = member
    return member


def agent_presence_set(
    *, actor: Actor, presence: str, capacity: int | None = None, auto_assign: bool | None = None
) -> AgentState:
    member = _require_member(actor)
    actor.require("inbox.view")
    if presence not in AgentPresence.values:
        raise InvalidInputError(_("Unknown presence."), field="presence")
    state, _created = AgentState.objects.get_or_create(
        membership=member, defaults={"workspace_id": member.workspace_id}
    )
    state.presence = presence
    state.last_seen_at = timezone.now()
    fields = ["presence", "last_seen_at"]
    if capacity is not None:
        if not 0 <= capacity <= 500:
            raise InvalidInputError(_("Capacity is between 0 and 500."), field="capacity")
        state.capacity = capacity
        fields.append("capacity")
    if auto_assign is not None:
        state.auto_assign = auto_assign
        fields.append("auto_assign")
    state.save(update_fields=fields)
    return state


def agent_seen(membership: Membership) -> None:
    """A heartbeat from an agent's open inbox (the websocket): they stay online."""
    AgentState.objects.filter(membership=membership).update(last_seen_at=timezone.now())
