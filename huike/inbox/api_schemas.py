"""Request and response shapes of the inbox API (huike.inbox.api)."""

import datetime as dt
import uuid
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from huike.accounts.api_schemas import MemberRef
from huike.customers.api_schemas import NamedRef
from huike.inbox.models import CannedReply, Conversation, Message


class ChannelRef(Schema):
    id: uuid.UUID
    kind: str
    name: str

    @staticmethod
    def resolve_id(obj: Any) -> uuid.UUID:
        public_id: uuid.UUID = obj.public_id
        return public_id


class CustomerBrief(Schema):
    id: uuid.UUID
    name: str

    @staticmethod
    def resolve_id(obj: Any) -> uuid.UUID:
        public_id: uuid.UUID = obj.public_id
        return public_id


class ConversationQuery(Schema):
    status: Literal["open", "pending", "snoozed", "resolved", "all"] = Field(
        default="open", description="`all` for every status."
    )
    channel: uuid.UUID | None = Field(default=None, description="A channel's id.")
    assignee: str = Field(
        default="",
        max_length=36,
        description="`me`, `none` (unassigned) or a member's id; empty for anyone.",
    )
    team: uuid.UUID | None = None
    tag: uuid.UUID | None = Field(default=None, description="A customer tag's id.")
    unread: bool = Field(default=False, description="Only conversations with unread messages.")


class TagRef(Schema):
    id: uuid.UUID
    name: str
    color: str

    @staticmethod
    def resolve_id(obj: Any) -> uuid.UUID:
        public_id: uuid.UUID = obj.public_id
        return public_id


class ConversationOut(Schema):
    id: uuid.UUID
    status: str
    subject: str
    channel: ChannelRef
    customer: CustomerBrief
    assignee: MemberRef | None
    team: NamedRef | None
    unread_count: int = Field(description="Customer messages since an agent last opened it.")
    last_message_at: dt.datetime
    last_message_preview: str
    last_inbound_at: dt.datetime | None
    snoozed_until: dt.datetime | None
    first_reply_at: dt.datetime | None
    resolved_at: dt.datetime | None
    created_at: dt.datetime
    tags: list[TagRef]

    @staticmethod
    def resolve_id(obj: Conversation) -> uuid.UUID:
        return obj.public_id

    @staticmethod
    def resolve_tags(obj: Conversation) -> list[Any]:
        # Prefetched by the list and detail queries.
        return sorted(obj.tags.all(), key=lambda tag: tag.name)


class TagsIn(Schema):
    tag_ids: list[uuid.UUID] = Field(description="The tags it carries afterwards; [] for none.")


class AssignIn(Schema):
    assignee_id: uuid.UUID | None = Field(description="A member's id; null: back to the queue.")
    team_id: uuid.UUID | None = Field(
        default=None, description="Move it to this team (null: no team); omit to keep the team."
    )
    note: str = Field(default="", max_length=500)


class StatusIn(Schema):
    status: Literal["open", "pending", "snoozed", "resolved"]
    snoozed_until: dt.datetime | None = Field(
        default=None, description="Required for `snoozed`: when it opens again."
    )


class MessageQuery(Schema):
    order: Literal["oldest", "newest"] = Field(
        default="oldest",
        description="`oldest` first reads the thread as it happened; `newest` first pages "
        "back from the latest message.",
    )


class DeliveryOut(Schema):
    status: str = Field(description="queued, sent, delivered, read or failed.")
    error: str = Field(description="The platform's reason when it failed.")
    sent_at: dt.datetime | None
    delivered_at: dt.datetime | None
    read_at: dt.datetime | None


class MessageOut(Schema):
    id: uuid.UUID
    direction: str = Field(description="in (customer), out (reply), note (internal), system.")
    content_type: str
    text: str
    html: str = Field(description="Sanitized HTML of an inbound email; empty otherwise.")
    subject: str
    attachments: list[dict[str, Any]]
    author: MemberRef | None
    mentions: list[uuid.UUID] = Field(description="Members a note mentions.")
    delivery: DeliveryOut | None = Field(description="Outbound messages only.")
    created_at: dt.datetime

    @staticmethod
    def resolve_id(obj: Message) -> uuid.UUID:
        return obj.public_id

    @staticmethod
    def resolve_mentions(obj: Message) -> list[uuid.UUID]:
        return [member.public_id for member in obj.mentions.all()]

    @staticmethod
    def resolve_delivery(obj: Message) -> Any:
        return obj.outbound_delivery if obj.direction == "out" else None


class ReplyIn(Schema):
    body: str = Field(default="", max_length=20_000)
    subject: str = Field(default="", max_length=255)
    template_id: uuid.UUID | None = Field(
        default=None,
        description="A message template: its text (rendered for the customer) is sent when "
        "body is empty, and its platform template is used where the channel needs one.",
    )


class NoteIn(Schema):
    body: str = Field(max_length=20_000)
    mentions: list[uuid.UUID] = Field(default_factory=list, max_length=50)


class CannedReplyIn(Schema):
    shortcut: str = Field(max_length=40)
    title: str = Field(max_length=100)
    body_zh_hans: str = Field(default="", max_length=5_000)
    body_en: str = Field(default="", max_length=5_000)


class CannedReplyPatchIn(Schema):
    shortcut: str | None = Field(default=None, max_length=40)
    title: str | None = Field(default=None, max_length=100)
    body_zh_hans: str | None = Field(default=None, max_length=5_000)
    body_en: str | None = Field(default=None, max_length=5_000)


class CannedReplyOut(Schema):
    id: uuid.UUID
    shortcut: str
    title: str
    body_zh_hans: str
    body_en: str
    created_at: dt.datetime

    @staticmethod
    def resolve_id(obj: CannedReply) -> uuid.UUID:
        return obj.public_id
