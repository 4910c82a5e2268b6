"""API endpoints of the foundation: workspace, members, teams, roles, permissions, API keys.

Thin: each endpoint gets the Actor from the request, the objects it acts on through
`access_*`, objects a body merely names through `lookup_*` (the services decide what may be
done with them), changes through services (which check permissions and write the audit log)
and pages through `huike.core.pagination`. Errors are raised as huike.core.errors and rendered
as problem+json.
"""

import uuid
from collections.abc import Callable

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from huike.accounts import selectors, services
from huike.accounts.access import (
    Actor,
    access_api_key,
    access_membership,
    access_role,
    access_team,
    lookup_membership,
    lookup_role,
    lookup_team,
)
from huike.accounts.api_gateway import request_actor
from huike.accounts.api_schemas import (
    ApiKeyCreatedOut,
    ApiKeyIn,
    ApiKeyOut,
    AuditEntryOut,
    AuditEntryQuery,
    MemberIn,
    MemberOut,
    MemberPatchIn,
    PermissionOut,
    RoleIn,
    RoleOut,
    RolePatchIn,
    TeamIn,
    TeamOut,
    TeamPatchIn,
    WorkspaceIn,
    WorkspaceOut,
)
from huike.accounts.models import ApiKey, Membership, Role, Team, Workspace
from huike.core.errors import InvalidInputError, NotFoundError
from huike.core.idempotency import idempotency_mark_secret
from huike.core.models import AuditEntry
from huike.core.pagination import Page, PageOut, PageQuery, paginate
from huike.core.permissions import all_permissions

router = Router()


def _referenced[T](
    lookup: Callable[[Workspace, uuid.UUID], T], actor: Actor, public_id: uuid.UUID, field: str
) -> T:
    """An object named in a request body: unknown ids are a bad field (422), not a 404."""
    try:
        return lookup(actor.workspace, public_id)
    except NotFoundError as error:
        raise InvalidInputError(error.detail, field=field) from None


# --- workspace ------------------------------------------------------------------------------
@router.get(
    "/workspace", response=WorkspaceOut, tags=["Workspace"], summary="Get the current workspace"
)
def workspace_detail(request: HttpRequest) -> Workspace:
    """The workspace the key or the session acts in."""
    return request_actor(request).workspace


@router.patch(
    "/workspace", response=WorkspaceOut, tags=["Workspace"], summary="Change the current workspace"
)
def workspace_update(request: HttpRequest, payload: WorkspaceIn) -> Workspace:
    """Change name, time zone, currency or the two-factor requirement (workspace.manage)."""
    actor = request_actor(request)
    changes = services.WorkspaceChanges(**payload.model_dump(exclude_unset=True))
    return services.workspace_update(actor=actor, changes=changes)


@router.get(
    "/workspaces", response=PageOut[WorkspaceOut], tags=["Workspace"], summary="List my workspaces"
)
def workspace_list(request: HttpRequest, page: Query[PageQuery]) -> Page[Workspace]:
    """Workspaces the signed-in user is an active member of; for an API key, its own."""
    actor = request_actor(request)
    if actor.api_key is not None or actor.user is None:
        workspaces = Workspace.objects.filter(pk=actor.workspace.pk)
    else:
        workspaces = Workspace.objects.filter(
            memberships__in=Membership.objects.usable().filter(user=actor.user)
        )
    return paginate(workspaces, cursor=page.cursor, limit=page.limit)


# --- members --------------------------------------------------------------------------------
@router.get("/members", response=PageOut[MemberOut], tags=["Members"], summary="List members")
def member_list(request: HttpRequest, page: Query[PageQuery]) -> Page[Membership]:
    actor = request_actor(request)
    actor.require_any("members.view", "members.manage")
    members = selectors.membership_list(workspace=actor.workspace)
    return paginate(members, cursor=page.cursor, limit=page.limit)


@router.post("/members", response={201: MemberOut}, tags=["Members"], summary="Add a member")
def member_add(request: HttpRequest, payload: MemberIn) -> Status[Membership]:
    """Add a person; someone new chooses a password through the password-reset link."""
    actor = request_actor(request)
    actor.require("members.manage")
    role = _referenced(lookup_role, actor, payload.role, "role")
    team = _referenced(lookup_team, actor, payload.team, "team") if payload.team else None
    membership = services.member_add(
        actor=actor, email=payload.email, role=role, team=team, full_name=payload.full_name
    )
    return Status(201, membership)


@router.get("/members/{member_id}", response=MemberOut, tags=["Members"], summary="Get a member")
def member_detail(request: HttpRequest, member_id: uuid.UUID) -> Membership:
    return access_membership(request_actor(request), member_id)


@router.patch(
    "/members/{member_id}", response=MemberOut, tags=["Members"], summary="Change a member"
)
def member_update(request: HttpRequest, member_id: uuid.UUID, payload: MemberPatchIn) -> Membership:
    """Change role or team (null removes the team), or deactivate (is_active false)."""
    actor = request_actor(request)
    actor.require("members.manage")
    membership = access_membership(actor, member_id)
    sent = payload.model_fields_set
    if "role" in sent and payload.role is None:
        raise InvalidInputError(_("A member needs a role."), field="role")
    role = _referenced(lookup_role, actor, payload.role, "role") if payload.role else None
    team = _referenced(lookup_team, actor, payload.team, "team") if payload.team else None
    services.member_update(
        actor=actor,
        membership=membership,
        role=role,
        team=team,
        clear_team="team" in sent and payload.team is None,
        is_active=payload.is_active,
    )
    return access_membership(actor, member_id)


# --- teams ----------------------------------------------------------------------------------
def _team_out(actor: Actor, team: Team) -> Team:
    # Reload with what TeamOut shows (parent, manager and the manager's user) in one query.
    return selectors.team_list(workspace=actor.workspace).get(pk=team.pk)


@router.get("/teams", response=PageOut[TeamOut], tags=["Teams"], summary="List teams")
def team_list(request: HttpRequest, page: Query[PageQuery]) -> Page[Team]:
    actor = request_actor(request)
    actor.require_any("members.view", "teams.manage")
    teams = selectors.team_list(workspace=actor.workspace)
    return paginate(teams, cursor=page.cursor, limit=page.limit)


@router.post("/teams", response={201: TeamOut}, tags=["Teams"], summary="Create a team")
def team_create(request: HttpRequest, payload: TeamIn) -> Status[Team]:
    actor = request_actor(request)
    actor.require("teams.manage")
    parent = _referenced(lookup_team, actor, payload.parent, "parent") if payload.parent else None
    manager = (
        _referenced(lookup_membership, actor, payload.manager, "manager")
        if payload.manager
        else None
    )
    team = services.team_create(actor=actor, name=payload.name, parent=parent, manager=manager)
    return Status(201, _team_out(actor, team))


@router.get("/teams/{team_id}", response=TeamOut, tags=["Teams"], summary="Get a team")
def team_detail(request: HttpRequest, team_id: uuid.UUID) -> Team:
    actor = request_actor(request)
    return _team_out(actor, access_team(actor, team_id))


@router.patch("/teams/{team_id}", response=TeamOut, tags=["Teams"], summary="Change a team")
def team_update(request: HttpRequest, team_id: uuid.UUID, payload: TeamPatchIn) -> Team:
    """Rename, move under another team (null: top level) or change the manager (null: none)."""
    actor = request_actor(request)
    actor.require("teams.manage")
    team = access_team(actor, team_id)
    sent = payload.model_fields_set
    parent = _referenced(lookup_team, actor, payload.parent, "parent") if payload.parent else None
    manager = (
        _referenced(lookup_membership, actor, payload.manager, "manager")
        if payload.manager
        else None
    )
    team = services.team_update(
        actor=actor,
        team=team,
        name=payload.name,
        parent=parent,
        clear_parent="parent" in sent and payload.parent is None,
        manager=manager,
        clear_manager="manager" in sent and payload.manager is None,
    )
    return _team_out(actor, team)


@router.delete("/teams/{team_id}", response={204: None}, tags=["Teams"], summary="Delete a team")
def team_delete(request: HttpRequest, team_id: uuid.UUID) -> Status[None]:
    """Delete a team without sub-teams; its members keep working without a team."""
    actor = request_actor(request)
    actor.require("teams.manage")
    services.team_delete(actor=actor, team=access_team(actor, team_id))
    return Status(204, None)


# --- roles and permissions ------------------------------------------------------------------
@router.get("/roles", response=PageOut[RoleOut], tags=["Roles"], summary="List roles")
def role_list(request: HttpRequest, page: Query[PageQuery]) -> Page[Role]:
    actor = request_actor(request)
    actor.require_any("roles.manage", "members.manage")
    roles = Role.objects.filter(workspace=actor.workspace)
    return paginate(roles, cursor=page.cursor, limit=page.limit)


@router.post("/roles", response={201: RoleOut}, tags=["Roles"], summary="Create a role")
def role_create(request: HttpRequest, payload: RoleIn) -> Status[Role]:
    actor = request_actor(request)
    role = services.role_create(
        actor=actor,
        name=payload.name,
        key=payload.key,
        description=payload.description,
        permissions=payload.permissions,
    )
    return Status(201, role)


@router.get("/roles/{role_id}", response=RoleOut, tags=["Roles"], summary="Get a role")
def role_detail(request: HttpRequest, role_id: uuid.UUID) -> Role:
    return access_role(request_actor(request), role_id)


@router.patch("/roles/{role_id}", response=RoleOut, tags=["Roles"], summary="Change a role")
def role_update(request: HttpRequest, role_id: uuid.UUID, payload: RolePatchIn) -> Role:
    """Change a custom role; built-in roles cannot be changed."""
    actor = request_actor(request)
    actor.require("roles.manage")
    role = access_role(actor, role_id)
    return services.role_update(
        actor=actor,
        role=role,
        name=payload.name,
        description=payload.description,
        permissions=payload.permissions,
    )


@router.delete("/roles/{role_id}", response={204: None}, tags=["Roles"], summary="Delete a role")
def role_delete(request: HttpRequest, role_id: uuid.UUID) -> Status[None]:
    """Delete a custom role that no member or active API key has."""
    actor = request_actor(request)
    actor.require("roles.manage")
    services.role_delete(actor=actor, role=access_role(actor, role_id))
    return Status(204, None)


@router.get(
    "/permissions", response=PageOut[PermissionOut], tags=["Roles"], summary="List permissions"
)
def permission_list(request: HttpRequest) -> dict[str, object]:
    """Every permission a role can hold. The registry is small and fixed, so one page."""
    request_actor(request)
    items = [
        PermissionOut(
            code=permission.code, label=str(permission.label), group=str(permission.group)
        )
        for permission in sorted(all_permissions(), key=lambda permission: permission.code)
    ]
    return {"items": items, "next": None}


# --- API keys -------------------------------------------------------------------------------
@router.get("/api-keys", response=PageOut[ApiKeyOut], tags=["API keys"], summary="List API keys")
def api_key_list(request: HttpRequest, page: Query[PageQuery]) -> Page[ApiKey]:
    actor = request_actor(request)
    actor.require("api_keys.manage")
    api_keys = selectors.api_key_list(workspace=actor.workspace)
    return paginate(api_keys, cursor=page.cursor, limit=page.limit)


@router.post(
    "/api-keys", response={201: ApiKeyCreatedOut}, tags=["API keys"], summary="Create an API key"
)
def api_key_create(request: HttpRequest, payload: ApiKeyIn) -> Status[ApiKey]:
    """Issue a key. The secret is in `key` of this response only; it is stored hashed.

    A retry with the same Idempotency-Key replays this response with `key` null: the secret is
    never stored, so if it was lost, revoke the key and create a new one."""
    actor = request_actor(request)
    actor.require("api_keys.manage")
    role = _referenced(lookup_role, actor, payload.role, "role")
    issued = services.api_key_create(
        actor=actor,
        workspace=actor.workspace,
        name=payload.name,
        role=role,
        rate_limit_per_minute=payload.rate_limit_per_minute,
    )
    api_key = issued.api_key
    # The secret rides on the instance for this one response only; it is never stored, not
    # even in the Idempotency-Key record (a replay shows null).
    api_key.key = issued.plaintext  # type: ignore[attr-defined]
    idempotency_mark_secret(request, "key")
    return Status(201, api_key)


@router.post(
    "/api-keys/{api_key_id}/revoke",
    response=ApiKeyOut,
    tags=["API keys"],
    summary="Revoke an API key",
)
def api_key_revoke(request: HttpRequest, api_key_id: uuid.UUID) -> ApiKey:
    """Revoke a key at once: requests with it get 401 from then on. Revoking twice is fine."""
    actor = request_actor(request)
    return services.api_key_revoke(actor=actor, api_key=access_api_key(actor, api_key_id))


# --- audit log ------------------------------------------------------------------------------
@router.get(
    "/audit-entries",
    response=PageOut[AuditEntryOut],
    tags=["Audit log"],
    summary="List audit entries, oldest first",
)
def audit_entry_list(
    request: HttpRequest, page: Query[PageQuery], filters: Query[AuditEntryQuery]
) -> Page[AuditEntry]:
    """The workspace's audit log in chain order (audit.view), for a SIEM or an archive: keep
    the last `next` cursor and ask again later to receive only newer entries. Each entry
    carries its hash and the previous one's, so a copy can be verified outside Huike."""
    actor = request_actor(request)
    actor.require("audit.view")
    entries = selectors.audit_entries_matching(
        workspace=actor.workspace,
        action=filters.action,
        actor_contains=filters.actor,
        since=filters.since,
        until=filters.until,
    )
    return paginate(entries, cursor=page.cursor, limit=page.limit, ordering=("seq",))
