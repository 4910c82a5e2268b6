"""The teams, roles, permissions and API keys endpoints.

Each resource is shown working for the admin, refused (403, nothing changed) for a member whose
role lacks the permission, and invisible (404, nothing changed) from another workspace.
"""

from typing import Any

from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import ApiKey, Membership, Role, Team, Workspace
from huike.accounts.services import api_key_create, role_create, team_create
from huike.accounts.tests import api_support
from huike.accounts.tests.api_support import EN, JSON, audited, builtin_role, key_client
from huike.core.audit import AuditAction
from huike.core.models import AuditEntry
from huike.core.permissions import all_permissions

# Shared fixtures (fresh_rate_limits is autouse), registered in this module by name.
admin = api_support.admin
team = api_support.team
fresh_rate_limits = api_support.fresh_rate_limits


def _walk(client: Client, path: str, limit: int) -> list[list[dict[str, Any]]]:
    pages = []
    url = f"{path}?limit={limit}"
    while True:
        body = client.get(url).json()
        pages.append(body["items"])
        if body["next"] is None:
            return pages
        url = f"{path}?limit={limit}&cursor={body['next']}"


# --- teams ----------------------------------------------------------------------------------
def test_admin_creates_team_under_a_parent_with_a_manager(
    admin: Client, owner: Membership, team: Team
) -> None:
    response = admin.post(
        "/api/v1/teams",
        {"name": "North East", "parent": str(team.public_id), "manager": str(owner.public_id)},
        JSON,
    )
    assert response.status_code == 201
    created = Team.objects.get(workspace=owner.workspace, name="North East")
    body = response.json()
    assert body == {
        "id": str(created.public_id),
        "name": "North East",
        "parent": {"id": str(team.public_id), "name": "North"},
        "manager": {"id": str(owner.public_id), "email": "owner@acme.test", "full_name": ""},
        "depth": 1,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }
    assert created.path == f"{team.path}{created.pk}/"


def test_team_list_is_paged_with_constant_queries(
    admin: Client, owner_actor: Actor, owner: Membership, django_assert_num_queries: Any
) -> None:
    parent = team_create(actor=owner_actor, name="Top", manager=owner)
    for number in range(4):
        team_create(actor=owner_actor, name=f"Team {number}", parent=parent, manager=owner)
    admin.get("/api/v1/workspace")
    with django_assert_num_queries(2):
        first = admin.get("/api/v1/teams?limit=3").json()
    with django_assert_num_queries(2):
        second = admin.get(f"/api/v1/teams?limit=3&cursor={first['next']}").json()
    names = [item["name"] for item in first["items"] + second["items"]]
    assert names == ["Top", "Team 0", "Team 1", "Team 2", "Team 3"]
    assert second["next"] is None
    assert {item["manager"]["email"] for item in first["items"]} == {"owner@acme.test"}


def test_admin_renames_moves_and_unsets_manager(
    admin: Client, owner_actor: Actor, owner: Membership
) -> None:
    north = team_create(actor=owner_actor, name="North")
    south = team_create(actor=owner_actor, name="South", manager=owner)
    response = admin.patch(
        f"/api/v1/teams/{south.public_id}",
        {"name": "South West", "parent": str(north.public_id), "manager": None},
        JSON,
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["parent"]["name"], body["manager"], body["depth"]) == (
        "South West",
        "North",
        None,
        1,
    )
    back = admin.patch(f"/api/v1/teams/{south.public_id}", {"parent": None}, JSON)
    assert (back.json()["parent"], back.json()["name"]) == (None, "South West")
    south.refresh_from_db()
    assert (south.parent, south.manager, south.path) == (None, None, f"/{south.pk}/")


def test_team_cannot_move_under_itself(admin: Client, owner_actor: Actor, team: Team) -> None:
    child = team_create(actor=owner_actor, name="Child", parent=team)
    response = admin.patch(
        f"/api/v1/teams/{team.public_id}", {"parent": str(child.public_id)}, JSON
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "parent"
    team.refresh_from_db()
    assert team.parent is None


def test_duplicate_team_name_conflicts(admin: Client, team: Team) -> None:
    response = admin.post("/api/v1/teams", {"name": "North"}, JSON)
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "name"


def test_admin_deletes_team(admin: Client, team: Team) -> None:
    response = admin.delete(f"/api/v1/teams/{team.public_id}")
    assert response.status_code == 204
    assert response.content == b""
    assert not Team.objects.filter(pk=team.pk).exists()
    assert audited(AuditAction.TEAM_DELETED, team.workspace) == [{"name": "North"}]


def test_team_with_sub_teams_cannot_be_deleted(
    admin: Client, owner_actor: Actor, team: Team
) -> None:
    team_create(actor=owner_actor, name="Child", parent=team)
    response = admin.delete(f"/api/v1/teams/{team.public_id}")
    assert response.status_code == 409
    assert Team.objects.filter(pk=team.pk).exists()


def test_member_without_teams_manage_cannot_change_teams(member_client: Client, team: Team) -> None:
    created = member_client.post("/api/v1/teams", {"name": "Mine"}, JSON)
    renamed = member_client.patch(f"/api/v1/teams/{team.public_id}", {"name": "Mine"}, JSON)
    deleted = member_client.delete(f"/api/v1/teams/{team.public_id}")
    listed = member_client.get("/api/v1/teams")
    assert [r.status_code for r in (created, renamed, deleted, listed)] == [403, 403, 403, 403]
    assert list(Team.objects.values_list("name", flat=True)) == ["North"]


def test_outsider_cannot_read_change_or_delete_team(outsider_client: Client, team: Team) -> None:
    read = outsider_client.get(f"/api/v1/teams/{team.public_id}")
    renamed = outsider_client.patch(f"/api/v1/teams/{team.public_id}", {"name": "Ours"}, JSON)
    deleted = outsider_client.delete(f"/api/v1/teams/{team.public_id}")
    assert [r.status_code for r in (read, renamed, deleted)] == [404, 404, 404]
    team.refresh_from_db()
    assert team.name == "North"
    assert outsider_client.get("/api/v1/teams").json()["items"] == []


# --- roles and permissions ------------------------------------------------------------------
def test_admin_creates_custom_role(admin: Client, owner: Membership) -> None:
    response = admin.post(
        "/api/v1/roles",
        {
            "name": "Support lead",
            "description": "Leads support",
            "permissions": ["members.view", "dashboard.view", "members.view"],
        },
        JSON,
    )
    assert response.status_code == 201
    role = Role.objects.get(workspace=owner.workspace, key="support_lead")
    body = response.json()
    assert body == {
        "id": str(role.public_id),
        "key": "support_lead",
        "name": "Support lead",
        "description": "Leads support",
        "permissions": ["dashboard.view", "members.view"],
        "is_builtin": False,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }


def test_unknown_permission_is_a_bad_field(admin: Client, owner: Membership) -> None:
    response = admin.post("/api/v1/roles", {"name": "Odd", "permissions": ["rockets.launch"]}, JSON)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "permissions", "message": "Unknown permissions: rockets.launch."}
    ]
    assert not Role.objects.filter(workspace=owner.workspace, key="odd").exists()


def test_admin_updates_and_deletes_a_custom_role(
    admin: Client, owner_actor: Actor, owner: Membership
) -> None:
    role = role_create(actor=owner_actor, name="Temp", permissions=["dashboard.view"])
    updated = admin.patch(
        f"/api/v1/roles/{role.public_id}",
        {"name": "Temporary", "permissions": ["dashboard.view", "audit.view"]},
        JSON,
    )
    assert updated.status_code == 200
    assert (updated.json()["name"], updated.json()["permissions"]) == (
        "Temporary",
        ["audit.view", "dashboard.view"],
    )
    deleted = admin.delete(f"/api/v1/roles/{role.public_id}")
    assert deleted.status_code == 204
    assert not Role.objects.filter(pk=role.pk).exists()


def test_role_in_use_cannot_be_deleted(
    admin: Client, owner_actor: Actor, member: Membership
) -> None:
    role = role_create(actor=owner_actor, name="Used", permissions=[])
    Membership.objects.filter(pk=member.pk).update(role=role)
    response = admin.delete(f"/api/v1/roles/{role.public_id}")
    assert response.status_code == 409
    assert Role.objects.filter(pk=role.pk).exists()


def test_builtin_role_cannot_be_changed_or_deleted(admin: Client, owner: Membership) -> None:
    sales = builtin_role(owner.workspace, "sales")
    before = list(sales.permissions)
    changed = admin.patch(f"/api/v1/roles/{sales.public_id}", {"permissions": []}, JSON)
    deleted = admin.delete(f"/api/v1/roles/{sales.public_id}")
    assert (changed.status_code, deleted.status_code) == (403, 403)
    sales.refresh_from_db()
    assert sales.permissions == before


def test_member_without_roles_manage_cannot_read_or_create_roles(
    member_client: Client, member: Membership
) -> None:
    listed = member_client.get("/api/v1/roles")
    read = member_client.get(f"/api/v1/roles/{member.role.public_id}")
    created = member_client.post("/api/v1/roles", {"name": "Mine", "permissions": []}, JSON)
    assert [r.status_code for r in (listed, read, created)] == [403, 403, 403]
    assert not Role.objects.filter(workspace=member.workspace, key="mine").exists()


def test_outsider_cannot_read_change_or_delete_role(
    outsider_client: Client, owner_actor: Actor
) -> None:
    role = role_create(actor=owner_actor, name="Private", permissions=["dashboard.view"])
    read = outsider_client.get(f"/api/v1/roles/{role.public_id}")
    changed = outsider_client.patch(f"/api/v1/roles/{role.public_id}", {"name": "Ours"}, JSON)
    deleted = outsider_client.delete(f"/api/v1/roles/{role.public_id}")
    assert [r.status_code for r in (read, changed, deleted)] == [404, 404, 404]
    role.refresh_from_db()
    assert role.name == "Private"


def test_role_list_pages_through_every_role_once(admin: Client, owner: Membership) -> None:
    pages = _walk(admin, "/api/v1/roles", 5)
    keys = [item["key"] for page in pages for item in page]
    assert [len(page) for page in pages] == [5, 3]
    assert sorted(keys) == sorted(
        Role.objects.filter(workspace=owner.workspace).values_list("key", flat=True)
    )


def test_permissions_lists_the_registry(member_client: Client) -> None:
    response = member_client.get("/api/v1/permissions", headers=EN)
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    assert [item["code"] for item in body["items"]] == sorted(p.code for p in all_permissions())
    assert {"code": "members.view", "label": "See members and teams", "group": "Settings"} in body[
        "items"
    ]


# --- API keys -------------------------------------------------------------------------------
def test_admin_creates_a_key_shown_once(admin: Client, owner: Membership) -> None:
    read_only = builtin_role(owner.workspace, "read_only")
    # when the admin issues a key
    response = admin.post(
        "/api/v1/api-keys",
        {"name": "BI export", "role": str(read_only.public_id), "rate_limit_per_minute": 30},
        JSON,
    )
    # then the secret is in the response, works, and is never shown again
    assert response.status_code == 201
    body = response.json()
    api_key = ApiKey.objects.get(public_id=body["id"])
    assert body["key"].startswith(f"hk_{api_key.prefix}_")
    assert (body["name"], body["role"]["key"], body["rate_limit_per_minute"]) == (
        "BI export",
        "read_only",
        30,
    )
    assert (body["is_active"], body["revoked_at"], body["created_by"]) == (True, None, None)
    assert api_key.secret_hash != body["key"]
    new_client = Client(headers={"Authorization": f"Bearer {body['key']}"})
    assert new_client.get("/api/v1/workspace").status_code == 200
    listed = admin.get("/api/v1/api-keys").json()["items"]
    assert "key" not in listed[0]
    assert body["key"] not in str(listed)
    assert audited(AuditAction.API_KEY_CREATED, owner.workspace)[-1]["name"] == "BI export"


def test_key_made_by_a_member_names_them(owner_client: Client, owner: Membership) -> None:
    response = owner_client.post(
        "/api/v1/api-keys",
        {"name": "mine", "role": str(builtin_role(owner.workspace, "read_only").public_id)},
        JSON,
    )
    assert response.status_code == 201
    assert response.json()["created_by"] == {
        "id": str(owner.public_id),
        "email": "owner@acme.test",
        "full_name": "",
    }


def test_admin_revokes_a_key(admin: Client, owner: Membership) -> None:
    issued = api_key_create(
        actor=None,
        workspace=owner.workspace,
        name="old",
        role=builtin_role(owner.workspace, "admin"),
    )
    victim = Client(headers={"Authorization": f"Bearer {issued.plaintext}"})
    response = admin.post(f"/api/v1/api-keys/{issued.api_key.public_id}/revoke")
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert response.json()["revoked_at"] is not None
    assert victim.get("/api/v1/workspace").status_code == 401
    again = admin.post(f"/api/v1/api-keys/{issued.api_key.public_id}/revoke")
    assert again.status_code == 200
    assert len(audited(AuditAction.API_KEY_REVOKED, owner.workspace)) == 1


def test_rate_limit_of_a_new_key_must_be_positive(admin: Client, owner: Membership) -> None:
    response = admin.post(
        "/api/v1/api-keys",
        {
            "name": "x",
            "role": str(builtin_role(owner.workspace, "admin").public_id),
            "rate_limit_per_minute": 0,
        },
        JSON,
    )
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["rate_limit_per_minute"]
    assert ApiKey.objects.filter(workspace=owner.workspace).count() == 1


def test_member_without_api_keys_manage_cannot_touch_keys(
    member_client: Client, member: Membership
) -> None:
    issued = api_key_create(
        actor=None,
        workspace=member.workspace,
        name="ci",
        role=builtin_role(member.workspace, "admin"),
    )
    listed = member_client.get("/api/v1/api-keys")
    created = member_client.post(
        "/api/v1/api-keys", {"name": "mine", "role": str(member.role.public_id)}, JSON
    )
    revoked = member_client.post(f"/api/v1/api-keys/{issued.api_key.public_id}/revoke")
    assert [r.status_code for r in (listed, created, revoked)] == [403, 403, 403]
    assert ApiKey.objects.filter(workspace=member.workspace).count() == 1
    issued.api_key.refresh_from_db()
    assert issued.api_key.revoked_at is None


def test_outsider_cannot_see_or_revoke_keys(outsider_client: Client, owner: Membership) -> None:
    issued = api_key_create(
        actor=None,
        workspace=owner.workspace,
        name="ci",
        role=builtin_role(owner.workspace, "admin"),
    )
    revoked = outsider_client.post(f"/api/v1/api-keys/{issued.api_key.public_id}/revoke")
    listed = outsider_client.get("/api/v1/api-keys").json()["items"]
    assert revoked.status_code == 404
    assert listed == []
    issued.api_key.refresh_from_db()
    assert issued.api_key.revoked_at is None


def test_key_keeper_creates_a_key_with_a_narrower_role_but_not_a_wider_one(
    owner_actor: Actor, owner: Membership
) -> None:
    # given a key whose role may manage keys and see the dashboard, and nothing else
    role_create(
        actor=owner_actor,
        name="Key keeper",
        key="key_keeper",
        permissions=["api_keys.manage", "dashboard.view"],
    )
    dashboard = role_create(
        actor=owner_actor, name="Dashboard", key="dashboard", permissions=["dashboard.view"]
    )
    keeper = key_client(owner.workspace, "key_keeper")
    # when it issues a key with a role within its own permissions, and one beyond them
    narrower = keeper.post(
        "/api/v1/api-keys", {"name": "wallboard", "role": str(dashboard.public_id)}, JSON
    )
    wider = keeper.post(
        "/api/v1/api-keys",
        {"name": "takeover", "role": str(builtin_role(owner.workspace, "admin").public_id)},
        JSON,
    )
    # then naming the role needs no roles.manage, while granting it still needs its permissions
    assert narrower.status_code == 201
    assert narrower.json()["role"] == {
        "id": str(dashboard.public_id),
        "key": "dashboard",
        "name": "Dashboard",
    }
    assert wider.status_code == 403
    assert wider.json()["errors"] == [
        {"field": "role", "message": "You cannot grant a role with permissions you do not have."}
    ]
    assert sorted(
        ApiKey.objects.filter(workspace=owner.workspace).values_list("name", flat=True)
    ) == [
        "key_keeper key",
        "wallboard",
    ]


def test_role_of_another_workspace_for_a_new_key_is_a_bad_field(
    admin: Client, owner: Membership, other_workspace: Workspace
) -> None:
    foreign_role = builtin_role(other_workspace, "read_only")
    response = admin.post(
        "/api/v1/api-keys", {"name": "x", "role": str(foreign_role.public_id)}, JSON
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "role", "message": "No such role."}]
    assert ApiKey.objects.filter(workspace=owner.workspace).count() == 1
    assert ApiKey.objects.filter(workspace=other_workspace).count() == 0


def test_team_manager_without_members_view_names_parent_and_manager(
    owner_actor: Actor, owner: Membership, team: Team
) -> None:
    # given a key whose role may manage teams but not see the member list
    role_create(actor=owner_actor, name="Organiser", key="organiser", permissions=["teams.manage"])
    organiser = key_client(owner.workspace, "organiser")
    # when it creates a team under North, managed by the owner
    response = organiser.post(
        "/api/v1/teams",
        {"name": "North East", "parent": str(team.public_id), "manager": str(owner.public_id)},
        JSON,
    )
    # then both references are found
    assert response.status_code == 201
    created = Team.objects.get(workspace=owner.workspace, name="North East")
    assert (created.parent, created.manager) == (team, owner)


def test_parent_or_manager_of_another_workspace_is_a_bad_field(
    admin: Client, owner: Membership, outsider: Membership, outsider_actor: Actor
) -> None:
    foreign_team = team_create(actor=outsider_actor, name="Globex team")
    with_parent = admin.post(
        "/api/v1/teams", {"name": "A", "parent": str(foreign_team.public_id)}, JSON
    )
    with_manager = admin.post(
        "/api/v1/teams", {"name": "B", "manager": str(outsider.public_id)}, JSON
    )
    assert with_parent.status_code == with_manager.status_code == 422
    assert with_parent.json()["errors"] == [{"field": "parent", "message": "No such team."}]
    assert with_manager.json()["errors"] == [{"field": "manager", "message": "No such member."}]
    assert not Team.objects.filter(workspace=owner.workspace).exists()


def test_deleting_a_role_audits_each_revoked_key_deleted_with_it(
    admin: Client, owner_actor: Actor, owner: Membership
) -> None:
    # given a custom role whose two keys were revoked
    role = role_create(actor=owner_actor, name="Old sync", permissions=["dashboard.view"])
    issued = [
        api_key_create(actor=owner_actor, workspace=owner.workspace, name=name, role=role)
        for name in ("ERP", "BI")
    ]
    for one in issued:
        admin.post(f"/api/v1/api-keys/{one.api_key.public_id}/revoke")
    # when the role is deleted
    response = admin.delete(f"/api/v1/roles/{role.public_id}")
    # then the keys went with it, each one on the record before the role
    assert response.status_code == 204
    assert not ApiKey.objects.filter(role_id=role.pk).exists()
    entries = list(
        AuditEntry.objects.filter(
            workspace=owner.workspace,
            action__in=[AuditAction.RECORD_DELETED, AuditAction.ROLE_DELETED],
        )
        .order_by("seq")
        .values_list("action", "target_type", "target_id", "data")
    )
    assert entries == [
        (
            AuditAction.RECORD_DELETED,
            "api_key",
            str(issued[0].api_key.public_id),
            {"name": "ERP", "prefix": issued[0].api_key.prefix},
        ),
        (
            AuditAction.RECORD_DELETED,
            "api_key",
            str(issued[1].api_key.public_id),
            {"name": "BI", "prefix": issued[1].api_key.prefix},
        ),
        (AuditAction.ROLE_DELETED, "role", str(role.public_id), {"key": "old_sync"}),
    ]


def test_role_with_an_active_key_is_not_deleted_and_nothing_is_audited(
    admin: Client, owner_actor: Actor, owner: Membership
) -> None:
    role = role_create(actor=owner_actor, name="Live sync", permissions=["dashboard.view"])
    issued = api_key_create(actor=owner_actor, workspace=owner.workspace, name="ERP", role=role)
    response = admin.delete(f"/api/v1/roles/{role.public_id}")
    assert response.status_code == 409
    assert ApiKey.objects.filter(pk=issued.api_key.pk, revoked_at__isnull=True).exists()
    assert audited(AuditAction.RECORD_DELETED, owner.workspace) == []
