"""The inbox API: conversations (list, read, assign, status), their messages (read, reply,
notes) and canned replies. Thin over huike.inbox.services; every object comes through
access_conversation / access_canned_reply, so another workspace's ids are 404s."""

import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from huike.accounts.access import Actor, lookup_membership, lookup_team
from huike.accounts.api_gateway import request_actor
from huike.accounts.models import Membership
from huike.core.errors import InvalidInputError, NotFoundError
from huike.core.pagination import Page, PageOut, PageQuery, paginate
from huike.customers.models import Tag
from huike.customers.services import UNSET
from huike.inbox import configure, selectors, services
from huike.inbox.api_schemas import (
    AssignIn,
    CannedReplyIn,
    CannedReplyOut,
    CannedReplyPatchIn,
    ConversationOut,
    ConversationQuery,
    MessageOut,
    MessageQuery,
    NoteIn,
    ReplyIn,
    StatusIn,
    TagsIn,
)
from huike.inbox.models import CannedReply, Conversation, Message

router = Router(tags=["Inbox"])


def _referenced[T](find: Callable[[], T], field: str) -> T:
    """An object named in a request body: unknown ids are a bad field (422), not a 404."""
    try:
        return find()
    except NotFoundError as error:
        raise InvalidInputError(error.detail, field=field) from None


def _conversation(actor: Actor, conversation_id: uuid.UUID) -> Conversation:
    found = services.access_conversation(actor, conversation_id)
    loaded: Conversation = (
        Conversation.objects.select_related(
            "channel__workspace", "customer__workspace", "identity", "assignee__user", "team"
        )
        .prefetch_related("tags")
        .get(pk=found.pk)
    )
    return loaded


def _mentioned(actor: Actor, member_id: uuid.UUID) -> Membership:
    return _referenced(lambda: lookup_membership(actor.workspace, member_id), "mentions")


def _message_out(message: Message) -> Message:
    loaded: Message = selectors.conversation_messages(message.conversation).get(pk=message.pk)
    return loaded


# --- conversations --------------------------------------------------------------------------
@router.get("/conversations", response=PageOut[ConversationOut], summary="List conversations")
def conversation_list(
    request: HttpRequest, page: Query[PageQuery], query: Query[ConversationQuery]
) -> Page[Conversation]:
    """Conversations the caller may see, newest activity first; open ones unless `status`
    says otherwise."""
    actor = request_actor(request)
    filters = selectors.ConversationFilters(
        status=query.status,
        channel=query.channel,
        assignee=query.assignee,
        team=query.team,
        tag=query.tag,
        unread=query.unread,
    )
    return paginate(
        selectors.conversation_list(actor, filters),
        cursor=page.cursor,
        limit=page.limit,
        ordering=selectors.CONVERSATION_ORDERING,
    )


@router.get("/conversations/{conversation_id}", response=ConversationOut, summary="Get one")
def conversation_detail(request: HttpRequest, conversation_id: uuid.UUID) -> Conversation:
    actor = request_actor(request)
    return _conversation(actor, conversation_id)


@router.post(
    "/conversations/{conversation_id}/assign",
    response=ConversationOut,
    summary="Assign or transfer a conversation",
)
def conversation_assign(
    request: HttpRequest, conversation_id: uuid.UUID, payload: AssignIn
) -> Conversation:
    actor = request_actor(request)
    actor.require("inbox.assign")
    conversation = _conversation(actor, conversation_id)
    assignee_id = payload.assignee_id
    assignee = (
        _referenced(lambda: lookup_membership(actor.workspace, assignee_id), "assignee_id")
        if assignee_id
        else None
    )
    team: Any = UNSET
    if "team_id" in payload.model_fields_set:
        team_id = payload.team_id
        team = (
            _referenced(lambda: lookup_team(actor.workspace, team_id), "team_id")
            if team_id
            else None
        )
    services.conversation_assign(
        actor=actor, conversation=conversation, assignee=assignee, team=team, note=payload.note
    )
    return _conversation(actor, conversation_id)


@router.post(
    "/conversations/{conversation_id}/claim",
    response=ConversationOut,
    summary="Take an unassigned conversation",
)
def conversation_claim(request: HttpRequest, conversation_id: uuid.UUID) -> Conversation:
    """The calling member takes it; 409 when someone else has it already. A member's session
    or a key a member created (the conversation is theirs afterwards)."""
    actor = request_actor(request)
    conversation = _conversation(actor, conversation_id)
    services.conversation_claim(actor=actor, conversation=conversation)
    return _conversation(actor, conversation_id)


@router.put(
    "/conversations/{conversation_id}/tags",
    response=ConversationOut,
    summary="Set a conversation's tags",
)
def conversation_tags(
    request: HttpRequest, conversation_id: uuid.UUID, payload: TagsIn
) -> Conversation:
    actor = request_actor(request)
    conversation = _conversation(actor, conversation_id)
    tags = list(Tag.objects.filter(workspace=actor.workspace, public_id__in=payload.tag_ids))
    if len(tags) != len(set(payload.tag_ids)):
        raise InvalidInputError(_("No such tag."), field="tag_ids")
    services.conversation_tags_set(actor=actor, conversation=conversation, tags=tags)
    return _conversation(actor, conversation_id)


@router.post(
    "/conversations/{conversation_id}/status",
    response=ConversationOut,
    summary="Change a conversation's status",
)
def conversation_status(
    request: HttpRequest, conversation_id: uuid.UUID, payload: StatusIn
) -> Conversation:
    actor = request_actor(request)
    conversation = _conversation(actor, conversation_id)
    services.conversation_set_status(
        actor=actor,
        conversation=conversation,
        status=payload.status,
        snoozed_until=payload.snoozed_until,
    )
    return _conversation(actor, conversation_id)


# --- messages -------------------------------------------------------------------------------
@router.get(
    "/conversations/{conversation_id}/messages",
    response=PageOut[MessageOut],
    summary="List a conversation's messages",
)
def message_list(
    request: HttpRequest,
    conversation_id: uuid.UUID,
    page: Query[PageQuery],
    query: Query[MessageQuery],
) -> Page[Message]:
    """Every message, reply, internal note and event of the conversation; oldest first by
    default (`order=newest` for the latest first)."""
    actor = request_actor(request)
    conversation = services.access_conversation(actor, conversation_id)
    return paginate(
        selectors.conversation_messages(conversation),
        cursor=page.cursor,
        limit=page.limit,
        ordering=selectors.MESSAGE_ORDERINGS[query.order],
    )


@router.post(
    "/conversations/{conversation_id}/messages",
    response={201: MessageOut},
    summary="Reply to the customer",
)
def message_reply(
    request: HttpRequest, conversation_id: uuid.UUID, payload: ReplyIn
) -> Status[Message]:
    """Sends `body` on the conversation's channel (queued, then sent; see `delivery`). 409
    with the platform's reason when its rules refuse the send now (nothing is stored)."""
    actor = request_actor(request)
    actor.require("inbox.reply")
    conversation = _conversation(actor, conversation_id)
    text = payload.body
    platform_template = ""
    if payload.template_id is not None:
        template = selectors.access_reply_template(conversation, payload.template_id)
        text = text.strip() or selectors.template_rendered(actor, conversation, template)
        platform_template = template.platform_template
    message = services.reply_send(
        actor=actor,
        conversation=conversation,
        text=text,
        subject=payload.subject,
        template=platform_template,
    )
    return Status(201, _message_out(message))


@router.post(
    "/conversations/{conversation_id}/notes",
    response={201: MessageOut},
    summary="Add an internal note",
)
def note_add(request: HttpRequest, conversation_id: uuid.UUID, payload: NoteIn) -> Status[Message]:
    """A note only colleagues see; `mentions` (member ids) and @handles in the body notify."""
    actor = request_actor(request)
    actor.require("inbox.reply")
    conversation = _conversation(actor, conversation_id)
    mentions = [_mentioned(actor, member_id) for member_id in dict.fromkeys(payload.mentions)]
    message = services.note_add(
        actor=actor, conversation=conversation, text=payload.body, mentions=mentions
    )
    return Status(201, _message_out(message))


# --- canned replies -------------------------------------------------------------------------
@router.get("/canned-replies", response=PageOut[CannedReplyOut], summary="List canned replies")
def canned_reply_list(request: HttpRequest, page: Query[PageQuery]) -> Page[CannedReply]:
    actor = request_actor(request)
    return paginate(
        selectors.canned_replies(actor),
        cursor=page.cursor,
        limit=page.limit,
        ordering=("shortcut", "id"),
    )


@router.post("/canned-replies", response={201: CannedReplyOut}, summary="Create a canned reply")
def canned_reply_create(request: HttpRequest, payload: CannedReplyIn) -> Status[CannedReply]:
    actor = request_actor(request)
    reply = configure.canned_reply_create(actor=actor, **payload.model_dump())
    return Status(201, reply)


@router.get("/canned-replies/{reply_id}", response=CannedReplyOut, summary="Get a canned reply")
def canned_reply_detail(request: HttpRequest, reply_id: uuid.UUID) -> CannedReply:
    actor = request_actor(request)
    return selectors.access_canned_reply(actor, reply_id)


@router.patch(
    "/canned-replies/{reply_id}", response=CannedReplyOut, summary="Change a canned reply"
)
def canned_reply_update(
    request: HttpRequest, reply_id: uuid.UUID, payload: CannedReplyPatchIn
) -> CannedReply:
    actor = request_actor(request)
    actor.require("inbox.configure")
    reply = selectors.access_canned_reply(actor, reply_id)
    sent = payload.model_dump(exclude_unset=True)
    current = {
        "shortcut": reply.shortcut,
        "title": reply.title,
        "body_zh_hans": reply.body_zh_hans,
        "body_en": reply.body_en,
    }
    data = {
        name: (sent[name] if sent.get(name) is not None else value)
        for name, value in current.items()
    }
    return configure.canned_reply_update(actor=actor, reply=reply, **data)


@router.delete("/canned-replies/{reply_id}", response={204: None}, summary="Delete a canned reply")
def canned_reply_delete(request: HttpRequest, reply_id: uuid.UUID) -> Status[None]:
    actor = request_actor(request)
    actor.require("inbox.configure")
    configure.canned_reply_delete(actor=actor, reply=selectors.access_canned_reply(actor, reply_id))
    return Status(204, None)
