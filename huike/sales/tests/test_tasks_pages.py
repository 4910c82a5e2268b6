"""Task pages: my day (groups, overdue in red, quick add, the htmx done-checkbox), the form
(with the subject from a link), edit and delete, the calendar, notifications with the top
bar's unread badge. 404 from another workspace, 403 without tasks.manage, nothing of another
rep's; a denied action changes nothing."""

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from huike.accounts.models import Membership, User
from huike.customers.models import Customer
from huike.sales.models import Deal, Lead, Notification, Task, TaskStatus
from huike.sales.notifications import notify
from huike.sales.tests import test_tasks_support
from huike.sales.tests.test_tasks_support import client_of

pytestmark = pytest.mark.django_db

east = test_tasks_support.east
manager = test_tasks_support.manager
rep = test_tasks_support.rep
other_rep = test_tasks_support.other_rep
rep_actor = test_tasks_support.rep_actor
manager_actor = test_tasks_support.manager_actor
customer = test_tasks_support.customer
lead = test_tasks_support.lead
deal = test_tasks_support.deal
make_task = test_tasks_support.make_task

MakeTask = Callable[..., Task]
HTMX = {"HX-Request": "true"}


def _ago(hours: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(hours=hours)


def _group(content: str, key: str) -> str:
    match = re.search(rf'data-testid="group-{key}">(.*?)</section>', content, re.S)
    assert match, f"no group {key}"
    return match.group(1)


# --- my day -----------------------------------------------------------------------------------
def test_my_day_shows_overdue_today_and_no_due_groups(
    rep: Membership, make_task: MakeTask, lead: Lead
) -> None:
    # given
    make_task("Yesterday's call", due_at=_ago(30), lead=lead)
    make_task("Someday")
    # when
    response = client_of(rep).get("/sales/tasks/")
    # then
    assert response.status_code == 200
    content = response.content.decode()
    overdue = _group(content, "overdue")
    assert "Yesterday&#x27;s call" in overdue
    assert 'class="task-row overdue priority-normal"' in overdue
    assert "Lead: " in overdue
    assert "Lin Wei" in overdue
    assert "Someday" in _group(content, "no_due")
    assert "Nothing due this day." in _group(content, "today")
    assert 'data-testid="quick-add"' in content


def test_quick_add_creates_a_task_for_oneself(rep: Membership) -> None:
    # when
    response = client_of(rep).post(
        "/sales/tasks/new/",
        {
            "quick": "1",
            "title": "Send the brochure",
            "due_at": "2030-03-11T15:00",
            "priority": "high",
            "next": "/sales/tasks/",
        },
    )
    # then
    assert (response.status_code, response["Location"]) == (302, "/sales/tasks/")
    task = Task.objects.get()
    assert (task.title, task.owner_id, task.priority, task.due_at) == (
        "Send the brochure",
        rep.pk,
        "high",
        dt.datetime(2030, 3, 11, 7, 0, tzinfo=dt.UTC),  # 15:00 in Shanghai
    )


def test_done_checkbox_over_htmx_returns_the_row(rep: Membership, make_task: MakeTask) -> None:
    # given
    task = make_task(due_at=_ago(1))
    client = client_of(rep)
    # when
    response = client.post(
        f"/sales/tasks/{task.public_id}/status/", {"status": "done"}, headers=HTMX
    )
    # then
    assert response.status_code == 200
    row = response.content.decode()
    assert row.startswith('<li class="task-row done')
    assert 'name="status" value="open"' in row
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    # unticking reopens it
    client.post(f"/sales/tasks/{task.public_id}/status/", {"status": "open"}, headers=HTMX)
    task.refresh_from_db()
    assert (task.status, task.completed_at) == (TaskStatus.OPEN, None)


def test_manager_looks_at_a_reps_day(
    manager: Membership, rep: Membership, make_task: MakeTask
) -> None:
    make_task("Rep's call", due_at=_ago(30))
    response = client_of(manager).get(f"/sales/tasks/?assignee={rep.public_id}")
    assert response.status_code == 200
    assert "Rep&#x27;s call" in _group(response.content.decode(), "overdue")


# --- the form ---------------------------------------------------------------------------------
def test_form_takes_the_subject_from_the_link(rep: Membership, customer: Customer) -> None:
    # given
    client = client_of(rep)
    url = f"/sales/tasks/new/?customer={customer.public_id}&next=/customers/{customer.public_id}/"
    # when
    page = client.get(url)
    # then
    assert page.status_code == 200
    assert 'data-testid="task-subject"' in page.content.decode()
    assert "Lin Wei" in page.content.decode()
    response = client.post(
        url,
        {
            "title": "Visit",
            "priority": "normal",
            "assignee": str(rep.public_id),
            "customer": str(customer.public_id),
            "due_at": "",
            "remind_at": "",
            "description": "Bring samples",
            "next": f"/customers/{customer.public_id}/",
        },
    )
    assert (response.status_code, response["Location"]) == (
        302,
        f"/customers/{customer.public_id}/",
    )
    task = Task.objects.get()
    assert (task.customer_id, task.description) == (customer.pk, "Bring samples")


def test_form_for_a_subject_the_rep_cannot_see_is_404(
    other_rep: Membership, customer: Customer, deal: Deal
) -> None:
    client = client_of(other_rep)
    assert client.get(f"/sales/tasks/new/?customer={customer.public_id}").status_code == 404
    assert client.get(f"/sales/tasks/new/?deal={deal.public_id}").status_code == 404
    response = client.post(
        "/sales/tasks/new/",
        {"title": "Sneak", "priority": "normal", "deal": str(deal.public_id)},
    )
    assert response.status_code == 200
    assert "No such deal." in response.content.decode()
    assert not Task.objects.exists()


def test_manager_assigns_through_the_form(manager: Membership, rep: Membership) -> None:
    response = client_of(manager).post(
        "/sales/tasks/new/",
        {"title": "Quote", "priority": "urgent", "assignee": str(rep.public_id)},
    )
    assert response.status_code == 302
    assert Task.objects.get().owner_id == rep.pk


def test_rep_is_offered_no_one_else(rep: Membership, other_rep: Membership) -> None:
    content = client_of(rep).get("/sales/tasks/new/").content.decode()
    assert f'value="{rep.public_id}"' in content
    assert str(other_rep.public_id) not in content


def test_edit_moves_the_due_time_and_rearms(rep: Membership, make_task: MakeTask) -> None:
    task = make_task(due_at=_ago(2))
    Task.objects.filter(pk=task.pk).update(reminded_at=timezone.now())
    response = client_of(rep).post(
        f"/sales/tasks/{task.public_id}/",
        {
            "title": "Call Lin again",
            "priority": "normal",
            "assignee": str(rep.public_id),
            "due_at": "2030-05-01T10:00",
            "remind_at": "",
            "description": "",
        },
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.title, task.due_at, task.reminded_at) == (
        "Call Lin again",
        dt.datetime(2030, 5, 1, 2, 0, tzinfo=dt.UTC),
        None,
    )


def test_delete(rep: Membership, make_task: MakeTask) -> None:
    task = make_task()
    response = client_of(rep).post(f"/sales/tasks/{task.public_id}/delete/")
    assert (response.status_code, response["Location"]) == (302, "/sales/tasks/")
    assert not Task.objects.exists()


# --- calendar ---------------------------------------------------------------------------------
def test_calendar_month(rep: Membership, make_task: MakeTask) -> None:
    make_task("Quarter review", due_at=dt.datetime(2030, 3, 31, 1, 0, tzinfo=dt.UTC))
    response = client_of(rep).get("/sales/tasks/calendar/?month=2030-03")
    content = response.content.decode()
    assert response.status_code == 200
    assert '<strong data-testid="calendar-month">2030-03</strong>' in content
    cell = re.search(r'data-date="2030-03-31">(.*?)</div>', content, re.S)
    assert cell is not None
    assert "09:00</time> Quarter review" in cell.group(1)
    # a bad month falls back to this month rather than failing
    assert client_of(rep).get("/sales/tasks/calendar/?month=13-2030").status_code == 200


# --- access on every page ---------------------------------------------------------------------
def _pages(task: Task) -> list[tuple[str, str]]:
    return [
        ("get", "/sales/tasks/"),
        ("get", "/sales/tasks/calendar/"),
        ("get", "/sales/tasks/new/"),
        ("get", f"/sales/tasks/{task.public_id}/"),
        ("post", f"/sales/tasks/{task.public_id}/status/"),
        ("post", f"/sales/tasks/{task.public_id}/delete/"),
    ]


def test_role_without_tasks_manage_gets_403(
    make_member: Callable[..., Membership], make_task: MakeTask
) -> None:
    task = make_task()
    client = client_of(make_member("analyst@acme.test", "analyst"))
    for method, url in _pages(task):
        data = {"status": "done"} if method == "post" else {}
        assert getattr(client, method)(url, data).status_code == 403, url
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN


def test_another_workspace_and_another_rep_get_404(
    outsider_client: Client, other_rep: Membership, make_task: MakeTask
) -> None:
    task = make_task()
    for client in (outsider_client, client_of(other_rep)):
        for method, url in _pages(task)[3:]:
            data = {"status": "done"} if method == "post" else {}
            assert getattr(client, method)(url, data).status_code == 404, url
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN
    # and their own day does not show it
    assert "Call Lin" not in client_of(other_rep).get("/sales/tasks/").content.decode()


def test_user_without_membership_gets_403_and_pages_still_render(db: None) -> None:
    user = User.objects.create_user("nobody@acme.test", "pw-pw-pw-pw-1")
    client = Client()
    client.force_login(user)
    page = client.get("/sales/tasks/")
    assert page.status_code == 403
    assert 'data-testid="notifications-link"' not in page.content.decode()
    assert client.get("/sales/tasks/notifications/").status_code == 403


# --- notifications ----------------------------------------------------------------------------
def test_notifications_page_highlights_unread_and_marks_read(
    rep: Membership, other_rep: Membership, make_task: MakeTask, django_assert_max_num_queries: Any
) -> None:
    # given
    task = make_task()
    first = notify(
        recipient=rep,
        kind="task.due",
        subject_key="1",
        title="Task due: Call Lin",
        url=f"/sales/tasks/{task.public_id}/",
    )
    notify(recipient=rep, kind="task.due", subject_key="2", title="Task due: Visit")
    theirs = notify(recipient=other_rep, kind="task.due", subject_key="1", title="Not yours")
    assert first is not None
    assert theirs is not None
    client = client_of(rep)
    # when
    page = client.get("/sales/tasks/notifications/").content.decode()
    # then
    assert page.count('class="notification unread"') == 2
    assert "Not yours" not in page
    assert '<span class="badge danger" data-testid="unread-notifications">2</span>' in page
    # "open" marks it read and goes to the task
    opened = client.post(f"/sales/tasks/notifications/{first.public_id}/read/", {"open": "1"})
    assert (opened.status_code, opened["Location"]) == (302, f"/sales/tasks/{task.public_id}/")
    first.refresh_from_db()
    assert first.read_at is not None
    # another member's cannot be marked
    assert client.post(f"/sales/tasks/notifications/{theirs.public_id}/read/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    # all
    client.post("/sales/tasks/notifications/read-all/")
    assert not Notification.objects.filter(recipient=rep, read_at__isnull=True).exists()
    assert Notification.objects.filter(recipient=other_rep, read_at__isnull=True).count() == 1
    page = client.get("/sales/tasks/notifications/").content.decode()
    assert 'data-testid="unread-notifications"' not in page
    assert 'data-testid="notifications-link"' in page


def test_badge_costs_one_query_and_fragments_none(
    rep: Membership, make_task: MakeTask, django_assert_num_queries: Any
) -> None:
    from django.template import RequestContext, Template
    from django.test import RequestFactory

    from huike.accounts.access import Actor

    notify(recipient=rep, kind="task.due", subject_key="1", title="One")
    request = RequestFactory().get("/")
    request.actor = Actor.for_membership(rep)  # type: ignore[attr-defined]
    request.user = rep.user
    shell = Template(
        "{% if unread_notifications is not None %}{% with n=unread_notifications %}"
        "{{ n }}/{{ n }}{% endwith %}{% endif %}"
    )
    with django_assert_num_queries(1):
        assert shell.render(RequestContext(request)) == "1/1"
    with django_assert_num_queries(0):
        assert Template("fragment").render(RequestContext(request)) == "fragment"


def test_outsider_sees_none_of_the_notifications(outsider_client: Client, rep: Membership) -> None:
    notice = notify(recipient=rep, kind="task.due", subject_key="1", title="Mine")
    assert notice is not None
    assert "Mine" not in outsider_client.get("/sales/tasks/notifications/").content.decode()
    assert (
        outsider_client.post(f"/sales/tasks/notifications/{notice.public_id}/read/").status_code
        == 404
    )
    notice.refresh_from_db()
    assert notice.read_at is None


def test_subject_partial_lists_a_leads_tasks_for_its_page(
    rep: Membership, rep_actor: Any, other_rep: Membership, make_task: MakeTask, lead: Lead
) -> None:
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    from huike.accounts.access import Actor
    from huike.sales.tasks_service import subject_tasks

    # given
    make_task("Done call", lead=lead)
    Task.objects.filter(title="Done call").update(status=TaskStatus.DONE)
    make_task("Open call", lead=lead, due_at=_ago(1))
    make_task("Elsewhere")
    request = RequestFactory().get(f"/sales/leads/{lead.public_id}/")
    # when
    tasks = subject_tasks(rep_actor, lead=lead)
    html = render_to_string(
        "sales/tasks/_subject_tasks.html",
        {"tasks": tasks, "subject_query": f"lead={lead.public_id}"},
        request=request,
    )
    # then: open first; the link carries the lead and the way back
    assert [task.title for task in tasks] == ["Open call", "Done call"]
    assert html.index("Open call") < html.index("Done call")
    assert "Elsewhere" not in html
    assert (
        f"/sales/tasks/new/?lead={lead.public_id}&amp;next=/sales/leads/{lead.public_id}/" in html
    )
    # another rep sees none of them
    assert subject_tasks(Actor.for_membership(other_rep), lead=lead) == []
