"""Who is acting, and the only way views, endpoints and tasks get tenant-owned objects.

An Actor is a member signed in to a workspace, or an API key of that workspace. Every
`access_*` function takes one, looks the object up inside the actor's workspace only, and
raises NotFoundError for anything outside it (so other workspaces' ids do not leak) and
PermissionDeniedError when the role lacks the permission.

The `lookup_*` functions are for objects a request only *names* (the role of a new API key, the
team of a member, the manager of a team), not the ones it acts on: they confine the lookup to
the workspace and check no permission, because what may be done with the object is the
service's rule (granting a role needs its permissions, whatever may be read). Demanding
`roles.manage` to name a role would refuse a key creation that the settings page allows.
"""

import uuid
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from huike.accounts.models import ApiKey, Membership, Role, Team, User, Workspace
from huike.core.errors import NotFoundError, PermissionDeniedError


@dataclass(frozen=True)
class Actor:
    workspace: Workspace
    role: Role
    membership: Membership | None = None
    api_key: ApiKey | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def for_membership(cls, membership: Membership) -> "Actor":
        return cls(
            workspace=membership.workspace,
            role=membership.role,
            membership=membership,
            permissions=frozenset(membership.role.permissions),
        )

    @classmethod
    def for_api_key(cls, api_key: ApiKey) -> "Actor":
        """A key acts for the member who made it when ownership matters ("my records"), with
        the permissions its own role and that member's *current* role have in common: a key
        never outlives a demotion of its maker. A key made from the command line (no maker)
        has exactly its role's permissions."""
        permissions = frozenset(api_key.role.permissions)
        if api_key.created_by is not None:
            permissions &= frozenset(api_key.created_by.role.permissions)
        return cls(
            workspace=api_key.workspace,
            role=api_key.role,
            membership=api_key.created_by,
            api_key=api_key,
            permissions=permissions,
        )

    @property
    def user(self) -> User | None:
        return self.membership.user if self.membership and not self.api_key else None

    @property
    def label(self) -> str:
        if self.api_key is not None:
            return f"api_key:{self.api_key.prefix}"
        return self.membership.user.email if self.membership else ""

    @property
    def user_id(self) -> int | None:
        return self.membership.user_id if self.membership and not self.api_key else None

    def has(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise PermissionDeniedError(
                _("Your role does not allow this (%(permission)s).") % {"permission": permission}
            )

    def require_any(self, *permissions: str) -> None:
        if not any(permission in self.permissions for permission in permissions):
            self.require(permissions[0])


def parse_public_id(value: uuid.UUID | str, not_found: str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFoundError(not_found) from None


def access_membership(actor: Actor, public_id: uuid.UUID | str) -> Membership:
    actor.require_any("members.view", "members.manage")
    try:
        return Membership.objects.select_related("user", "role", "team").get(
            workspace=actor.workspace, public_id=parse_public_id(public_id, _("No such member."))
        )
    except Membership.DoesNotExist:
        raise NotFoundError(_("No such member.")) from None


def access_team(actor: Actor, public_id: uuid.UUID | str) -> Team:
    actor.require_any("members.view", "teams.manage")
    try:
        return Team.objects.get(
            workspace=actor.workspace, public_id=parse_public_id(public_id, _("No such team."))
        )
    except Team.DoesNotExist:
        raise NotFoundError(_("No such team.")) from None


def access_role(actor: Actor, public_id: uuid.UUID | str) -> Role:
    actor.require_any("roles.manage", "members.manage")
    try:
        return Role.objects.get(
            workspace=actor.workspace, public_id=parse_public_id(public_id, _("No such role."))
        )
    except Role.DoesNotExist:
        raise NotFoundError(_("No such role.")) from None


def access_api_key(actor: Actor, public_id: uuid.UUID | str) -> ApiKey:
    actor.require("api_keys.manage")
    try:
        return ApiKey.objects.select_related("role").get(
            workspace=actor.workspace, public_id=parse_public_id(public_id, _("No such API key."))
        )
    except ApiKey.DoesNotExist:
        raise NotFoundError(_("No such API key.")) from None


def lookup_membership(workspace: Workspace, public_id: uuid.UUID | str) -> Membership:
    """A member named in a request (a team's manager); no permission check, see above."""
    try:
        return Membership.objects.select_related("user", "role", "team").get(
            workspace=workspace, public_id=parse_public_id(public_id, _("No such member."))
        )
    except Membership.DoesNotExist:
        raise NotFoundError(_("No such member.")) from None


def lookup_team(workspace: Workspace, public_id: uuid.UUID | str) -> Team:
    """A team named in a request (a member's team, a team's parent); no permission check."""
    try:
        return Team.objects.get(
            workspace=workspace, public_id=parse_public_id(public_id, _("No such team."))
        )
    except Team.DoesNotExist:
        raise NotFoundError(_("No such team.")) from None


def lookup_role(workspace: Workspace, public_id: uuid.UUID | str) -> Role:
    """A role named in a request (of a new API key or member); no permission check."""
    try:
        return Role.objects.get(
            workspace=workspace, public_id=parse_public_id(public_id, _("No such role."))
        )
    except Role.DoesNotExist:
        raise NotFoundError(_("No such role.")) from None


def access_workspace_membership(user: User, workspace_public_id: uuid.UUID | str) -> Membership:
    """The signed-in user's own membership of a workspace, for switching into it."""
    try:
        return (
            Membership.objects.usable()
            .select_related("workspace", "role", "team", "user")
            .get(
                user=user,
                workspace__public_id=parse_public_id(workspace_public_id, _("No such workspace.")),
            )
        )
    except Membership.DoesNotExist:
        raise NotFoundError(_("No such workspace.")) from None
