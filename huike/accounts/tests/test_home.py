import pytest
from django.core.cache import cache
from django.test import Client

from conftest import PASSWORD
from huike.accounts.demo import DEMO_LOGINS, demo_seed
from huike.accounts.models import Membership, Team, Workspace
from huike.core.audit import AuditAction
from huike.core.models import AuditEntry


def test_anonymous_visitor_is_sent_to_sign_in(db: None) -> None:
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/")


def test_dashboard_shows_figures_of_own_workspace_only(
    owner_client: Client, member: Membership, outsider: Membership
) -> None:
    # given two members in Acme and one in Globex
    # when the owner opens the home page
    response = owner_client.get("/")
    # then the figures count Acme only
    assert response.status_code == 200
    figures = response.context["figures"]
    assert figures.active_members == 2
    assert b"Globex" not in response.content.split(b"<main")[1]


def test_dashboard_counts_sign_ins_into_this_workspace_and_its_audit_entries(
    owner: Membership, member: Membership, other_workspace: Workspace, make_member: object
) -> None:
    # given the member also belongs to Globex, and signs in (landing in Acme) after a wrong
    # password, and an outsider's failures never reach Acme
    cache.clear()  # the per-address sign-in counters live in the cache
    make_member("member@acme.test", "sales", other_workspace)  # type: ignore[operator]
    Client().post("/account/login/", {"username": "member@acme.test", "password": "nope-1234"})
    Client().post("/account/login/", {"username": "member@acme.test", "password": PASSWORD})
    Client().post("/account/login/", {"username": "outsider@globex.test", "password": "x-1234"})
    client = Client()
    client.post("/account/login/", {"username": "owner@acme.test", "password": PASSWORD})
    # when the owner opens the home page
    response = client.get("/")
    # then today's sign-ins into Acme are the member's and the owner's, and the audit card
    # counts Acme's entries of the period
    figures = response.context["figures"]
    assert figures.sign_ins[-1].count == 2
    assert sum(day.count for day in figures.sign_ins) == 2
    assert (
        figures.audit_entries_recent == AuditEntry.objects.filter(workspace=owner.workspace).count()
    )
    assert not AuditEntry.objects.filter(
        workspace=other_workspace, action=AuditAction.LOGIN_SUCCEEDED
    ).exists()
    content = response.content.decode()
    assert "Audit entries, last 14 days" in content
    assert "Failed sign-ins" not in content


def test_switcher_refuses_a_workspace_the_user_is_not_in(
    owner_client: Client, other_workspace: Workspace
) -> None:
    response = owner_client.post(
        "/workspace/switch/", {"workspace": str(other_workspace.public_id)}
    )
    assert response.status_code == 302
    assert owner_client.get("/").context["current_workspace"].slug == "acme"


def test_switcher_moves_a_member_of_two_workspaces(
    owner_client: Client, owner: Membership, other_workspace: Workspace, make_member: object
) -> None:
    make_member("owner@acme.test", "read_only", other_workspace)  # type: ignore[operator]
    owner_client.post("/workspace/switch/", {"workspace": str(other_workspace.public_id)})
    assert owner_client.get("/").context["current_workspace"].slug == "globex"


def test_demo_seed_is_idempotent(db: None) -> None:
    demo_seed()
    demo_seed()
    workspace = Workspace.objects.get(slug="demo")
    assert Membership.objects.filter(workspace=workspace).count() == len(DEMO_LOGINS)
    assert Team.objects.filter(workspace=workspace).count() == 4
    assert Team.objects.get(workspace=workspace, name="Sales East").path.count("/") == 3


@pytest.mark.parametrize("path", ["/healthz"])
def test_healthz_reports_database_and_queue(db: None, path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["task_queue"]["detail"]["engine"] == "database"
