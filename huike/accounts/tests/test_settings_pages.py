"""Who may open which settings page: owner, member without the permission, outsider, anonymous;
and list pages whose query count does not grow with their rows."""

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from huike.accounts.access import Actor
from huike.accounts.models import ApiKey, Membership, Role, Team, Workspace
from huike.accounts.services import (
    api_key_create,
    member_add,
    role_create,
    team_create,
)
from huike.core.audit import AuditAction, audit_record
from huike.core.models import AuditEntry

LIST_PAGES = [
    "/settings/workspace/",
    "/settings/members/",
    "/settings/teams/",
    "/settings/roles/",
    "/settings/roles/add/",
    "/settings/api-keys/",
    "/settings/audit/",
]


@pytest.fixture(autouse=True)
def _english(settings: Any) -> None:
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def acme_objects(owner_actor: Actor, member: Membership) -> dict[str, Any]:
    """One of each kind of object in Acme, for the outsider to aim at."""
    team = team_create(actor=owner_actor, name="Sales East", manager=owner_actor.membership)
    role = role_create(actor=owner_actor, name="Helper", permissions=["members.view"])
    api_key = api_key_create(
        actor=owner_actor,
        workspace=owner_actor.workspace,
        name="ERP sync",
        role=Role.objects.get(workspace=owner_actor.workspace, key="read_only"),
    ).api_key
    return {"member": member, "team": team, "role": role, "api_key": api_key}


def _content(response: Any) -> str:
    return str(response.content.decode())


# --- owner ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "template", "expected"),
    [
        ("/settings/workspace/", "workspace.html", 'value="Acme"'),
        ("/settings/members/", "members.html", "member@acme.test"),
        ("/settings/teams/", "teams.html", "Sales East"),
        ("/settings/roles/", "roles.html", "Helper"),
        ("/settings/roles/add/", "role_form.html", 'value="members.view"'),
        ("/settings/api-keys/", "api_keys.html", "ERP sync"),
        ("/settings/audit/", "audit.html", "team.created"),
    ],
)
def test_owner_sees_every_settings_page(
    owner_client: Client, acme_objects: dict[str, Any], url: str, template: str, expected: str
) -> None:
    # when
    response = owner_client.get(url)
    # then
    assert response.status_code == 200
    assert f"accounts/settings/{template}" in [t.name for t in response.templates]
    assert expected in _content(response)


def _assert_acme_objects_unchanged(member: Any, team: Any, role: Any, api_key: Any) -> None:
    """The objects of the `acme_objects` fixture are as it made them."""
    for obj in (member, team, role, api_key):
        obj.refresh_from_db()
    assert (member.role.key, member.is_active) == ("sales", True)
    assert team.name == "Sales East"
    assert role.name == "Helper"
    assert api_key.revoked_at is None


def test_owner_sees_detail_pages(owner_client: Client, acme_objects: dict[str, Any]) -> None:
    member, team, role, api_key = (
        acme_objects["member"],
        acme_objects["team"],
        acme_objects["role"],
        acme_objects["api_key"],
    )
    pages = {
        f"/settings/members/{member.public_id}/": "member@acme.test",
        f"/settings/teams/{team.public_id}/": 'value="Sales East"',
        f"/settings/roles/{role.public_id}/": 'value="Helper"',
        f"/settings/api-keys/{api_key.public_id}/revoke/": f"hk_{api_key.prefix}",
    }
    for url, expected in pages.items():
        response = owner_client.get(url)
        assert response.status_code == 200, url
        assert expected in _content(response), url


def test_settings_root_redirects_to_first_allowed_page(owner_client: Client) -> None:
    response = owner_client.get("/settings/")
    assert response.status_code == 302
    assert response["Location"] == "/settings/workspace/"


def test_settings_root_redirects_a_manager_to_members(
    make_member: Callable[..., Membership],
) -> None:
    # given a manager, whose role may see members and teams but no other settings
    manager = make_member("manager@acme.test", "manager")
    client = Client()
    client.force_login(manager.user)
    # when
    response = client.get("/settings/")
    # then
    assert response.status_code == 302
    assert response["Location"] == "/settings/members/"


# --- member without the permissions ---------------------------------------------------------
@pytest.mark.parametrize("url", ["/settings/", *LIST_PAGES])
def test_member_without_permission_gets_403(member_client: Client, url: str) -> None:
    response = member_client.get(url)
    assert response.status_code == 403
    assert "accounts/forbidden.html" in [t.name for t in response.templates]


def test_member_without_permission_gets_403_on_details_and_changes_nothing(
    member_client: Client, acme_objects: dict[str, Any], workspace: Workspace
) -> None:
    member, team, role, api_key = (
        acme_objects["member"],
        acme_objects["team"],
        acme_objects["role"],
        acme_objects["api_key"],
    )
    admin_role = Role.objects.get(workspace=workspace, key="admin")
    requests: list[tuple[str, dict[str, str] | None]] = [
        (f"/settings/members/{member.public_id}/", None),
        (f"/settings/members/{member.public_id}/", {"role": str(admin_role.public_id)}),
        (f"/settings/members/{member.public_id}/status/", {"active": "false"}),
        (f"/settings/teams/{team.public_id}/", None),
        (f"/settings/teams/{team.public_id}/", {"name": "Renamed"}),
        (f"/settings/teams/{team.public_id}/delete/", {}),
        (f"/settings/roles/{role.public_id}/", None),
        (f"/settings/roles/{role.public_id}/", {"name": "Renamed"}),
        (f"/settings/roles/{role.public_id}/delete/", {}),
        (f"/settings/api-keys/{api_key.public_id}/revoke/", None),
        (f"/settings/api-keys/{api_key.public_id}/revoke/", {}),
        ("/settings/workspace/", {"name": "Mine", "timezone": "UTC", "currency": "USD"}),
        ("/settings/members/", {"email": "x@acme.test", "role": str(admin_role.public_id)}),
        ("/settings/teams/", {"name": "Mine"}),
        ("/settings/roles/add/", {"name": "Mine", "permissions": ["roles.manage"]}),
        ("/settings/api-keys/", {"name": "Mine", "role": str(admin_role.public_id)}),
        ("/settings/audit/verify/", {}),
    ]
    audit_before = AuditEntry.objects.filter(workspace=workspace).count()
    for url, data in requests:
        # when
        response = member_client.get(url) if data is None else member_client.post(url, data)
        # then
        assert response.status_code == 403, url
    _assert_acme_objects_unchanged(member, team, role, api_key)
    workspace.refresh_from_db()
    assert workspace.name == "Acme"
    assert Membership.objects.filter(workspace=workspace).count() == 2
    assert Team.objects.filter(workspace=workspace).count() == 1
    assert Role.objects.filter(workspace=workspace, is_builtin=False).count() == 1
    assert ApiKey.objects.filter(workspace=workspace).count() == 1
    assert AuditEntry.objects.filter(workspace=workspace).count() == audit_before


def test_manager_sees_members_but_cannot_change_them(
    make_member: Callable[..., Membership], member: Membership
) -> None:
    # given a manager: members.view without members.manage
    manager = make_member("manager@acme.test", "manager")
    client = Client()
    client.force_login(manager.user)
    sales = member.role
    admin_role = Role.objects.get(workspace=member.workspace, key="admin")
    # when
    listing = client.get("/settings/members/")
    detail = client.get(f"/settings/members/{member.public_id}/")
    change = client.post(
        f"/settings/members/{member.public_id}/", {"role": str(admin_role.public_id)}
    )
    add = client.post(
        "/settings/members/", {"email": "new@acme.test", "role": str(sales.public_id)}
    )
    # then
    assert (listing.status_code, detail.status_code) == (200, 200)
    assert listing.context["add_form"] is None
    assert detail.context["form"] is None
    assert (change.status_code, add.status_code) == (403, 403)
    member.refresh_from_db()
    assert member.role.key == "sales"
    assert not Membership.objects.filter(user__email="new@acme.test").exists()


# --- outsider (admin of another workspace) --------------------------------------------------
def test_outsider_gets_404_for_acme_objects_and_changes_nothing(
    outsider_client: Client,
    outsider: Membership,
    acme_objects: dict[str, Any],
    workspace: Workspace,
) -> None:
    member, team, role, api_key = (
        acme_objects["member"],
        acme_objects["team"],
        acme_objects["role"],
        acme_objects["api_key"],
    )
    globex_admin = Role.objects.get(workspace=outsider.workspace, key="admin")
    requests: list[tuple[str, dict[str, str] | None]] = [
        (f"/settings/members/{member.public_id}/", None),
        (f"/settings/members/{member.public_id}/", {"role": str(globex_admin.public_id)}),
        (f"/settings/members/{member.public_id}/status/", {"active": "false"}),
        (f"/settings/teams/{team.public_id}/", None),
        (f"/settings/teams/{team.public_id}/", {"name": "Renamed"}),
        (f"/settings/teams/{team.public_id}/delete/", {}),
        (f"/settings/roles/{role.public_id}/", None),
        (f"/settings/roles/{role.public_id}/", {"name": "Renamed"}),
        (f"/settings/roles/{role.public_id}/delete/", {}),
        (f"/settings/roles/add/?copy={role.public_id}", None),
        (f"/settings/api-keys/{api_key.public_id}/revoke/", None),
        (f"/settings/api-keys/{api_key.public_id}/revoke/", {}),
    ]
    audit_before = AuditEntry.objects.filter(workspace=workspace).count()
    for url, data in requests:
        # when
        response = outsider_client.get(url) if data is None else outsider_client.post(url, data)
        # then
        assert response.status_code == 404, url
    _assert_acme_objects_unchanged(member, team, role, api_key)
    assert AuditEntry.objects.filter(workspace=workspace).count() == audit_before


def test_outsider_cannot_use_acme_role_or_team_in_own_forms(
    outsider_client: Client, outsider: Membership, acme_objects: dict[str, Any]
) -> None:
    # given Acme's team and role ids
    acme_team, acme_role = acme_objects["team"], acme_objects["role"]
    globex = outsider.workspace
    globex_sales = Role.objects.get(workspace=globex, key="sales")
    # when the outsider posts them in Globex's forms
    add_member = outsider_client.post(
        "/settings/members/", {"email": "spy@globex.test", "role": str(acme_role.public_id)}
    )
    add_member_team = outsider_client.post(
        "/settings/members/",
        {
            "email": "spy@globex.test",
            "role": str(globex_sales.public_id),
            "team": str(acme_team.public_id),
        },
    )
    add_team = outsider_client.post(
        "/settings/teams/", {"name": "Spies", "parent": str(acme_team.public_id)}
    )
    add_key = outsider_client.post(
        "/settings/api-keys/", {"name": "Spy", "role": str(acme_role.public_id)}
    )
    change_self = outsider_client.post(
        f"/settings/members/{outsider.public_id}/", {"role": str(acme_role.public_id)}
    )
    # then each is a form error and nothing was created
    assert add_member.status_code == 200
    assert add_member.context["add_form"].errors["role"]
    assert add_member_team.context["add_form"].errors["team"]
    assert add_team.context["form"].errors["parent"]
    assert add_key.context["form"].errors["role"]
    assert change_self.context["form"].errors["role"]
    assert not Membership.objects.filter(user__email="spy@globex.test").exists()
    assert not Team.objects.filter(workspace=globex).exists()
    assert not ApiKey.objects.filter(workspace=globex).exists()
    outsider.refresh_from_db()
    assert outsider.role.key == "admin"


def test_outsider_lists_show_only_own_workspace(
    outsider_client: Client, acme_objects: dict[str, Any]
) -> None:
    pages = {
        "/settings/members/": "member@acme.test",
        "/settings/teams/": "Sales East",
        "/settings/roles/": "Helper",
        "/settings/api-keys/": "ERP sync",
        "/settings/audit/": "owner@acme.test",
    }
    for url, acme_text in pages.items():
        response = outsider_client.get(url)
        assert response.status_code == 200, url
        assert acme_text not in _content(response), url


# --- anonymous ------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["/settings/", *LIST_PAGES])
def test_anonymous_is_sent_to_sign_in(db: None, url: str) -> None:
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/?next=")


def test_anonymous_is_sent_to_sign_in_from_details(acme_objects: dict[str, Any]) -> None:
    member = acme_objects["member"]
    response = Client().post(f"/settings/members/{member.public_id}/status/", {"active": "false"})
    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/?next=")
    member.refresh_from_db()
    assert member.is_active is True


# --- list pages do not add queries per row --------------------------------------------------
def _queries_for(client: Client, url: str) -> int:
    client.get(url)  # warm up: the first request may store the workspace in the session
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


def _add_rows(actor: Actor, count: int, start: int) -> None:
    sales = Role.objects.get(workspace=actor.workspace, key="sales")
    parent = None
    for number in range(start, start + count):
        team = team_create(actor=actor, name=f"Team {number}", parent=parent, manager=None)
        member = member_add(actor=actor, email=f"m{number}@acme.test", role=sales, team=team)
        team_create(actor=actor, name=f"Managed {number}", parent=team, manager=member)
        role_create(actor=actor, name=f"Role {number}", permissions=["members.view"])
        api_key_create(actor=actor, workspace=actor.workspace, name=f"Key {number}", role=sales)
        audit_record(
            workspace_id=actor.workspace.pk,
            action=AuditAction.EXPORT_PERFORMED,
            actor_label="owner@acme.test",
            data={"rows": number},
        )
        parent = team


@pytest.mark.parametrize(
    "url",
    [
        "/settings/members/",
        "/settings/teams/",
        "/settings/roles/",
        "/settings/api-keys/",
        "/settings/audit/",
    ],
)
def test_list_page_queries_do_not_grow_with_rows(
    owner_client: Client,
    owner_actor: Actor,
    django_assert_num_queries: Any,
    url: str,
) -> None:
    # given one row of each kind, and the queries the page makes for it
    _add_rows(owner_actor, 1, start=1)
    baseline = _queries_for(owner_client, url)
    # when five more rows of each kind exist
    _add_rows(owner_actor, 5, start=2)
    # then the page makes the same number of queries
    with django_assert_num_queries(baseline):
        response = owner_client.get(url)
    assert response.status_code == 200
    assert "Key 6" in _content(owner_client.get("/settings/api-keys/"))
