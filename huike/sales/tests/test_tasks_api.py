"""The tasks and notifications API: create, list with filters and cursor pages, get, patch
(fields and status), delete; who may give tasks to whom; notifications are the caller's own.
404 from another workspace, 403 without tasks.manage, nothing of another rep's."""

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from huike.accounts.models import Membership, Workspace
from huike.accounts.tests import api_support
from huike.accounts.tests.api_support import JSON, key_client
from huike.customers.models import Customer
from huike.sales.models import Deal, Lead, Notification, Task, TaskStatus
from huike.sales.notifications import notify
from huike.sales.tests import test_tasks_support
from huike.sales.tests.test_tasks_support import client_of

pytestmark = pytest.mark.django_db

fresh_rate_limits = api_support.fresh_rate_limits
admin = api_support.admin
east = test_tasks_support.east
west = test_tasks_support.west
manager = test_tasks_support.manager
rep = test_tasks_support.rep
other_rep = test_tasks_support.other_rep
west_rep = test_tasks_support.west_rep
rep_actor = test_tasks_support.rep_actor
manager_actor = test_tasks_support.manager_actor
customer = test_tasks_support.customer
lead = test_tasks_support.lead
deal = test_tasks_support.deal
make_task = test_tasks_support.make_task

MakeTask = Callable[..., Task]
BASE = "/api/v1/tasks"


def _url(task: Task, suffix: str = "") -> str:
    return f"{BASE}/{task.public_id}{suffix}"


def _fields(response: Any) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


def _in(hours: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(hours=hours)


# --- create -----------------------------------------------------------------------------------
def test_rep_creates_a_task_on_a_lead(rep: Membership, lead: Lead, customer: Customer) -> None:
    # when
    response = client_of(rep).post(
        BASE,
        {
            "title": "Call Lin",
            "due_at": "2030-03-11T09:30:00",  # no offset: Acme's Asia/Shanghai
            "priority": "high",
            "lead_id": str(lead.public_id),
        },
        content_type=JSON,
    )
    # then
    assert response.status_code == 201
    body = response.json()
    task = Task.objects.get()
    assert body["id"] == str(task.public_id)
    assert {key: body[key] for key in ("title", "status", "priority", "due_at", "is_overdue")} == {
        "title": "Call Lin",
        "status": "open",
        "priority": "high",
        "due_at": "2030-03-11T01:30:00Z",
        "is_overdue": False,
    }
    assert (body["lead_id"], body["deal_id"], body["customer_id"]) == (
        str(lead.public_id),
        None,
        str(customer.public_id),
    )
    assert body["assignee"]["email"] == "rep@acme.test"
    assert body["created_by"]["email"] == "rep@acme.test"


def test_rep_cannot_create_a_task_for_another_rep(rep: Membership, other_rep: Membership) -> None:
    response = client_of(rep).post(
        BASE, {"title": "Call", "assignee_id": str(other_rep.public_id)}, content_type=JSON
    )
    assert response.status_code == 403
    assert not Task.objects.exists()


def test_manager_creates_a_task_for_a_rep_of_the_team(manager: Membership, rep: Membership) -> None:
    response = client_of(manager).post(
        BASE, {"title": "Send the quote", "assignee_id": str(rep.public_id)}, content_type=JSON
    )
    assert response.status_code == 201
    assert response.json()["assignee"]["email"] == "rep@acme.test"
    assert Task.objects.get().owner_id == rep.pk


def test_unknown_or_invisible_subject_is_a_422_naming_the_field(
    other_rep: Membership, lead: Lead, outsider: Membership
) -> None:
    client = client_of(other_rep)
    response = client.post(
        BASE, {"title": "Call", "lead_id": str(lead.public_id)}, content_type=JSON
    )
    assert (response.status_code, _fields(response)) == (422, ["lead_id"])
    response = client.post(
        BASE, {"title": "Call", "assignee_id": str(outsider.public_id)}, content_type=JSON
    )
    assert (response.status_code, _fields(response)) == (422, ["assignee_id"])
    assert not Task.objects.exists()


def test_role_without_tasks_manage_gets_403_everywhere(
    workspace: Workspace, make_task: MakeTask
) -> None:
    # given
    task = make_task()
    analyst = key_client(workspace, "analyst")
    # when / then
    assert analyst.get(BASE).status_code == 403
    assert analyst.post(BASE, {"title": "x"}, content_type=JSON).status_code == 403
    assert analyst.get(_url(task)).status_code == 403
    assert analyst.patch(_url(task), {"title": "x"}, content_type=JSON).status_code == 403
    assert analyst.delete(_url(task)).status_code == 403
    task.refresh_from_db()
    assert task.title == "Call Lin"
    assert Task.objects.count() == 1


def test_another_workspace_gets_404_and_changes_nothing(
    other_workspace: Workspace, make_task: MakeTask
) -> None:
    # given
    task = make_task()
    outsider = key_client(other_workspace)
    # when / then
    assert outsider.get(_url(task)).status_code == 404
    assert outsider.patch(_url(task), {"status": "done"}, content_type=JSON).status_code == 404
    assert outsider.delete(_url(task)).status_code == 404
    assert outsider.get(BASE).json()["items"] == []
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN


def test_rep_cannot_see_or_change_another_reps_task(
    make_task: MakeTask, other_rep: Membership
) -> None:
    # given
    task = make_task()
    client = client_of(other_rep)
    # then
    assert client.get(_url(task)).status_code == 404
    assert client.patch(_url(task), {"status": "done"}, content_type=JSON).status_code == 404
    assert client.delete(_url(task)).status_code == 404
    assert client.get(BASE).json()["items"] == []
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN


# --- list -------------------------------------------------------------------------------------
def test_list_filters(
    admin: Client,
    make_task: MakeTask,
    manager_actor: Any,
    other_rep: Membership,
    lead: Lead,
    deal: Deal,
) -> None:
    # given
    overdue = make_task("overdue", due_at=_in(-2))
    on_lead = make_task("on the lead", due_at=_in(5), lead=lead)
    on_deal = make_task("on the deal", deal=deal)
    done = make_task("done", due_at=_in(-3))
    Task.objects.filter(pk=done.pk).update(status=TaskStatus.DONE)
    theirs = make_task("theirs", actor=manager_actor, assignee=other_rep)

    def titles(query: str) -> list[str]:
        response = admin.get(f"{BASE}?{query}")
        assert response.status_code == 200, response.content
        return sorted(item["title"] for item in response.json()["items"])

    # then
    assert titles("overdue=true") == ["overdue"]
    assert titles(f"lead_id={lead.public_id}") == ["on the lead"]
    assert titles(f"deal_id={deal.public_id}") == ["on the deal"]
    assert titles(f"customer_id={lead.customer.public_id}") == ["on the deal", "on the lead"]
    assert titles("status=done") == ["done"]
    assert titles(f"assignee={other_rep.public_id}") == ["theirs"]
    before = _in(0).isoformat().replace("+", "%2B")
    assert titles(f"due_before={before}") == ["done", "overdue"]
    assert titles(f"due_after={before}&status=open") == ["on the lead"]
    assert {overdue.pk, on_lead.pk, on_deal.pk, theirs.pk} <= set(
        Task.objects.values_list("pk", flat=True)
    )


def test_assignee_me_and_cursor_pages_with_constant_queries(
    rep: Membership, make_task: MakeTask, django_assert_max_num_queries: Any
) -> None:
    # given
    for number in range(5):
        make_task(f"Task {number}")
    client = client_of(rep)
    client.get(f"{BASE}?assignee=me&limit=1")  # the session's first request warms up
    # when
    with django_assert_max_num_queries(8):
        first = client.get(f"{BASE}?assignee=me&limit=2").json()
    with django_assert_max_num_queries(8):
        everything = client.get(f"{BASE}?assignee=me&limit=5").json()
    rest = client.get(f"{BASE}?assignee=me&limit=2&cursor={first['next']}").json()
    # then: newest first
    assert [item["title"] for item in first["items"]] == ["Task 4", "Task 3"]
    assert [item["title"] for item in rest["items"]] == ["Task 2", "Task 1"]
    assert (len(everything["items"]), everything["next"]) == (5, None)


# --- patch and delete -------------------------------------------------------------------------
def test_patch_status_done_and_open(rep: Membership, make_task: MakeTask, lead: Lead) -> None:
    task = make_task(lead=lead)
    client = client_of(rep)
    done = client.patch(_url(task), {"status": "done"}, content_type=JSON)
    assert done.status_code == 200
    assert done.json()["status"] == "done"
    assert done.json()["completed_at"] is not None
    lead.refresh_from_db()
    assert lead.last_activity_at is not None
    reopened = client.patch(_url(task), {"status": "open"}, content_type=JSON).json()
    assert (reopened["status"], reopened["completed_at"]) == ("open", None)


def test_patch_fields_rearms_the_reminder(rep: Membership, make_task: MakeTask) -> None:
    task = make_task(due_at=_in(-1))
    Task.objects.filter(pk=task.pk).update(reminded_at=timezone.now())
    response = client_of(rep).patch(
        _url(task),
        {"due_at": "2030-01-02T10:00:00Z", "title": "Call again", "description": None},
        content_type=JSON,
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["title"], body["due_at"], body["reminded_at"], body["description"]) == (
        "Call again",
        "2030-01-02T10:00:00Z",
        None,
        "",
    )


def test_patch_refuses_an_empty_title_and_changes_nothing(
    rep: Membership, make_task: MakeTask
) -> None:
    task = make_task()
    response = client_of(rep).patch(
        _url(task), {"title": None, "priority": "urgent"}, content_type=JSON
    )
    assert (response.status_code, _fields(response)) == (422, ["title"])
    task.refresh_from_db()
    assert (task.title, task.priority) == ("Call Lin", "normal")


def test_patch_assignee_by_a_rep_is_refused(
    rep: Membership, other_rep: Membership, make_task: MakeTask
) -> None:
    task = make_task()
    response = client_of(rep).patch(
        _url(task), {"assignee_id": str(other_rep.public_id)}, content_type=JSON
    )
    assert response.status_code == 403
    task.refresh_from_db()
    assert task.owner_id == rep.pk


def test_delete(rep: Membership, make_task: MakeTask) -> None:
    task = make_task()
    response = client_of(rep).delete(_url(task))
    assert response.status_code == 204
    assert not Task.objects.exists()


# --- notifications ----------------------------------------------------------------------------
def _notice(recipient: Membership, key: str, title: str) -> Notification:
    notification = notify(recipient=recipient, kind="task.due", subject_key=key, title=title)
    assert notification is not None
    return notification


def test_notifications_are_the_callers_own(rep: Membership, other_rep: Membership) -> None:
    # given
    mine = _notice(rep, "a", "Mine")
    _notice(rep, "b", "Mine too")
    theirs = _notice(other_rep, "a", "Theirs")
    client = client_of(rep)
    # when
    listed = client.get("/api/v1/notifications").json()
    # then
    assert [item["title"] for item in listed["items"]] == ["Mine too", "Mine"]
    assert listed["items"][0]["is_read"] is False
    # someone else's notification cannot be marked
    assert client.post(f"/api/v1/notifications/{theirs.public_id}/read").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    # one, then all
    marked = client.post(f"/api/v1/notifications/{mine.public_id}/read").json()
    assert marked["is_read"] is True
    unread = client.get("/api/v1/notifications?unread=true").json()["items"]
    assert [item["title"] for item in unread] == ["Mine too"]
    assert client.post("/api/v1/notifications/read-all").json() == {"marked": 1}
    assert client.get("/api/v1/notifications?unread=true").json()["items"] == []
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_another_workspace_sees_no_notifications(
    rep: Membership, other_workspace: Workspace
) -> None:
    notice = _notice(rep, "a", "Mine")
    outsider = key_client(other_workspace)
    # a key made from the command line acts for no member
    assert outsider.get("/api/v1/notifications").status_code == 403
    assert outsider.post(f"/api/v1/notifications/{notice.public_id}/read").status_code == 403
    notice.refresh_from_db()
    assert notice.read_at is None
