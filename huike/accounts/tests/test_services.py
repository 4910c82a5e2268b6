import pytest
from django.utils import translation

from huike.accounts.access import (
    Actor,
    access_api_key,
    access_membership,
    access_role,
    access_team,
)
from huike.accounts.models import ApiKey, Membership, Role, Team, Workspace
from huike.accounts.roles import BUILTIN_ROLES
from huike.accounts.services import (
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    member_add,
    member_update,
    role_create,
    role_delete,
    role_update,
    team_create,
    team_delete,
    team_update,
    workspace_create,
)
from huike.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from huike.core.models import AuditEntry


def test_workspace_create_makes_builtin_roles_and_an_admin(workspace: Workspace) -> None:
    assert sorted(Role.objects.filter(workspace=workspace).values_list("key", flat=True)) == sorted(
        BUILTIN_ROLES
    )
    admin = Membership.objects.get(workspace=workspace)
    assert (admin.user.email, admin.role.key) == ("owner@acme.test", "admin")
    assert list(
        AuditEntry.objects.filter(workspace=workspace)
        .order_by("seq")
        .values_list("action", flat=True)
    ) == ["workspace.created", "member.added"]


@pytest.mark.parametrize(("slug", "field"), [("Bad Slug", "slug"), ("", "slug")])
def test_workspace_create_rejects_bad_slug(db: None, slug: str, field: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        workspace_create(slug=slug, name="X", owner_email="a@b.test")
    assert raised.value.field == field


def test_workspace_create_rejects_taken_slug_and_weak_password(workspace: Workspace) -> None:
    with pytest.raises(ConflictError):
        workspace_create(slug="acme", name="Again", owner_email="x@y.test")
    with pytest.raises(InvalidInputError) as raised:
        workspace_create(slug="new", name="New", owner_email="new@y.test", owner_password="12345")
    assert raised.value.field == "password"
    assert not Workspace.objects.filter(slug="new").exists()


def test_member_add_and_duplicate(owner_actor: Actor, workspace: Workspace) -> None:
    role = Role.objects.get(workspace=workspace, key="service")
    membership = member_add(actor=owner_actor, email="New@Acme.test", role=role)
    assert (membership.user.email, membership.role.key) == ("new@acme.test", "service")
    assert not membership.user.has_usable_password()
    with pytest.raises(ConflictError):
        member_add(actor=owner_actor, email="new@acme.test", role=role)


def test_member_without_permission_cannot_add(member_actor: Actor, workspace: Workspace) -> None:
    role = Role.objects.get(workspace=workspace, key="admin")
    with pytest.raises(PermissionDeniedError):
        member_add(actor=member_actor, email="x@acme.test", role=role)
    assert Membership.objects.filter(workspace=workspace).count() == 2


def test_role_of_another_workspace_is_refused(
    owner_actor: Actor, other_workspace: Workspace
) -> None:
    foreign_role = Role.objects.get(workspace=other_workspace, key="admin")
    with pytest.raises(InvalidInputError):
        member_add(actor=owner_actor, email="x@acme.test", role=foreign_role)


def test_last_admin_cannot_be_demoted_or_deactivated(
    owner_actor: Actor, owner: Membership, workspace: Workspace
) -> None:
    sales = Role.objects.get(workspace=workspace, key="sales")
    with pytest.raises(ConflictError):
        member_update(actor=owner_actor, membership=owner, role=sales)
    with pytest.raises(ConflictError):
        member_update(actor=owner_actor, membership=owner, is_active=False)
    owner.refresh_from_db()
    assert (owner.role.key, owner.is_active) == ("admin", True)


def test_team_reparent_moves_subtree_and_refuses_cycles(owner_actor: Actor) -> None:
    # given Sales > East > East-1 and Service
    sales = team_create(actor=owner_actor, name="Sales")
    east = team_create(actor=owner_actor, name="East", parent=sales)
    east_one = team_create(actor=owner_actor, name="East-1", parent=east)
    service = team_create(actor=owner_actor, name="Service")
    # when East moves under Service
    team_update(actor=owner_actor, team=east, parent=service)
    # then its subtree follows
    east_one.refresh_from_db()
    assert east_one.path == f"/{service.pk}/{east.pk}/{east_one.pk}/"
    # and a team cannot move under its own descendant
    with pytest.raises(InvalidInputError):
        team_update(actor=owner_actor, team=service, parent=east_one)
    with pytest.raises(ConflictError):
        team_delete(actor=owner_actor, team=service)
    team_update(actor=owner_actor, team=east, clear_parent=True)
    east_one.refresh_from_db()
    assert east_one.path == f"/{east.pk}/{east_one.pk}/"


def test_builtin_roles_are_immutable_and_custom_roles_compose(
    owner_actor: Actor, workspace: Workspace
) -> None:
    builtin = Role.objects.get(workspace=workspace, key="sales")
    with pytest.raises(PermissionDeniedError):
        role_update(actor=owner_actor, role=builtin, permissions=["audit.view"])
    with pytest.raises(InvalidInputError):
        role_create(actor=owner_actor, name="Bad", permissions=["no.such"])
    custom = role_create(
        actor=owner_actor, name="Auditor", permissions=["audit.view", "dashboard.view"]
    )
    assert (custom.key, custom.permissions) == ("auditor", ["audit.view", "dashboard.view"])
    role_update(actor=owner_actor, role=custom, permissions=["audit.view"])
    entry = AuditEntry.objects.filter(workspace=workspace, action="role.updated").get()
    assert entry.data == {"added": [], "removed": ["dashboard.view"]}
    role_delete(actor=owner_actor, role=custom)
    assert not Role.objects.filter(pk=custom.pk).exists()


def test_role_in_use_cannot_be_deleted(owner_actor: Actor, workspace: Workspace) -> None:
    custom = role_create(actor=owner_actor, name="Custom", permissions=["dashboard.view"])
    member_add(actor=owner_actor, email="c@acme.test", role=custom)
    with pytest.raises(ConflictError):
        role_delete(actor=owner_actor, role=custom)


def test_api_key_is_stored_hashed_authenticates_and_revokes(
    owner_actor: Actor, workspace: Workspace
) -> None:
    role = Role.objects.get(workspace=workspace, key="read_only")
    issued = api_key_create(actor=owner_actor, workspace=workspace, name="ERP", role=role)
    stored = ApiKey.objects.get(pk=issued.api_key.pk)
    assert issued.plaintext not in (stored.secret_hash, stored.prefix)
    assert api_key_authenticate(issued.plaintext) == stored
    assert api_key_authenticate(issued.plaintext + "x") is None
    assert api_key_authenticate("hk_nope_nope") is None
    api_key_revoke(actor=owner_actor, api_key=stored)
    assert api_key_authenticate(issued.plaintext) is None
    assert list(
        AuditEntry.objects.filter(workspace=workspace, target_type="api_key")
        .values_list("action", flat=True)
        .order_by("seq")
    ) == ["api_key.created", "api_key.revoked"]


def test_outsider_cannot_access_any_foundation_object(
    owner_actor: Actor, outsider_actor: Actor, member: Membership, workspace: Workspace
) -> None:
    team = team_create(actor=owner_actor, name="Sales")
    role = Role.objects.get(workspace=workspace, key="sales")
    key = api_key_create(actor=owner_actor, workspace=workspace, name="k", role=role).api_key
    for access, public_id in [
        (access_membership, member.public_id),
        (access_team, team.public_id),
        (access_role, role.public_id),
        (access_api_key, key.public_id),
    ]:
        with pytest.raises(NotFoundError):
            access(outsider_actor, public_id)


def test_member_without_role_cannot_access_settings_objects(
    member_actor: Actor, owner_actor: Actor, workspace: Workspace
) -> None:
    team = team_create(actor=owner_actor, name="Sales")
    with pytest.raises(PermissionDeniedError):
        access_team(member_actor, team.public_id)
    with pytest.raises(PermissionDeniedError):
        access_role(member_actor, Role.objects.filter(workspace=workspace).first().public_id)
    assert Team.objects.filter(workspace=workspace).count() == 1


def test_malformed_id_is_not_found(owner_actor: Actor) -> None:
    with pytest.raises(NotFoundError):
        access_team(owner_actor, "not-a-uuid")


def test_nobody_grants_a_role_beyond_their_own_permissions(
    make_member: object, workspace: Workspace
) -> None:
    # given a custom "people manager" that may manage members, roles and keys but not audit
    owner = Actor.for_membership(Membership.objects.get(workspace=workspace, role__key="admin"))
    people_role = role_create(
        actor=owner,
        name="People",
        permissions=["members.manage", "roles.manage", "api_keys.manage", "dashboard.view"],
    )
    people = Actor.for_membership(make_member("people@acme.test", "sales"))  # type: ignore[operator]
    Membership.objects.filter(pk=people.membership.pk).update(role=people_role)  # type: ignore[union-attr]
    people = Actor.for_membership(Membership.objects.get(pk=people.membership.pk))  # type: ignore[union-attr]
    admin_role = Role.objects.get(workspace=workspace, key="admin")
    before = Membership.objects.filter(workspace=workspace).count()
    # then they can neither make an admin, nor an admin key, nor a role with audit.view
    with pytest.raises(PermissionDeniedError):
        member_add(actor=people, email="x@acme.test", role=admin_role)
    with pytest.raises(PermissionDeniedError):
        member_update(actor=people, membership=people.membership, role=admin_role)  # type: ignore[arg-type]
    with pytest.raises(PermissionDeniedError):
        api_key_create(actor=people, workspace=workspace, name="k", role=admin_role)
    with pytest.raises(PermissionDeniedError):
        role_create(actor=people, name="Sneaky", permissions=["audit.view"])
    assert Membership.objects.filter(workspace=workspace).count() == before
    assert not ApiKey.objects.filter(workspace=workspace).exists()


def test_api_key_stops_when_its_creator_is_deactivated(
    owner_actor: Actor, member: Membership, workspace: Workspace
) -> None:
    # given a key made by a member who may manage keys
    role = Role.objects.get(workspace=workspace, key="read_only")
    Membership.objects.filter(pk=member.pk).update(
        role=Role.objects.get(workspace=workspace, key="admin")
    )
    maker = Actor.for_membership(Membership.objects.get(pk=member.pk))
    issued = api_key_create(actor=maker, workspace=workspace, name="k", role=role)
    assert api_key_authenticate(issued.plaintext) is not None
    # when the member leaves
    member_update(actor=owner_actor, membership=member, is_active=False)
    # then the key no longer authenticates
    assert api_key_authenticate(issued.plaintext) is None


def test_builtin_role_names_follow_the_reader_language(db: None) -> None:
    # given a workspace created while Chinese was active (as the command line runs)
    with translation.override("zh-hans"):
        created = workspace_create(slug="zh", name="中文", owner_email="zh@x.test")
    admin = Role.objects.get(workspace=created, key="admin")
    # then the stored name is the English one and each reader sees their language
    assert admin.name == "Admin"
    with translation.override("zh-hans"):
        assert admin.display_name == "管理员"
    with translation.override("en"):
        assert admin.display_name == "Admin"


def _custom_actor(workspace: Workspace, make_member: object, permissions: list[str]) -> Actor:
    owner = Actor.for_membership(Membership.objects.get(workspace=workspace, role__key="admin"))
    role = role_create(actor=owner, name="Custom " + "-".join(permissions), permissions=permissions)
    membership = make_member("hr@acme.test", "sales")  # type: ignore[operator]
    Membership.objects.filter(pk=membership.pk).update(role=role)
    return Actor.for_membership(Membership.objects.get(pk=membership.pk))


def test_member_manager_cannot_touch_someone_with_more_permissions(
    workspace: Workspace, owner: Membership, make_member: object
) -> None:
    # given an "HR" role that may manage members but holds nothing else of the admin's
    hr = _custom_actor(workspace, make_member, ["members.manage", "dashboard.view"])
    other_admin = make_member("admin2@acme.test", "admin")  # type: ignore[operator]
    empty = role_create(
        actor=Actor.for_membership(owner), name="Nothing", permissions=["dashboard.view"]
    )
    # then HR can neither demote nor deactivate an admin
    with pytest.raises(PermissionDeniedError):
        member_update(actor=hr, membership=owner, role=empty)
    with pytest.raises(PermissionDeniedError):
        member_update(actor=hr, membership=other_admin, is_active=False)
    # nor bring back an admin the owner deactivated
    member_update(actor=Actor.for_membership(owner), membership=other_admin, is_active=False)
    with pytest.raises(PermissionDeniedError):
        member_update(actor=hr, membership=other_admin, is_active=True)
    owner.refresh_from_db()
    other_admin.refresh_from_db()
    assert (owner.role.key, other_admin.is_active) == ("admin", False)


def test_key_loses_what_its_maker_loses(workspace: Workspace, owner: Membership) -> None:
    # given a second admin who makes an admin key, and is then demoted to sales
    owner_actor = Actor.for_membership(owner)
    admin_role = Role.objects.get(workspace=workspace, key="admin")
    second = member_add(actor=owner_actor, email="second@acme.test", role=admin_role)
    second = Membership.objects.select_related("role", "workspace", "user").get(pk=second.pk)
    issued = api_key_create(
        actor=Actor.for_membership(second), workspace=workspace, name="k", role=admin_role
    )
    member_update(
        actor=owner_actor,
        membership=second,
        role=Role.objects.get(workspace=workspace, key="sales"),
    )
    # when the key is used
    key_actor = Actor.for_api_key(api_key_authenticate(issued.plaintext))  # type: ignore[arg-type]
    # then it has only what both the admin role and the maker's new sales role allow
    sales = set(Role.objects.get(workspace=workspace, key="sales").permissions)
    assert key_actor.permissions == frozenset(sales)
    assert not key_actor.has("members.manage")


def test_builtin_roles_catch_up_with_new_permissions_after_migrate(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    # given a permission a newer part registers for the sales role
    from huike.accounts.roles import RolePermission
    from huike.accounts.services import role_sync_builtin_everywhere
    from huike.core import permissions as registry

    registry.register_permissions(
        RolePermission("probe.claim", "Claim probes", "Tests", ("sales",))
    )
    try:
        # when the post-migrate sync runs
        assert role_sync_builtin_everywhere() == 2
        # then every workspace's sales and admin roles hold it, and the change is audited
        for target in (workspace, other_workspace):
            assert "probe.claim" in Role.objects.get(workspace=target, key="sales").permissions
            assert "probe.claim" in Role.objects.get(workspace=target, key="admin").permissions
            assert (
                "probe.claim" not in Role.objects.get(workspace=target, key="service").permissions
            )
        entry = AuditEntry.objects.filter(workspace=workspace, action="role.updated").first()
        assert entry is not None
        assert entry.data["added"] == ["probe.claim"]
    finally:
        registry._REGISTRY.pop("probe.claim")
