"""Request and response schemas of the tasks and notifications API.

Objects are named by their public UUID. Times are ISO 8601; a time sent without an offset is
read in the workspace's time zone. PATCH bodies change only the fields they contain.
"""

import datetime as dt
import uuid
from typing import Literal

from ninja import Schema
from pydantic import Field

from huike.accounts.api_schemas import MemberRef
from huike.sales.models import Notification, Task
from huike.sales.tasks_service import DESCRIPTION_MAX_LENGTH, TITLE_MAX_LENGTH

TaskPriorityValue = Literal["low", "normal", "high", "urgent"]
TaskStatusValue = Literal["open", "done", "cancelled"]


class TaskOut(Schema):
    id: uuid.UUID
    title: str
    description: str
    status: TaskStatusValue
    priority: TaskPriorityValue
    due_at: dt.datetime | None
    remind_at: dt.datetime | None = Field(description="Null: the reminder goes out at due_at.")
    reminded_at: dt.datetime | None
    is_overdue: bool = Field(description="Open and past due_at.")
    assignee: MemberRef | None
    created_by: MemberRef | None
    lead_id: uuid.UUID | None
    deal_id: uuid.UUID | None
    customer_id: uuid.UUID | None = Field(
        description="The customer of the lead or deal, or the customer the task is about."
    )
    completed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_id(obj: Task) -> uuid.UUID:
        return obj.public_id

    @staticmethod
    def resolve_assignee(obj: Task) -> object:
        return obj.owner

    @staticmethod
    def resolve_lead_id(obj: Task) -> uuid.UUID | None:
        return obj.lead.public_id if obj.lead is not None else None

    @staticmethod
    def resolve_deal_id(obj: Task) -> uuid.UUID | None:
        return obj.deal.public_id if obj.deal is not None else None

    @staticmethod
    def resolve_customer_id(obj: Task) -> uuid.UUID | None:
        return obj.customer.public_id if obj.customer is not None else None


class _TaskFields(Schema):
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX_LENGTH)
    due_at: dt.datetime | None = None
    remind_at: dt.datetime | None = None
    priority: TaskPriorityValue | None = None
    assignee_id: uuid.UUID | None = Field(
        default=None,
        description="Default: the caller. Others only with their team's records (or all).",
    )
    lead_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None


class TaskIn(_TaskFields):
    title: str = Field(min_length=1, max_length=TITLE_MAX_LENGTH)


class TaskPatchIn(_TaskFields):
    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX_LENGTH)
    status: TaskStatusValue | None = Field(
        default=None, description="done completes the task, open reopens it."
    )


class TaskQuery(Schema):
    assignee: str | None = Field(default=None, description="`me` or a member id.")
    status: TaskStatusValue | None = None
    due_before: dt.datetime | None = None
    due_after: dt.datetime | None = None
    overdue: bool | None = None
    lead_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None


class NotificationOut(Schema):
    id: uuid.UUID
    kind: str
    title: str
    body: str
    url: str
    is_read: bool
    read_at: dt.datetime | None
    created_at: dt.datetime

    @staticmethod
    def resolve_id(obj: Notification) -> uuid.UUID:
        return obj.public_id

    @staticmethod
    def resolve_is_read(obj: Notification) -> bool:
        return obj.read_at is not None


class NotificationQuery(Schema):
    unread: bool | None = Field(default=None, description="true: unread only; false: read.")


class MarkedOut(Schema):
    marked: int
