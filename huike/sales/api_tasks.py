"""API endpoints of tasks (`/tasks`) and of the caller's in-app notifications
(`/notifications`).

Thin, as huike.customers.api: the actor from the request, tasks through access_task, the
records a body names through their access functions (an id the caller cannot see is a 422
naming the field), changes through huike.sales.tasks_service, pages through
huike.core.pagination. Every task endpoint needs `tasks.manage`; notifications are the
caller's own (an API key's are those of the member who made it).
"""

import uuid
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from huike.accounts.access import Actor, lookup_membership
from huike.accounts.api_gateway import request_actor
from huike.core.errors import InvalidInputError, NotFoundError
from huike.core.pagination import PageOut, PageQuery, paginate
from huike.customers.access import access_customer
from huike.sales import tasks_service
from huike.sales.access import access_deal, access_lead, access_task
from huike.sales.api_schemas_tasks import (
    MarkedOut,
    NotificationOut,
    NotificationQuery,
    TaskIn,
    TaskOut,
    TaskPatchIn,
    TaskQuery,
)
from huike.sales.models import Notification, Task
from huike.sales.tasks_service import TaskChanges, TaskFilters, TaskSubject

router = Router(tags=["Tasks"])

TASK_ORDERING = ("-created_at", "-id")
NOTIFICATION_ORDERING = ("-created_at", "-id")


def _named[T](find: Callable[[Actor, uuid.UUID], T], actor: Actor, public_id: Any, field: str) -> T:
    """A record a body names: unknown (or invisible) ids are a bad field, not a 404."""
    try:
        return find(actor, public_id)
    except NotFoundError as error:
        raise InvalidInputError(error.detail, field=field) from None


def _assignee(actor: Actor, public_id: uuid.UUID | str) -> Any:
    return _named(
        lambda actor, value: lookup_membership(actor.workspace, value),
        actor,
        public_id,
        "assignee_id",
    )


def _subject(actor: Actor, payload: TaskIn | TaskPatchIn) -> TaskSubject:
    return TaskSubject(
        lead=_named(access_lead, actor, payload.lead_id, "lead_id") if payload.lead_id else None,
        deal=_named(access_deal, actor, payload.deal_id, "deal_id") if payload.deal_id else None,
        customer=(
            _named(access_customer, actor, payload.customer_id, "customer_id")
            if payload.customer_id
            else None
        ),
    )


def _reloaded(task: Task) -> Task:
    found: Task = Task.objects.select_related(*tasks_service.TASK_RELATED, "created_by__user").get(
        pk=task.pk
    )
    return found


# --- tasks -----------------------------------------------------------------------------------
@router.get("/tasks", response=PageOut[TaskOut], summary="List tasks")
def task_list(
    request: HttpRequest, page: Query[PageQuery], query: Query[TaskQuery]
) -> dict[str, Any]:
    """Tasks the caller sees (assigned within their record rules, or created by them), newest
    first. `assignee=me` for the caller's own; `overdue=true` for open tasks past due."""
    actor = request_actor(request)
    actor.require("tasks.manage")
    assignee = None
    if query.assignee == "me":
        if actor.membership is None:
            raise InvalidInputError(_("This key acts for no member."), field="assignee")
        assignee = actor.membership
    elif query.assignee:
        assignee = _assignee(actor, query.assignee)
    filters = TaskFilters(
        assignee=assignee,
        status=query.status,
        due_before=query.due_before,
        due_after=query.due_after,
        is_overdue=query.overdue,
        lead_id=query.lead_id,
        deal_id=query.deal_id,
        customer_id=query.customer_id,
    )
    result = paginate(
        tasks_service.task_search(actor, filters).select_related("created_by__user"),
        cursor=page.cursor,
        limit=page.limit,
        ordering=TASK_ORDERING,
    )
    return {"items": result.items, "next": result.next}


@router.post("/tasks", response={201: TaskOut}, summary="Create a task")
def task_create(request: HttpRequest, payload: TaskIn) -> Status[Task]:
    """A task for the caller, or (`assignee_id`) for a member whose records the caller sees;
    about at most one lead or deal, or a customer."""
    actor = request_actor(request)
    actor.require("tasks.manage")
    subject = _subject(actor, payload)
    task = tasks_service.task_create(
        actor=actor,
        title=payload.title,
        description=payload.description or "",
        due_at=payload.due_at,
        remind_at=payload.remind_at,
        priority=payload.priority or "normal",
        assignee=_assignee(actor, payload.assignee_id) if payload.assignee_id else None,
        lead=subject.lead,
        deal=subject.deal,
        customer=subject.customer,
    )
    return Status(201, _reloaded(task))


@router.get("/tasks/{task_id}", response=TaskOut, summary="Get a task")
def task_get(request: HttpRequest, task_id: uuid.UUID) -> Task:
    actor = request_actor(request)
    actor.require("tasks.manage")
    return _reloaded(access_task(actor, task_id))


@router.patch("/tasks/{task_id}", response=TaskOut, summary="Change a task")
def task_patch(request: HttpRequest, task_id: uuid.UUID, payload: TaskPatchIn) -> Task:
    """Change the fields sent. `status`: `done` completes the task, `open` reopens it,
    `cancelled` cancels it. A new due or reminder time (or assignee) sends the reminder again.
    Sending any of lead_id, deal_id, customer_id replaces the task's subject."""
    actor = request_actor(request)
    actor.require("tasks.manage")
    task = access_task(actor, task_id)
    sent = payload.model_fields_set
    changes = TaskChanges()
    for name in ("title", "description", "due_at", "remind_at", "priority"):
        if name in sent:
            value = getattr(payload, name)
            if value is None and name in ("title", "priority"):
                raise InvalidInputError(_("This field cannot be empty."), field=name)
            setattr(changes, name, value if value is not None or name != "description" else "")
    if "assignee_id" in sent:
        if payload.assignee_id is None:
            raise InvalidInputError(_("A task always has an assignee."), field="assignee_id")
        changes.assignee = _assignee(actor, payload.assignee_id)
    if sent & {"lead_id", "deal_id", "customer_id"}:
        changes.subject = _subject(actor, payload)
    with transaction.atomic():  # the fields and the status change together or not at all
        task = tasks_service.task_update(actor=actor, task=task, changes=changes)
        if payload.status is not None:
            task = tasks_service.task_status_set(actor=actor, task=task, status=payload.status)
    return _reloaded(task)


@router.delete("/tasks/{task_id}", response={204: None}, summary="Delete a task")
def task_delete(request: HttpRequest, task_id: uuid.UUID) -> Status[None]:
    actor = request_actor(request)
    actor.require("tasks.manage")
    tasks_service.task_delete(actor=actor, task=access_task(actor, task_id))
    return Status(204, None)


# --- notifications ---------------------------------------------------------------------------
@router.get(
    "/notifications",
    response=PageOut[NotificationOut],
    tags=["Notifications"],
    summary="List my notifications",
)
def notification_list(
    request: HttpRequest, page: Query[PageQuery], query: Query[NotificationQuery]
) -> dict[str, Any]:
    """The caller's own in-app notifications (task reminders, lead SLA warnings…), newest
    first."""
    actor = request_actor(request)
    result = paginate(
        tasks_service.notification_list(actor, is_unread=query.unread),
        cursor=page.cursor,
        limit=page.limit,
        ordering=NOTIFICATION_ORDERING,
    )
    return {"items": result.items, "next": result.next}


@router.post(
    "/notifications/read-all",
    response=MarkedOut,
    tags=["Notifications"],
    summary="Mark all my notifications read",
)
def notification_read_all(request: HttpRequest) -> MarkedOut:
    actor = request_actor(request)
    return MarkedOut(marked=tasks_service.notifications_mark_all_read(actor=actor))


@router.post(
    "/notifications/{notification_id}/read",
    response=NotificationOut,
    tags=["Notifications"],
    summary="Mark a notification read",
)
def notification_read(request: HttpRequest, notification_id: uuid.UUID) -> Notification:
    actor = request_actor(request)
    notification = tasks_service.access_notification(actor, notification_id)
    return tasks_service.notification_mark_read(actor=actor, notification=notification)
