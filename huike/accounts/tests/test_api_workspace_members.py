"""The workspace and members endpoints.

Each resource is shown working for the admin, refused (403, nothing changed) for a member whose
role lacks the permission, and invisible (404, nothing changed) from another workspace.
"""

from collections.abc import Callable
from typing import Any

from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team, Workspace
from huike.accounts.services import role_create, team_create, workspace_create
from huike.accounts.tests import api_support
from huike.accounts.tests.api_support import JSON, audited, builtin_role, key_client
from huike.core.audit import AuditAction

MakeMember = Callable[..., Membership]

# Shared fixtures (fresh_rate_limits is autouse), registered in this module by name.
admin = api_support.admin
team = api_support.team
fresh_rate_limits = api_support.fresh_rate_limits


# --- workspace ------------------------------------------------------------------------------
def test_workspace_is_the_callers_own(admin: Client, owner: Membership) -> None:
    response = admin.get("/api/v1/workspace")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(owner.workspace.public_id)
    assert {key: body[key] for key in ("slug", "name", "timezone", "currency")} == {
        "slug": "acme",
        "name": "Acme",
        "timezone": "Asia/Shanghai",
        "currency": "CNY",
    }
    assert body["require_two_factor"] is False


def test_admin_updates_workspace_settings(admin: Client, owner: Membership) -> None:
    # when the admin changes every setting
    response = admin.patch(
        "/api/v1/workspace",
        {
            "name": "Acme Ltd",
            "timezone": "Europe/Berlin",
            "currency": "EUR",
            "require_two_factor": True,
        },
        JSON,
    )
    # then they are saved and audited
    assert response.status_code == 200
    workspace = Workspace.objects.get(pk=owner.workspace.pk)
    assert (workspace.name, workspace.timezone, workspace.currency) == (
        "Acme Ltd",
        "Europe/Berlin",
        "EUR",
    )
    assert workspace.require_two_factor is True
    assert response.json()["name"] == "Acme Ltd"
    assert audited(AuditAction.WORKSPACE_UPDATED, workspace) == [
        {
            "name": "Acme Ltd",
            "timezone": "Europe/Berlin",
            "currency": "EUR",
            "require_two_factor": True,
        }
    ]


def test_patch_leaves_fields_not_sent_alone(admin: Client, owner: Membership) -> None:
    response = admin.patch("/api/v1/workspace", {"name": "Renamed"}, JSON)
    assert response.status_code == 200
    workspace = Workspace.objects.get(pk=owner.workspace.pk)
    assert (workspace.name, workspace.timezone, workspace.currency) == (
        "Renamed",
        "Asia/Shanghai",
        "CNY",
    )


def test_member_without_workspace_manage_cannot_change_workspace(
    member_client: Client, member: Membership
) -> None:
    response = member_client.patch("/api/v1/workspace", {"name": "Mine now"}, JSON)
    assert response.status_code == 403
    assert Workspace.objects.get(pk=member.workspace.pk).name == "Acme"
    assert audited(AuditAction.WORKSPACE_UPDATED, member.workspace) == []


def test_workspace_currency_must_be_three_capitals(admin: Client, owner: Membership) -> None:
    response = admin.patch("/api/v1/workspace", {"currency": "euro"}, JSON)
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["currency"]
    assert Workspace.objects.get(pk=owner.workspace.pk).currency == "CNY"


def test_workspaces_lists_the_users_active_memberships(
    owner: Membership, owner_client: Client, other_workspace: Workspace, make_member: MakeMember
) -> None:
    # given the owner is also a member of Globex, and was a member of a third workspace
    make_member("owner@acme.test", "read_only", other_workspace)
    initech = workspace_create(
        slug="initech", name="Initech", owner_email="boss@initech.test", owner_password=None
    )
    gone = make_member("owner@acme.test", "read_only", initech)
    Membership.objects.filter(pk=gone.pk).update(is_active=False)
    # when they list their workspaces, and an Acme key does too
    mine = owner_client.get("/api/v1/workspaces").json()
    keys = key_client(owner.workspace).get("/api/v1/workspaces").json()
    # then the session sees both active ones, the key only its own
    assert [item["slug"] for item in mine["items"]] == ["acme", "globex"]
    assert mine["next"] is None
    assert [item["slug"] for item in keys["items"]] == ["acme"]


# --- members --------------------------------------------------------------------------------
def test_member_list_pages_through_everyone_once_with_constant_queries(
    admin: Client, owner: Membership, make_member: MakeMember, django_assert_num_queries: Any
) -> None:
    # given seven members
    for number in range(6):
        make_member(f"person{number}@acme.test", "sales")
    admin.get("/api/v1/workspace")  # first use of the key records last_used_at
    # when the list is read three at a time
    pages = []
    url = "/api/v1/members?limit=3"
    for _page in range(3):
        # then each page costs the same: the key lookup and the page itself
        with django_assert_num_queries(2):
            body = admin.get(url).json()
        pages.append([item["email"] for item in body["items"]])
        url = f"/api/v1/members?limit=3&cursor={body['next']}"
    # and every member comes exactly once
    assert [len(page) for page in pages] == [3, 3, 1]
    emails = [email for page in pages for email in page]
    assert sorted(emails) == sorted(
        ["owner@acme.test"] + [f"person{number}@acme.test" for number in range(6)]
    )
    assert body["next"] is None


def test_member_shows_role_and_team(admin: Client, member: Membership, team: Team) -> None:
    Membership.objects.filter(pk=member.pk).update(team=team)
    body = admin.get(f"/api/v1/members/{member.public_id}").json()
    assert body == {
        "id": str(member.public_id),
        "email": "member@acme.test",
        "full_name": "",
        "role": {"id": str(member.role.public_id), "key": "sales", "name": "Sales"},
        "team": {"id": str(team.public_id), "name": "North"},
        "is_active": True,
        "invitation_pending": False,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }


def test_member_without_members_view_cannot_read_members(
    member_client: Client, owner: Membership
) -> None:
    assert member_client.get("/api/v1/members").status_code == 403
    assert member_client.get(f"/api/v1/members/{owner.public_id}").status_code == 403


def test_manager_reads_members_but_cannot_add_them(
    make_member: MakeMember, owner: Membership
) -> None:
    # given a manager (members.view, not members.manage) signed in
    manager = make_member("boss@acme.test", "manager")
    client = Client()
    client.force_login(manager.user)
    # when they list members and try to add one
    listed = client.get("/api/v1/members")
    added = client.post(
        "/api/v1/members",
        {"email": "new@acme.test", "role": str(builtin_role(owner.workspace, "sales").public_id)},
        JSON,
    )
    # then reading works and adding is refused, adding nobody
    assert listed.status_code == 200
    assert len(listed.json()["items"]) == 2
    assert added.status_code == 403
    assert not Membership.objects.filter(user__email="new@acme.test").exists()


def test_admin_adds_member(admin: Client, owner: Membership, team: Team) -> None:
    sales = builtin_role(owner.workspace, "sales")
    # when the admin adds a person with a role and a team
    response = admin.post(
        "/api/v1/members",
        {
            "email": "New.Person@Acme.test",
            "role": str(sales.public_id),
            "team": str(team.public_id),
            "full_name": "New Person",
        },
        JSON,
    )
    # then they are a member, shown with role and team, and it is audited
    assert response.status_code == 201
    membership = Membership.objects.get(
        workspace=owner.workspace, user__email="new.person@acme.test"
    )
    body = response.json()
    assert body["id"] == str(membership.public_id)
    assert (body["email"], body["full_name"]) == ("new.person@acme.test", "New Person")
    assert body["role"]["key"] == "sales"
    assert body["team"] == {"id": str(team.public_id), "name": "North"}
    assert (membership.role, membership.team) == (sales, team)
    assert audited(AuditAction.MEMBER_ADDED, owner.workspace)[-1] == {
        "email": "new.person@acme.test",
        "role": "sales",
        "team": "North",
        "invitation": False,
    }
    assert body["invitation_pending"] is False


def test_role_or_team_of_another_workspace_is_a_bad_field(
    admin: Client, owner: Membership, other_workspace: Workspace, outsider_actor: Actor
) -> None:
    # given ids of Globex's role and team
    foreign_role = builtin_role(other_workspace, "sales")
    foreign_team = team_create(actor=outsider_actor, name="Globex team")
    sales = builtin_role(owner.workspace, "sales")
    # when Acme's admin uses them
    with_role = admin.post(
        "/api/v1/members", {"email": "a@acme.test", "role": str(foreign_role.public_id)}, JSON
    )
    with_team = admin.post(
        "/api/v1/members",
        {"email": "a@acme.test", "role": str(sales.public_id), "team": str(foreign_team.public_id)},
        JSON,
    )
    # then they are unknown fields of the request, and nobody was added
    assert with_role.status_code == with_team.status_code == 422
    assert with_role.json()["errors"] == [{"field": "role", "message": "No such role."}]
    assert with_team.json()["errors"] == [{"field": "team", "message": "No such team."}]
    assert Membership.objects.filter(workspace=owner.workspace).count() == 1


def test_adding_an_existing_member_conflicts(admin: Client, member: Membership) -> None:
    response = admin.post(
        "/api/v1/members", {"email": "member@acme.test", "role": str(member.role.public_id)}, JSON
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "email"


def test_admin_changes_role_and_team_then_removes_the_team(
    admin: Client, member: Membership, team: Team
) -> None:
    manager = builtin_role(member.workspace, "manager")
    changed = admin.patch(
        f"/api/v1/members/{member.public_id}",
        {"role": str(manager.public_id), "team": str(team.public_id)},
        JSON,
    )
    assert changed.status_code == 200
    assert (changed.json()["role"]["key"], changed.json()["team"]["name"]) == ("manager", "North")
    cleared = admin.patch(f"/api/v1/members/{member.public_id}", {"team": None}, JSON)
    assert cleared.status_code == 200
    assert cleared.json()["team"] is None
    assert cleared.json()["role"]["key"] == "manager"
    member.refresh_from_db()
    assert (member.role, member.team) == (manager, None)


def test_admin_deactivates_member(admin: Client, member: Membership) -> None:
    response = admin.patch(f"/api/v1/members/{member.public_id}", {"is_active": False}, JSON)
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    member.refresh_from_db()
    assert member.is_active is False
    assert audited(AuditAction.MEMBER_REMOVED, member.workspace) == [
        {"email": "member@acme.test", "is_active": False}
    ]


def test_last_admin_cannot_be_demoted(admin: Client, owner: Membership) -> None:
    sales = builtin_role(owner.workspace, "sales")
    response = admin.patch(
        f"/api/v1/members/{owner.public_id}", {"role": str(sales.public_id)}, JSON
    )
    assert response.status_code == 409
    owner.refresh_from_db()
    assert owner.role.key == "admin"


def test_member_cannot_promote_themselves(member_client: Client, member: Membership) -> None:
    admin_role = builtin_role(member.workspace, "admin")
    response = member_client.patch(
        f"/api/v1/members/{member.public_id}", {"role": str(admin_role.public_id)}, JSON
    )
    assert response.status_code == 403
    member.refresh_from_db()
    assert member.role.key == "sales"


def test_outsider_cannot_read_or_change_members(
    outsider_client: Client, member: Membership
) -> None:
    read = outsider_client.get(f"/api/v1/members/{member.public_id}")
    changed = outsider_client.patch(
        f"/api/v1/members/{member.public_id}", {"is_active": False}, JSON
    )
    assert (read.status_code, changed.status_code) == (404, 404)
    member.refresh_from_db()
    assert member.is_active is True


def test_recruiter_without_members_view_names_role_and_team(
    owner_actor: Actor, owner: Membership, team: Team
) -> None:
    # given a key whose role may manage members but neither see teams nor manage roles
    role_create(
        actor=owner_actor,
        name="Recruiter",
        key="recruiter",
        permissions=["members.manage", "dashboard.view"],
    )
    dashboard = role_create(
        actor=owner_actor, name="Dashboard", key="dashboard", permissions=["dashboard.view"]
    )
    recruiter = key_client(owner.workspace, "recruiter")
    # when it adds someone with a role within its permissions, in the North team
    response = recruiter.post(
        "/api/v1/members",
        {"email": "new@acme.test", "role": str(dashboard.public_id), "team": str(team.public_id)},
        JSON,
    )
    # then the role and team it named are found and given
    assert response.status_code == 201
    membership = Membership.objects.get(workspace=owner.workspace, user__email="new@acme.test")
    assert (membership.role, membership.team) == (dashboard, team)
