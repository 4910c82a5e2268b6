"""Task pages: "my day" (with the quick-add line and done-checkboxes over htmx), the month
calendar, the task form (create, with the subject passed from a lead, deal or customer page as
`?lead=<id>`, `?deal=<id>` or `?customer=<id>`; edit), and the member's notifications.

Thin: objects through access functions, reads through selectors, changes through
huike.sales.tasks_service. The pages share the customers pages' rules (sign-in; 403 without the
permission or a membership; 404 for what the actor cannot see, other workspaces included).
"""

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from huike.accounts.access import Actor
from huike.accounts.settings_views.common import wants_fragment
from huike.core.errors import ConflictError, InvalidInputError, NotFoundError
from huike.core.pagination import paginate
from huike.customers.access import access_customer
from huike.customers.views.common import customers_page, page_limit, redirect_back
from huike.sales import tasks_service
from huike.sales.access import access_deal, access_lead, access_task
from huike.sales.forms_tasks import DayForm, QuickTaskForm, TaskForm, add_service_error
from huike.sales.models import Task, TaskStatus
from huike.sales.tasks_service import SubjectLink, TaskChanges, TaskSubject

TEMPLATES = "sales/tasks/"
NOTIFICATION_ORDERING = ("-created_at", "-id")


@dataclass(frozen=True)
class TaskRow:
    task: Task
    subject: SubjectLink | None


def _rows(tasks: list[Task]) -> list[TaskRow]:
    return [TaskRow(task, tasks_service.task_subject(task)) for task in tasks]


def _safe_next(request: HttpRequest, value: str) -> str:
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return ""


# --- my day ----------------------------------------------------------------------------------
@vary_on_headers("HX-Request")
@customers_page
@require_GET
def task_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("tasks.manage")
    members = tasks_service.assignable_members(actor)
    form = DayForm(request.GET, members=members)
    assignee = form.chosen_assignee()
    day = form.chosen_day() or actor.workspace.today()
    today = actor.workspace.today()
    tasks_day = tasks_service.my_day(actor, day, assignee)
    groups = [
        ("overdue", _("Overdue"), _rows(tasks_day.overdue)),
        ("today", _("Today") if day == today else _("This day"), _rows(tasks_day.today)),
        ("upcoming", _("Coming up"), _rows(tasks_day.upcoming)),
        ("no_due", _("No due date"), _rows(tasks_day.no_due)),
        ("done", _("Done"), _rows(tasks_day.done)),
    ]
    return render(
        request,
        f"{TEMPLATES}task_list.html",
        {
            "form": form,
            "members": members,
            "assignee": assignee or actor.membership,
            "is_own": assignee is None or assignee == actor.membership,
            "day": tasks_day,
            "today": today,
            "previous_day": day - dt.timedelta(days=1),
            "next_day": day + dt.timedelta(days=1),
            "groups": groups,
            "quick_form": QuickTaskForm(),
        },
    )


# --- the form --------------------------------------------------------------------------------
def _subject_from(actor: Actor, values: dict[str, Any]) -> TaskSubject:
    """The records a form or link names by public id, each through its access function."""
    lead, deal, customer = values.get("lead"), values.get("deal"), values.get("customer")
    return TaskSubject(
        lead=access_lead(actor, lead) if lead else None,
        deal=access_deal(actor, deal) if deal else None,
        customer=access_customer(actor, customer) if customer else None,
    )


def _subject_query(request: HttpRequest) -> dict[str, str]:
    values = {}
    for name in ("lead", "deal", "customer"):
        value = request.GET.get(name, "")
        if value:
            try:
                values[name] = str(uuid.UUID(value))
            except ValueError:
                raise NotFoundError(_("No such record.")) from None
    return values


def _subject_label(subject: TaskSubject) -> SubjectLink | None:
    probe = Task(lead=subject.lead, deal=subject.deal, customer=subject.customer)
    return tasks_service.task_subject(probe)


def _create_quick(request: HttpRequest, actor: Actor) -> HttpResponse:
    quick = QuickTaskForm(request.POST)
    target = _safe_next(request, request.POST.get("next", "")) or reverse("sales:task_list")
    if not quick.is_valid():
        for errors in quick.errors.values():
            messages.error(request, str(errors[0]))
        return HttpResponseRedirect(target)
    try:
        tasks_service.task_create(
            actor=actor,
            title=quick.cleaned_data["title"],
            due_at=quick.cleaned_data["due_at"],
            priority=quick.cleaned_data["priority"],
        )
    except InvalidInputError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("Task added."))
    return HttpResponseRedirect(target)


@customers_page
@require_http_methods(["GET", "POST"])
def task_create(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("tasks.manage")
    if request.method == "POST" and request.POST.get("quick"):
        return _create_quick(request, actor)
    members = tasks_service.assignable_members(actor)
    initial = _subject_query(request)
    subject = _subject_from(actor, initial)
    form = TaskForm(request.POST or None, actor=actor, members=members, initial=initial)
    back = _safe_next(request, request.POST.get("next") or request.GET.get("next", ""))
    if request.method == "POST" and form.is_valid():
        try:
            subject = _subject_from(actor, form.cleaned_data)
            task = tasks_service.task_create(
                actor=actor,
                title=form.cleaned_data["title"],
                description=form.cleaned_data["description"],
                due_at=form.cleaned_data["due_at"],
                remind_at=form.cleaned_data["remind_at"],
                priority=form.cleaned_data["priority"],
                assignee=form.assignee_member(),
                lead=subject.lead,
                deal=subject.deal,
                customer=subject.customer,
            )
        except (InvalidInputError, NotFoundError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Task added."))
            return HttpResponseRedirect(back or tasks_service.task_url(task))
    return render(
        request,
        f"{TEMPLATES}task_form.html",
        {"form": form, "task": None, "subject": _subject_label(subject), "next": back},
    )


@customers_page
@require_http_methods(["GET", "POST"])
def task_edit(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("tasks.manage")
    task = access_task(actor, public_id)
    members = tasks_service.assignable_members(actor)
    if task.owner is not None and task.owner not in members:
        members.append(task.owner)  # keeping the assignee needs no right to assign to them
    initial = {
        "title": task.title,
        "description": task.description,
        "due_at": task.due_at,
        "remind_at": task.remind_at,
        "priority": task.priority,
        "assignee": str(task.owner.public_id) if task.owner else "",
    }
    form = TaskForm(request.POST or None, actor=actor, members=members, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            tasks_service.task_update(
                actor=actor,
                task=task,
                changes=TaskChanges(
                    title=data["title"],
                    description=data["description"],
                    due_at=data["due_at"],
                    remind_at=data["remind_at"],
                    priority=data["priority"],
                    assignee=form.assignee_member(),
                ),
            )
        except InvalidInputError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Task saved."))
            return redirect("sales:task_edit", public_id=task.public_id)
    return render(
        request,
        f"{TEMPLATES}task_form.html",
        {"form": form, "task": task, "subject": tasks_service.task_subject(task), "next": ""},
    )


@vary_on_headers("HX-Request")
@customers_page
@require_POST
def task_status(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    """Done, reopened or cancelled; over htmx the task's row comes back."""
    actor.require("tasks.manage")
    task = access_task(actor, public_id)
    status = request.POST.get("status", "")
    try:
        task = tasks_service.task_status_set(actor=actor, task=task, status=status)
    except (ConflictError, InvalidInputError) as error:
        if wants_fragment(request):
            return HttpResponse(error.detail, status=error.status_code)
        messages.error(request, error.detail)
    if wants_fragment(request):
        task = access_task(actor, public_id)
        return render(
            request,
            f"{TEMPLATES}_task_row.html",
            {"task": task, "subject": tasks_service.task_subject(task), "show_subject": True},
        )
    if status == TaskStatus.DONE:
        messages.success(request, _("Task done."))
    return redirect_back(request, reverse("sales:task_edit", args=[task.public_id]))


@customers_page
@require_POST
def task_delete(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("tasks.manage")
    tasks_service.task_delete(actor=actor, task=access_task(actor, public_id))
    messages.success(request, _("Task deleted."))
    return redirect_back(request, reverse("sales:task_list"))


# --- calendar --------------------------------------------------------------------------------
@customers_page
@require_GET
def task_calendar(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("tasks.manage")
    members = tasks_service.assignable_members(actor)
    form = DayForm(request.GET, members=members)
    assignee = form.chosen_assignee()
    month = form.chosen_month() or actor.workspace.today()
    grid = tasks_service.tasks_calendar(actor, month, assignee)
    return render(
        request,
        f"{TEMPLATES}task_calendar.html",
        {
            "form": form,
            "members": members,
            "assignee": assignee or actor.membership,
            "assignee_query": f"&assignee={assignee.public_id}" if assignee else "",
            "calendar": grid,
            "weekdays": [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")],
        },
    )


# --- notifications ---------------------------------------------------------------------------
@customers_page
@require_GET
def notification_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    is_unread = True if request.GET.get("unread") == "1" else None
    page = paginate(
        tasks_service.notification_list(actor, is_unread=is_unread),
        cursor=request.GET.get("cursor"),
        limit=page_limit(request),
        ordering=NOTIFICATION_ORDERING,
    )
    return render(
        request,
        f"{TEMPLATES}notification_list.html",
        {
            "page": page,
            "is_unread_only": is_unread,
            "has_unread": tasks_service.notification_list(actor, is_unread=True).exists(),
        },
    )


@customers_page
@require_POST
def notification_read(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    """Mark read; with `open`, go on to what the notification is about."""
    notification = tasks_service.access_notification(actor, public_id)
    tasks_service.notification_mark_read(actor=actor, notification=notification)
    target = _safe_next(request, notification.url) if request.POST.get("open") else ""
    if target:
        return HttpResponseRedirect(target)
    return redirect_back(request, reverse("sales:notification_list"))


@customers_page
@require_POST
def notification_read_all(request: HttpRequest, actor: Actor) -> HttpResponse:
    marked = tasks_service.notifications_mark_all_read(actor=actor)
    if marked:
        messages.success(request, _("All notifications marked read."))
    return redirect_back(request, reverse("sales:notification_list"))
