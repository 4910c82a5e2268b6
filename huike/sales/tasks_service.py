"""Tasks and reminders (services and selectors), and the reads and writes of the in-app
notifications every sales area sends through huike.sales.notifications.notify.

Who may do what:
- every action needs `tasks.manage`; the task comes from huike.sales.access.access_task, so
  it is one the actor sees by record rules (the assignee is its owner) or created;
- a task goes to the actor, or to a member whose records the actor sees: `records.view_all`
  (anyone), `records.view_team` (members of the actor's team subtree). A rep therefore only
  gives tasks to themselves. The assignee's role must hold `tasks.manage` too;
- its subject must be visible to the actor (access_lead / access_deal / access_customer).

Subjects: a task is about at most one lead *or* one deal; its customer follows from that
lead or deal (so a customer's tasks include those of its leads and deals), or it is about a
customer alone. A customer given with a lead or deal must be that record's customer.

Tasks are internal: nothing goes on the customer's timeline, not even for a completed call
(the call itself is an Activity, logged on the deal or lead, which records
`activity.logged`). Completing a task on a lead counts as a follow-up of it
(huike.sales.leads.lead_touch), so the lead does not go back to the pool.

Reminders: `task_reminders_send` (run every minute by huike.sales.tasks) notifies the assignee
in-app and by e-mail once the reminder time (else the due time) has come, and sets
`reminded_at` in the same transaction; changing the due time, the reminder time or the
assignee re-arms it. Day boundaries ("today", "overdue", calendar days) are those of the
workspace's time zone.
"""

import calendar
import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.accounts.visibility import team_subtree_ids
from huike.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from huike.core.outbox import outbox_publish
from huike.core.tasks import enqueue_on_commit
from huike.customers.access import access_customer
from huike.customers.models import Customer
from huike.customers.services import UNSET
from huike.sales.access import access_deal, access_lead, visible_tasks
from huike.sales.models import Deal, Lead, Notification, Task, TaskPriority, TaskStatus
from huike.sales.notifications import notify

logger = logging.getLogger("huike.sales.tasks")

TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 5000
# Most urgent first: the order of "my day" and of the calendar's days.
PRIORITY_RANK = {
    TaskPriority.URGENT: 0,
    TaskPriority.HIGH: 1,
    TaskPriority.NORMAL: 2,
    TaskPriority.LOW: 3,
}
# "Coming up" on my day: the week after the day shown.
UPCOMING_DAYS = 7
# Open tasks one "my day" reads at most: a backlog beyond this is a list to filter, not a day.
MY_DAY_MAX_TASKS = 500
# Tasks one calendar month reads at most (a month of six-week grid, ~16 a day).
CALENDAR_MAX_TASKS = 700
# Reminders one run sends in one transaction: short enough that its row locks and the
# notifications' inserts never hold up the pages; a full batch hands over to a fresh run.
REMINDER_BATCH_SIZE = 200

KIND_DUE = "task.due"
KIND_ASSIGNED = "task.assigned"


# --- who may be given a task -----------------------------------------------------------------
def _may_work_on_tasks(membership: Membership) -> bool:
    return "tasks.manage" in (membership.role.permissions or [])


def may_assign_to(actor: Actor, assignee: Membership) -> bool:
    """True when the actor sees the records of `assignee` (themselves, team subtree, all)."""
    if actor.membership is not None and assignee.pk == actor.membership.pk:
        return True
    if actor.has("records.view_all"):
        return True
    if actor.has("records.view_team") and actor.membership is not None:
        return assignee.team_id is not None and assignee.team_id in team_subtree_ids(
            actor.membership
        )
    return False


def assignable_members(actor: Actor) -> list[Membership]:
    """Members the actor may give a task to (and whose day and calendar they may look at),
    by name. The actor comes first when they are one of them."""
    members = Membership.objects.usable().filter(workspace=actor.workspace)
    if not actor.has("records.view_all"):
        own = Q(pk=actor.membership.pk) if actor.membership is not None else Q(pk__in=[])
        subtree = (
            team_subtree_ids(actor.membership)
            if actor.has("records.view_team") and actor.membership is not None
            else []
        )
        members = members.filter(own | Q(team_id__in=subtree))
    found = [
        membership
        for membership in members.select_related("user", "role", "team").order_by(
            "user__full_name", "user__email"
        )
        if _may_work_on_tasks(membership)
    ]
    own_pk = actor.membership.pk if actor.membership is not None else None
    return sorted(found, key=lambda membership: membership.pk != own_pk)


def _assignee_clean(actor: Actor, assignee: Membership | None) -> Membership:
    if assignee is None:
        if actor.membership is None:
            raise InvalidInputError(_("Name the member the task is for."), field="assignee_id")
        assignee = actor.membership
    if (
        assignee.workspace_id != actor.workspace.pk
        or not assignee.is_active
        or assignee.accepted_at is None
    ):
        raise InvalidInputError(_("No such member."), field="assignee_id")
    if not may_assign_to(actor, assignee):
        raise PermissionDeniedError(
            _("You may give tasks only to yourself and to members whose records you see.")
        )
    if not _may_work_on_tasks(assignee):
        raise InvalidInputError(
            _("%(member)s's role does not work with tasks.") % {"member": assignee.user},
            field="assignee_id",
        )
    return assignee


# --- what a task is about --------------------------------------------------------------------
@dataclass(frozen=True)
class TaskSubject:
    lead: Lead | None = None
    deal: Deal | None = None
    customer: Customer | None = None


class _Public(Protocol):
    public_id: uuid.UUID


def _visible[T: _Public](
    find: Callable[[Actor, uuid.UUID], T], actor: Actor, record: T | None, field_name: str
) -> T | None:
    """`record` again through its access function: the actor must see it (422 if not)."""
    if record is None:
        return None
    try:
        return find(actor, record.public_id)
    except NotFoundError as error:
        raise InvalidInputError(error.detail, field=field_name) from None


def _subject_clean(actor: Actor, subject: TaskSubject) -> TaskSubject:
    if subject.lead is not None and subject.deal is not None:
        raise InvalidInputError(_("A task is about a lead or a deal, not both."), field="deal_id")
    lead = _visible(access_lead, actor, subject.lead, "lead_id")
    deal = _visible(access_deal, actor, subject.deal, "deal_id")
    linked = lead or deal
    customer = subject.customer
    if linked is not None and linked.customer_id is not None:
        if customer is not None and customer.pk != linked.customer_id:
            raise InvalidInputError(
                _("The customer must be the one the lead or deal is about."),
                field="customer_id",
            )
        return TaskSubject(lead=lead, deal=deal, customer=linked.customer)
    return TaskSubject(
        lead=lead, deal=deal, customer=_visible(access_customer, actor, customer, "customer_id")
    )


# --- values ----------------------------------------------------------------------------------
def _title_clean(title: object) -> str:
    text = str(title or "").strip()
    if not text:
        raise InvalidInputError(_("Give the task a title."), field="title")
    if len(text) > TITLE_MAX_LENGTH:
        raise InvalidInputError(
            _("At most %(max)d characters.") % {"max": TITLE_MAX_LENGTH}, field="title"
        )
    return text


def _description_clean(description: object) -> str:
    text = str(description or "").strip()
    if len(text) > DESCRIPTION_MAX_LENGTH:
        raise InvalidInputError(
            _("At most %(max)d characters.") % {"max": DESCRIPTION_MAX_LENGTH},
            field="description",
        )
    return text


def _priority_clean(priority: object) -> str:
    if priority not in TaskPriority.values:
        raise InvalidInputError(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(TaskPriority.values)},
            field="priority",
        )
    return str(priority)


def _moment_clean(workspace: Workspace, value: dt.datetime | None) -> dt.datetime | None:
    """An aware moment; a time without an offset is read in the workspace's time zone."""
    if value is None or timezone.is_aware(value):
        return value
    return timezone.make_aware(value, workspace.zone)


def _lock(task: Task) -> Task:
    locked: Task = (
        Task.objects.select_for_update(of=("self",)).select_related("owner__user").get(pk=task.pk)
    )
    return locked


def _notify_assigned(actor: Actor, task: Task) -> None:
    """Tell the assignee when someone else gave them the task (in-app only)."""
    assignee = task.owner
    if assignee is None or (actor.membership is not None and assignee.pk == actor.membership.pk):
        return
    with translation.override(member_language(assignee)):
        notify(
            recipient=assignee,
            kind=KIND_ASSIGNED,
            subject_key=f"sales.task:{task.pk}:{assignee.pk}",
            title=_("New task: %(title)s") % {"title": task.title},
            body=_("From %(actor)s") % {"actor": actor.label},
            url=task_url(task),
        )


def task_url(task: Task) -> str:
    return reverse("sales:task_edit", args=[task.public_id])


@dataclass(frozen=True)
class SubjectLink:
    kind: str  # "lead", "deal" or "customer"
    label: str
    url: str  # empty while the page of that kind is not installed


def _subject_link(kind: str, label: str, url_name: str, public_id: Any) -> SubjectLink:
    try:
        url = reverse(url_name, args=[public_id])
    except NoReverseMatch:
        url = ""
    return SubjectLink(kind=kind, label=label, url=url)


def task_subject(task: Task) -> SubjectLink | None:
    """What the task is about, most specific first: the deal, the lead, the customer."""
    if task.deal is not None:
        return _subject_link("deal", task.deal.name, "sales:deal_detail", task.deal.public_id)
    if task.lead is not None:
        return _subject_link("lead", str(task.lead), "sales:lead_detail", task.lead.public_id)
    if task.customer is not None:
        return _subject_link(
            "customer",
            task.customer.name or _("(no name)"),
            "customers:customer_detail",
            task.customer.public_id,
        )
    return None


def member_language(membership: Membership) -> str:
    language = membership.user.language or str(settings.LANGUAGE_CODE)
    try:
        return translation.get_supported_language_variant(language)
    except LookupError:
        return str(settings.LANGUAGE_CODE)


# --- services --------------------------------------------------------------------------------
def task_create(
    *,
    actor: Actor,
    title: str,
    due_at: dt.datetime | None = None,
    assignee: Membership | None = None,
    priority: str = TaskPriority.NORMAL,
    description: str = "",
    lead: Lead | None = None,
    deal: Deal | None = None,
    customer: Customer | None = None,
    remind_at: dt.datetime | None = None,
) -> Task:
    """A new open task for `assignee` (default: the actor's own membership).

    Raises PermissionDeniedError without tasks.manage or for an assignee outside the actor's
    records, InvalidInputError (with the field) for bad values or a subject the actor does not
    see. Someone else's task notifies its assignee in-app.
    """
    actor.require("tasks.manage")
    owner = _assignee_clean(actor, assignee)
    subject = _subject_clean(actor, TaskSubject(lead=lead, deal=deal, customer=customer))
    with transaction.atomic():
        task = Task.objects.create(
            workspace=actor.workspace,
            owner=owner,
            team_id=owner.team_id,
            title=_title_clean(title),
            description=_description_clean(description),
            due_at=_moment_clean(actor.workspace, due_at),
            remind_at=_moment_clean(actor.workspace, remind_at),
            priority=_priority_clean(priority),
            lead=subject.lead,
            deal=subject.deal,
            customer=subject.customer,
            created_by=actor.membership,
        )
        _notify_assigned(actor, task)
    return task


@dataclass
class TaskChanges:
    """Fields of a task to change; UNSET leaves a field as it is."""

    title: Any = UNSET
    description: Any = UNSET
    due_at: Any = UNSET  # datetime | None
    remind_at: Any = UNSET  # datetime | None
    priority: Any = UNSET
    assignee: Any = UNSET  # Membership
    subject: Any = UNSET  # TaskSubject

    def given(self) -> dict[str, Any]:
        return {
            item.name: getattr(self, item.name)
            for item in fields(self)
            if getattr(self, item.name) is not UNSET
        }


# Changing any of these sends the reminder again (to the assignee, at the new time).
REARMING_FIELDS = frozenset({"due_at", "remind_at", "owner"})


def task_update(*, actor: Actor, task: Task, changes: TaskChanges) -> Task:
    """Change a task from access_task; returns it (locked and saved). Same rules as
    task_create for the assignee and the subject."""
    actor.require("tasks.manage")
    given = changes.given()
    values: dict[str, Any] = {}
    if "title" in given:
        values["title"] = _title_clean(given["title"])
    if "description" in given:
        values["description"] = _description_clean(given["description"])
    for name in ("due_at", "remind_at"):
        if name in given:
            values[name] = _moment_clean(actor.workspace, given[name])
    if "priority" in given:
        values["priority"] = _priority_clean(given["priority"])
    if "assignee" in given:
        owner = given["assignee"]
        if owner is None or owner.pk != task.owner_id:
            owner = _assignee_clean(actor, owner)
        values["owner"] = owner
        values["team_id"] = owner.team_id
    if "subject" in given:
        subject = _subject_clean(actor, given["subject"])
        values.update(lead=subject.lead, deal=subject.deal, customer=subject.customer)
    with transaction.atomic():
        locked = _lock(task)
        changed = [
            name
            for name, value in values.items()
            if getattr(locked, name if name != "owner" else "owner_id")
            != (value.pk if name == "owner" else value)
        ]
        if not changed:
            return locked
        for name in changed:
            setattr(locked, name, values[name])
        if REARMING_FIELDS & set(changed):
            locked.reminded_at = None
            changed.append("reminded_at")
        locked.save(update_fields=[*changed, "updated_at"])
        if "owner" in changed:
            _notify_assigned(actor, locked)
    return locked


def task_complete(*, actor: Actor, task: Task) -> Task:
    """Mark done (idempotent: a done task stays as it was). A cancelled task must be reopened
    first (ConflictError). On a lead it counts as a follow-up (lead_touch)."""
    from huike.sales.leads import lead_touch

    actor.require("tasks.manage")
    with transaction.atomic():
        locked = _lock(task)
        if locked.status == TaskStatus.DONE:
            return locked
        if locked.status == TaskStatus.CANCELLED:
            raise ConflictError(_("This task was cancelled; reopen it first."))
        moment = timezone.now()
        locked.status = TaskStatus.DONE
        locked.completed_at = moment
        locked.save(update_fields=["status", "completed_at", "updated_at"])
        if locked.lead_id is not None:
            lead_touch(lead=Lead.objects.select_for_update().get(pk=locked.lead_id), at=moment)
    return locked


def task_reopen(*, actor: Actor, task: Task) -> Task:
    """A done or cancelled task is open again (its reminder is not sent twice)."""
    actor.require("tasks.manage")
    with transaction.atomic():
        locked = _lock(task)
        if locked.status == TaskStatus.OPEN:
            return locked
        locked.status = TaskStatus.OPEN
        locked.completed_at = None
        locked.save(update_fields=["status", "completed_at", "updated_at"])
    return locked


def task_cancel(*, actor: Actor, task: Task) -> Task:
    """An open task will not be done (kept, unlike a deleted one). A done task cannot be
    cancelled (ConflictError)."""
    actor.require("tasks.manage")
    with transaction.atomic():
        locked = _lock(task)
        if locked.status == TaskStatus.CANCELLED:
            return locked
        if locked.status == TaskStatus.DONE:
            raise ConflictError(_("This task is done; reopen it first."))
        locked.status = TaskStatus.CANCELLED
        locked.save(update_fields=["status", "updated_at"])
    return locked


STATUS_SERVICES: dict[str, Callable[..., Task]] = {
    TaskStatus.DONE: task_complete,
    TaskStatus.OPEN: task_reopen,
    TaskStatus.CANCELLED: task_cancel,
}


def task_status_set(*, actor: Actor, task: Task, status: str) -> Task:
    service = STATUS_SERVICES.get(status)
    if service is None:
        raise InvalidInputError(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(TaskStatus.values)},
            field="status",
        )
    return service(actor=actor, task=task)


def task_delete(*, actor: Actor, task: Task) -> None:
    """Delete the task and its notices. A task someone else gave you can be done or cancelled
    but deleted only by its creator or whoever sees the creator's records (their manager),
    so the record of what was asked does not vanish with the assignee's click."""
    actor.require("tasks.manage")
    creator = task.created_by
    if creator is not None and not may_assign_to(actor, creator):
        raise PermissionDeniedError(_("Only whoever gave you this task can delete it."))
    with transaction.atomic():
        Task.objects.filter(pk=task.pk).delete()
        Notification.objects.filter(
            workspace=actor.workspace,
            kind__in=(KIND_DUE, KIND_ASSIGNED),
            subject_key__startswith=f"sales.task:{task.pk}:",
        ).delete()


# --- selectors -------------------------------------------------------------------------------
def _priority_rank() -> Case:
    return Case(
        *(When(priority=priority, then=Value(value)) for priority, value in PRIORITY_RANK.items()),
        default=Value(len(PRIORITY_RANK)),
        output_field=IntegerField(),
    )


def priority_ordered(queryset: QuerySet[Task]) -> QuerySet[Task]:
    """Most urgent first, then by due time (no due time last)."""
    return queryset.order_by(_priority_rank(), F("due_at").asc(nulls_last=True), "id")


TASK_RELATED = ("owner__user", "lead", "deal", "customer")


@dataclass(frozen=True)
class TaskFilters:
    assignee: Membership | None = None
    status: str | None = None
    due_before: dt.datetime | None = None
    due_after: dt.datetime | None = None
    is_overdue: bool | None = None
    lead_id: Any = None
    deal_id: Any = None
    customer_id: Any = None


def task_search(actor: Actor, filters: TaskFilters) -> QuerySet[Task]:
    """Tasks the actor sees (record rules, or created by them), filtered."""
    actor.require("tasks.manage")
    queryset = visible_tasks(actor)
    if filters.assignee is not None:
        queryset = queryset.filter(owner=filters.assignee)
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.due_before is not None:
        queryset = queryset.filter(due_at__lt=filters.due_before)
    if filters.due_after is not None:
        queryset = queryset.filter(due_at__gte=filters.due_after)
    overdue = Q(status=TaskStatus.OPEN, due_at__lt=timezone.now())
    if filters.is_overdue is True:
        queryset = queryset.filter(overdue)
    elif filters.is_overdue is False:
        queryset = queryset.exclude(overdue)
    for name in ("lead_id", "deal_id", "customer_id"):
        value = getattr(filters, name)
        if value is not None:
            relation = name.removesuffix("_id")
            queryset = queryset.filter(**{f"{relation}__public_id": value})
    return queryset.select_related(*TASK_RELATED)


def subject_tasks(
    actor: Actor,
    *,
    lead: Lead | None = None,
    deal: Deal | None = None,
    customer: Customer | None = None,
    limit: int = 50,
) -> list[Task]:
    """The tasks of a lead, deal or customer the actor sees, open ones first (for the
    `sales/tasks/_subject_tasks.html` partial on their pages). Empty without tasks.manage."""
    if not actor.has("tasks.manage"):
        return []
    queryset = visible_tasks(actor).filter(workspace=actor.workspace)
    if lead is not None:
        queryset = queryset.filter(lead=lead)
    if deal is not None:
        queryset = queryset.filter(deal=deal)
    if customer is not None:
        queryset = queryset.filter(customer=customer)
    open_first = Case(When(status=TaskStatus.OPEN, then=Value(0)), default=Value(1))
    ordered = queryset.select_related("owner__user").order_by(
        open_first, _priority_rank(), F("due_at").asc(nulls_last=True), "id"
    )
    return list(ordered[:limit])


def day_bounds(workspace: Workspace, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Start and end (exclusive) of `day` in the workspace's time zone."""
    zone = workspace.zone
    start = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return start, end


def _day_owner(actor: Actor, assignee: Membership | None) -> Membership:
    actor.require("tasks.manage")
    owner = assignee or actor.membership
    if owner is None:
        raise InvalidInputError(_("Name the member whose tasks to show."), field="assignee")
    if not may_assign_to(actor, owner):
        raise NotFoundError(_("No such member."))
    return owner


@dataclass(frozen=True)
class MyDay:
    day: dt.date
    overdue: list[Task]
    today: list[Task]
    upcoming: list[Task]
    no_due: list[Task]
    done: list[Task]
    is_truncated: bool

    @property
    def open_count(self) -> int:
        return len(self.overdue) + len(self.today) + len(self.upcoming) + len(self.no_due)


def my_day(actor: Actor, day: dt.date | None = None, assignee: Membership | None = None) -> MyDay:
    """The open tasks of `assignee` (default: the actor) around `day` (default: today in the
    workspace's time zone): overdue (due before the day began), due that day, coming up in the
    next UPCOMING_DAYS days, without a due time; and those done that day. Each group is ordered
    by priority, then due time. Two queries."""
    owner = _day_owner(actor, assignee)
    day = day or actor.workspace.today()
    start, end = day_bounds(actor.workspace, day)
    horizon = end + dt.timedelta(days=UPCOMING_DAYS)
    mine = Task.objects.filter(workspace=actor.workspace, owner=owner).select_related(
        "lead", "deal", "customer"
    )
    open_tasks = list(
        priority_ordered(
            mine.filter(status=TaskStatus.OPEN).filter(
                Q(due_at__lt=horizon) | Q(due_at__isnull=True)
            )
        )[: MY_DAY_MAX_TASKS + 1]
    )
    groups: dict[str, list[Task]] = defaultdict(list)
    for task in open_tasks[:MY_DAY_MAX_TASKS]:
        if task.due_at is None:
            groups["no_due"].append(task)
        elif task.due_at < start:
            groups["overdue"].append(task)
        elif task.due_at < end:
            groups["today"].append(task)
        else:
            groups["upcoming"].append(task)
    done = list(
        priority_ordered(
            mine.filter(status=TaskStatus.DONE, completed_at__gte=start, completed_at__lt=end)
        )
    )
    return MyDay(
        day=day,
        overdue=groups["overdue"],
        today=groups["today"],
        upcoming=groups["upcoming"],
        no_due=groups["no_due"],
        done=done,
        is_truncated=len(open_tasks) > MY_DAY_MAX_TASKS,
    )


@dataclass(frozen=True)
class CalendarDay:
    date: dt.date
    is_in_month: bool
    is_today: bool
    is_past: bool
    tasks: list[Task] = field(default_factory=list)


@dataclass(frozen=True)
class CalendarMonth:
    month: dt.date  # the first day
    weeks: list[list[CalendarDay]]
    is_truncated: bool

    @property
    def previous(self) -> dt.date:
        return (self.month - dt.timedelta(days=1)).replace(day=1)

    @property
    def next(self) -> dt.date:
        return (self.month + dt.timedelta(days=32)).replace(day=1)

    @property
    def days_with_tasks(self) -> list[CalendarDay]:
        return [day for week in self.weeks for day in week if day.is_in_month and day.tasks]


def tasks_calendar(
    actor: Actor, month: dt.date, assignee: Membership | None = None
) -> CalendarMonth:
    """The month (any day of it) as Monday-first weeks, each day with the open and done tasks
    of `assignee` (default: the actor) due that day in the workspace's time zone, by time, then
    priority. One query."""
    owner = _day_owner(actor, assignee)
    first = month.replace(day=1)
    grid = calendar.Calendar(firstweekday=calendar.MONDAY).monthdatescalendar(
        first.year, first.month
    )
    start, _end = day_bounds(actor.workspace, grid[0][0])
    _start, end = day_bounds(actor.workspace, grid[-1][-1])
    rows = list(
        Task.objects.filter(
            workspace=actor.workspace,
            owner=owner,
            status__in=(TaskStatus.OPEN, TaskStatus.DONE),
            due_at__gte=start,
            due_at__lt=end,
        )
        .select_related("lead", "deal", "customer")
        .order_by("due_at", _priority_rank(), "id")[: CALENDAR_MAX_TASKS + 1]
    )
    zone = actor.workspace.zone
    by_day: dict[dt.date, list[Task]] = defaultdict(list)
    for task in rows[:CALENDAR_MAX_TASKS]:
        assert task.due_at is not None
        by_day[timezone.localtime(task.due_at, zone).date()].append(task)
    today = actor.workspace.today()
    weeks = [
        [
            CalendarDay(
                date=day,
                is_in_month=day.month == first.month,
                is_today=day == today,
                is_past=day < today,
                tasks=by_day.get(day, []),
            )
            for day in week
        ]
        for week in grid
    ]
    return CalendarMonth(month=first, weeks=weeks, is_truncated=len(rows) > CALENDAR_MAX_TASKS)


# --- reminders -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReminderReport:
    sent: int
    is_batch_full: bool


def _due_reminders(now: dt.datetime) -> QuerySet[Task]:
    """Open tasks whose reminder moment has come and not gone out, oldest first (the partial
    expression index task_reminder_idx)."""
    return (
        Task.objects.annotate(fire_at=Coalesce("remind_at", "due_at"))
        .filter(status=TaskStatus.OPEN, reminded_at__isnull=True, fire_at__lte=now)
        .order_by("fire_at", "pk")
    )


def _claim_reminders(now: dt.datetime) -> list[Task]:
    due = _due_reminders(now).select_related("owner__user", "owner__role", "workspace")
    if connection.features.has_select_for_update_skip_locked:
        # PostgreSQL: rows another run holds are skipped, not waited for.
        due = due.select_for_update(skip_locked=True, of=("self",))
    return list(due[:REMINDER_BATCH_SIZE])


def reminder_subject_key(task: Task, fire_at: dt.datetime) -> str:
    # The moment is part of the key: a re-armed reminder (new due time) is a new notice.
    return f"sales.task:{task.pk}:{fire_at.astimezone(dt.UTC).isoformat()}"


def task_reminders_send(*, now: dt.datetime | None = None) -> ReminderReport:
    """Send the due reminders of one batch: in-app notice and outbox `task.due` in this
    transaction, the e-mail from its own task after commit; `reminded_at` set with them.

    Safe under reruns and concurrent runs: rows are claimed with SKIP LOCKED (PostgreSQL; on
    SQLite one writer runs at a time), `reminded_at` is set with a compare-and-set, and notify
    is idempotent per subject key.
    """
    from huike.sales.tasks import deliver_task_reminder

    now = now or timezone.now()
    sent = 0
    with transaction.atomic():
        batch = _claim_reminders(now)
        for task in batch:
            claimed = Task.objects.filter(
                pk=task.pk, status=TaskStatus.OPEN, reminded_at__isnull=True
            ).update(reminded_at=now)
            if not claimed:
                continue  # another run sent it
            fire_at: dt.datetime = task.fire_at  # type: ignore[attr-defined]
            assignee = task.owner
            if assignee is None or not assignee.is_active:
                continue  # nobody to remind; the task stays as it is
            notification = _reminder_notify(task, assignee, fire_at)
            outbox_publish(
                workspace_id=task.workspace_id,
                kind=KIND_DUE,
                payload={
                    "task_id": task.pk,
                    "task_public_id": str(task.public_id),
                    "assignee_id": assignee.pk,
                    "due_at": task.due_at.isoformat() if task.due_at else None,
                    "remind_at": fire_at.isoformat(),
                    "lead_id": task.lead_id,
                    "deal_id": task.deal_id,
                    "customer_id": task.customer_id,
                },
            )
            if notification is not None:
                enqueue_on_commit(
                    deliver_task_reminder, notification_id=notification.pk, task_id=task.pk
                )
                sent += 1
    if sent:
        logger.info("Sent %d task reminders", sent)
    return ReminderReport(sent=sent, is_batch_full=len(batch) == REMINDER_BATCH_SIZE)


def _reminder_notify(task: Task, assignee: Membership, fire_at: dt.datetime) -> Notification | None:
    zone = task.workspace.zone
    with translation.override(member_language(assignee)), timezone.override(zone):
        if task.due_at is not None:
            body = _("Due %(when)s") % {
                "when": timezone.localtime(task.due_at).strftime("%Y-%m-%d %H:%M")
            }
        else:
            body = _("Reminder you set for this task")
        return notify(
            recipient=assignee,
            kind=KIND_DUE,
            subject_key=reminder_subject_key(task, fire_at),
            title=_("Task due: %(title)s") % {"title": task.title},
            body=body,
            url=task_url(task),
        )


# --- notifications ---------------------------------------------------------------------------
def _recipient(actor: Actor) -> Membership:
    if actor.membership is None:
        raise PermissionDeniedError(_("Notifications belong to a member."))
    return actor.membership


def notification_list(actor: Actor, *, is_unread: bool | None = None) -> QuerySet[Notification]:
    """The actor's own notifications (never anyone else's)."""
    queryset = Notification.objects.filter(workspace=actor.workspace, recipient=_recipient(actor))
    if is_unread is True:
        queryset = queryset.filter(read_at__isnull=True)
    elif is_unread is False:
        queryset = queryset.filter(read_at__isnull=False)
    return queryset


def notification_unread_count(membership: Membership) -> int:
    """One query on the (recipient, read_at) index."""
    return Notification.objects.filter(recipient=membership, read_at__isnull=True).count()


def access_notification(actor: Actor, public_id: Any) -> Notification:
    from huike.accounts.access import parse_public_id

    not_found = _("No such notification.")
    try:
        return notification_list(actor).get(public_id=parse_public_id(public_id, not_found))
    except Notification.DoesNotExist:
        raise NotFoundError(not_found) from None


def notification_mark_read(*, actor: Actor, notification: Notification) -> Notification:
    """Idempotent: a read notification keeps its first read time."""
    if notification.read_at is None:
        moment = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=moment)
        notification.read_at = moment
    return notification


def notifications_mark_all_read(*, actor: Actor) -> int:
    return notification_list(actor, is_unread=True).update(read_at=timezone.now())
