"""Writes for workspaces, members, teams, roles and API keys.

Every service runs in one transaction and records its audit entry inside it, so a change and
its audit entry commit together or not at all.
"""

import hashlib
import hmac
import secrets
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _

from huike.accounts.access import Actor
from huike.accounts.models import ApiKey, Membership, Role, Team, User, Workspace
from huike.accounts.roles import ADMIN, BUILTIN_ROLES, builtin_role_permissions
from huike.accounts.tasks import (
    ACCOUNT_LINK_INVITATION,
    ACCOUNT_LINK_WORKSPACE_INVITATION,
    deliver_account_link,
)
from huike.core.audit import AuditAction, AuditTarget, audit_record
from huike.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from huike.core.permissions import is_known_permission
from huike.core.tasks import enqueue_on_commit

API_KEY_PREFIX = "hk_"


def _audit(
    actor: Actor | None,
    workspace: Workspace,
    action: str,
    target: AuditTarget | None,
    data: dict[str, object] | None = None,
    ip_address: str | None = None,
) -> None:
    audit_record(
        workspace_id=workspace.pk,
        action=action,
        actor_id=actor.user_id if actor else None,
        actor_label=actor.label if actor else "system",
        target=target,
        data=data,
        ip_address=ip_address,
    )


@contextmanager
def _conflict_on_duplicate(error: ConflictError) -> Iterator[None]:
    """The existence check before an insert can race; the unique constraint decides, and the
    loser gets the same clear conflict instead of a database error."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError:
        raise error from None


def _validate_timezone(name: str) -> None:
    if name not in zoneinfo.available_timezones():
        raise InvalidInputError(_("Unknown time zone %(name)s.") % {"name": name}, field="timezone")


# --- workspaces -----------------------------------------------------------------------------
def role_sync_builtin(*, workspace: Workspace) -> list[Role]:
    """Create the built-in roles, or bring them up to date. Idempotent.

    Their stored name is the English one; pages show it in the reader's language
    (Role.display_name), whatever language the command that created them ran in.
    """
    roles = []
    for key, (name, description) in BUILTIN_ROLES.items():
        with translation.override("en"):
            values = {"name": str(name), "description": str(description)}
        role, _created = Role.objects.get_or_create(
            workspace=workspace, key=key, defaults={**values, "is_builtin": True}
        )
        permissions = builtin_role_permissions(key)
        if (role.permissions, role.name, role.description) != (
            permissions,
            values["name"],
            values["description"],
        ):
            if not _created and role.permissions != permissions:
                _audit(
                    None,
                    workspace,
                    AuditAction.ROLE_UPDATED,
                    AuditTarget("role", str(role.public_id)),
                    {
                        "added": sorted(set(permissions) - set(role.permissions)),
                        "removed": sorted(set(role.permissions) - set(permissions)),
                        "reason": "built-in role updated by a new version",
                    },
                )
            role.permissions = permissions
            role.name, role.description = values["name"], values["description"]
            role.save(update_fields=["permissions", "name", "description", "updated_at"])
        roles.append(role)
    return roles


def role_sync_builtin_everywhere() -> int:
    """After a migration: every workspace's built-in roles get the permissions that parts
    added or removed in this version. Returns the number of workspaces checked."""
    workspaces = list(Workspace.objects.order_by("pk"))
    for workspace in workspaces:
        with transaction.atomic():
            role_sync_builtin(workspace=workspace)
    return len(workspaces)


def user_get_or_create(*, email: str, full_name: str = "", password: str | None = None) -> User:
    email = User.objects.normalize_email(email).strip().lower()
    user = User.objects.filter(email=email).first()
    if user is not None:
        return user
    if password:
        candidate = User(email=email, full_name=full_name)
        try:
            validate_password(password, user=candidate)
        except ValidationError as error:
            raise InvalidInputError(" ".join(error.messages), field="password") from None
    # Without a password the user signs in after choosing one through the reset link.
    return User.objects.create_user(email=email, password=password or None, full_name=full_name)


def workspace_create(
    *,
    slug: str,
    name: str,
    owner_email: str,
    owner_password: str | None = None,
    owner_name: str = "",
    timezone_name: str = "Asia/Shanghai",
) -> Workspace:
    """Create a workspace with its built-in roles and its first admin.

    Raises ConflictError if the slug is taken, InvalidInputError for a bad slug, time zone or
    password.
    """
    if slugify(slug) != slug or not slug:
        raise InvalidInputError(_("Use lower-case letters, digits and hyphens."), field="slug")
    _validate_timezone(timezone_name)
    duplicate = ConflictError(
        _("Workspace “%(slug)s” already exists.") % {"slug": slug}, field="slug"
    )
    with transaction.atomic():
        if Workspace.objects.filter(slug=slug).exists():
            raise duplicate
        with _conflict_on_duplicate(duplicate):
            workspace = Workspace.objects.create(slug=slug, name=name, timezone=timezone_name)
        roles = {role.key: role for role in role_sync_builtin(workspace=workspace)}
        owner = user_get_or_create(email=owner_email, full_name=owner_name, password=owner_password)
        membership = Membership.objects.create(workspace=workspace, user=owner, role=roles[ADMIN])
        audit_record(
            workspace_id=workspace.pk,
            action=AuditAction.WORKSPACE_CREATED,
            actor_id=owner.pk,
            actor_label=owner.email,
            target=AuditTarget("workspace", str(workspace.public_id)),
            data={"slug": slug, "name": name, "owner": owner.email},
        )
        audit_record(
            workspace_id=workspace.pk,
            action=AuditAction.MEMBER_ADDED,
            actor_id=owner.pk,
            actor_label=owner.email,
            target=AuditTarget("membership", str(membership.public_id)),
            data={"email": owner.email, "role": ADMIN},
        )
    return workspace


@dataclass(frozen=True)
class WorkspaceChanges:
    name: str | None = None
    timezone: str | None = None
    currency: str | None = None
    require_two_factor: bool | None = None


def workspace_update(*, actor: Actor, changes: WorkspaceChanges) -> Workspace:
    actor.require("workspace.manage")
    workspace = actor.workspace
    changed: dict[str, object] = {}
    if changes.timezone is not None:
        _validate_timezone(changes.timezone)
    with transaction.atomic():
        for field_name in ("name", "timezone", "currency", "require_two_factor"):
            value = getattr(changes, field_name)
            if value is not None and getattr(workspace, field_name) != value:
                setattr(workspace, field_name, value)
                changed[field_name] = value
        if changed:
            workspace.save(update_fields=[*changed, "updated_at"])
            _audit(
                actor,
                workspace,
                AuditAction.WORKSPACE_UPDATED,
                AuditTarget("workspace", str(workspace.public_id)),
                changed,
            )
    return workspace


# --- roles ----------------------------------------------------------------------------------
def _free_role_key(workspace: Workspace, name: str) -> str:
    """A free key derived from the name; names in Chinese slugify to nothing, hence "role"."""
    base = slugify(name).replace("-", "_")[:50] or "role"
    taken = set(
        Role.objects.filter(workspace=workspace, key__startswith=base).values_list("key", flat=True)
    )
    key, number = base, 1
    while key in taken:
        number += 1
        key = f"{base}_{number}"
    return key


def _ensure_can_grant(actor: Actor | None, role: Role) -> None:
    """Nobody hands out permissions they do not hold themselves (no privilege escalation)."""
    if actor is not None and not set(role.permissions) <= actor.permissions:
        raise PermissionDeniedError(
            _("You cannot grant a role with permissions you do not have."), field="role"
        )


def _clean_permissions(actor: Actor, permissions: list[str]) -> list[str]:
    unknown = [code for code in permissions if not is_known_permission(code)]
    if unknown:
        raise InvalidInputError(
            _("Unknown permissions: %(codes)s.") % {"codes": ", ".join(unknown)},
            field="permissions",
        )
    beyond = set(permissions) - actor.permissions
    if beyond:
        raise PermissionDeniedError(
            _("You cannot grant permissions you do not have: %(codes)s.")
            % {"codes": ", ".join(sorted(beyond))},
            field="permissions",
        )
    return sorted(set(permissions))


def role_create(
    *, actor: Actor, name: str, permissions: list[str], description: str = "", key: str = ""
) -> Role:
    actor.require("roles.manage")
    key = key or _free_role_key(actor.workspace, name)
    cleaned = _clean_permissions(actor, permissions)
    duplicate = ConflictError(
        _("A role with key “%(key)s” already exists.") % {"key": key}, field="key"
    )
    with transaction.atomic():
        if Role.objects.filter(workspace=actor.workspace, key=key).exists():
            raise duplicate
        with _conflict_on_duplicate(duplicate):
            role = Role.objects.create(
                workspace=actor.workspace,
                key=key,
                name=name,
                description=description,
                permissions=cleaned,
            )
        _audit(
            actor,
            actor.workspace,
            AuditAction.ROLE_CREATED,
            AuditTarget("role", str(role.public_id)),
            {"key": key, "permissions": cleaned},
        )
    return role


def role_update(
    *,
    actor: Actor,
    role: Role,
    name: str | None = None,
    description: str | None = None,
    permissions: list[str] | None = None,
) -> Role:
    actor.require("roles.manage")
    if role.is_builtin:
        raise PermissionDeniedError(_("Built-in roles cannot be changed; create a custom role."))
    with transaction.atomic():
        before = list(role.permissions)
        if name is not None:
            role.name = name
        if description is not None:
            role.description = description
        if permissions is not None:
            role.permissions = _clean_permissions(actor, permissions)
        role.save(update_fields=["name", "description", "permissions", "updated_at"])
        _audit(
            actor,
            actor.workspace,
            AuditAction.ROLE_UPDATED,
            AuditTarget("role", str(role.public_id)),
            {
                "added": sorted(set(role.permissions) - set(before)),
                "removed": sorted(set(before) - set(role.permissions)),
            },
        )
    return role


def role_delete(*, actor: Actor, role: Role) -> None:
    actor.require("roles.manage")
    if role.is_builtin:
        raise PermissionDeniedError(_("Built-in roles cannot be deleted."))
    with transaction.atomic():
        if role.memberships.exists() or role.api_keys.filter(revoked_at__isnull=True).exists():
            raise ConflictError(_("The role is still given to members or API keys."))
        public_id = str(role.public_id)
        # Only revoked keys are left (checked above); they go with the role, each one on the
        # record, since the log is where a key's history is looked up later.
        revoked_keys = list(role.api_keys.order_by("pk"))
        for revoked_key in revoked_keys:
            _audit(
                actor,
                actor.workspace,
                AuditAction.RECORD_DELETED,
                AuditTarget("api_key", str(revoked_key.public_id)),
                {"name": revoked_key.name, "prefix": revoked_key.prefix},
            )
        ApiKey.objects.filter(pk__in=[revoked_key.pk for revoked_key in revoked_keys]).delete()
        role.delete()
        _audit(
            actor,
            actor.workspace,
            AuditAction.ROLE_DELETED,
            AuditTarget("role", public_id),
            {"key": role.key},
        )


# --- members --------------------------------------------------------------------------------
def _lock_workspace(workspace: Workspace) -> None:
    """Serialize changes whose checks span several rows of one workspace (admins, team tree)."""
    Workspace.objects.select_for_update().filter(pk=workspace.pk).values_list("pk").first()


def _ensure_admin_remains(workspace: Workspace, leaving: Membership) -> None:
    admins = Membership.objects.usable().filter(workspace=workspace, role__key=ADMIN)
    if leaving.role.key == ADMIN and not admins.exclude(pk=leaving.pk).exists():
        raise ConflictError(_("A workspace needs at least one active admin."), field="role")


def member_add(
    *,
    actor: Actor,
    email: str,
    role: Role,
    team: Team | None = None,
    full_name: str = "",
    notify: bool = True,
) -> Membership:
    """Add a person to the workspace; a new user chooses a password via the e-mailed link, and
    someone who already has an account is invited (see Membership). `notify=False` sends no
    e-mail (the demo seed)."""
    actor.require("members.manage")
    _ensure_can_grant(actor, role)
    if role.workspace_id != actor.workspace.pk or (
        team is not None and team.workspace_id != actor.workspace.pk
    ):
        raise InvalidInputError(_("Role and team must belong to this workspace."), field="role")
    with transaction.atomic():
        # Someone with an account already is invited and must accept; a new account is made
        # here and its first password is set through the e-mailed link, which is consent enough.
        user = User.objects.filter(
            email=User.objects.normalize_email(email).strip().lower()
        ).first()
        existing = user is not None
        if user is None:
            user = user_get_or_create(email=email, full_name=full_name)
        try:
            with transaction.atomic():
                membership = Membership.objects.create(
                    workspace=actor.workspace,
                    user=user,
                    role=role,
                    team=team,
                    accepted_at=None if existing else timezone.now(),
                )
        except IntegrityError:
            raise ConflictError(
                _("%(email)s is already a member.") % {"email": user.email}, field="email"
            ) from None
        _audit(
            actor,
            actor.workspace,
            AuditAction.MEMBER_ADDED,
            AuditTarget("membership", str(membership.public_id)),
            {
                "email": user.email,
                "role": role.key,
                "team": team.name if team else None,
                "invitation": existing,
            },
        )
        if notify and user.is_active:
            # Someone without a password yet gets the link to choose one; someone with an
            # account is told where to sign in to accept. The task makes the link itself.
            enqueue_on_commit(
                deliver_account_link,
                user_id=user.pk,
                kind=ACCOUNT_LINK_WORKSPACE_INVITATION
                if user.has_usable_password()
                else ACCOUNT_LINK_INVITATION,
                language=translation.get_language() or "",
                workspace_name=actor.workspace.name,
                inviter=actor.label,
            )
    return membership


def invitation_accept(*, user: User, membership: Membership) -> Membership:
    """The invited person joins. Raises NotFoundError unless it is their pending invitation."""
    with transaction.atomic():
        updated = (
            Membership.objects.pending_invitations()
            .filter(pk=membership.pk, user=user)
            .update(accepted_at=timezone.now())
        )
        if not updated:
            raise NotFoundError(_("No such invitation."))
        membership.refresh_from_db()
        audit_record(
            workspace_id=membership.workspace_id,
            action=AuditAction.INVITATION_ACCEPTED,
            actor_id=user.pk,
            actor_label=user.email,
            target=AuditTarget("membership", str(membership.public_id)),
        )
    return membership


def invitation_decline(*, user: User, membership: Membership) -> None:
    """The invited person says no: the membership is removed, and the workspace's log says so."""
    with transaction.atomic():
        pending = Membership.objects.pending_invitations().filter(pk=membership.pk, user=user)
        public_id = str(membership.public_id)
        if not pending.delete()[0]:
            raise NotFoundError(_("No such invitation."))
        audit_record(
            workspace_id=membership.workspace_id,
            action=AuditAction.INVITATION_DECLINED,
            actor_id=user.pk,
            actor_label=user.email,
            target=AuditTarget("membership", public_id),
        )


def member_update(
    *,
    actor: Actor,
    membership: Membership,
    role: Role | None = None,
    team: Team | None = None,
    clear_team: bool = False,
    is_active: bool | None = None,
) -> Membership:
    actor.require("members.manage")
    changed: dict[str, object] = {}
    with transaction.atomic():
        # Changes to memberships are serialized per workspace, so two admins demoting each
        # other at once cannot both pass the "one admin remains" check.
        _lock_workspace(actor.workspace)
        membership = Membership.objects.select_related("role", "user").get(
            pk=membership.pk, workspace=actor.workspace
        )
        # Nobody changes a member who holds permissions they lack themselves (a manager
        # cannot demote, deactivate or re-activate an admin).
        _ensure_can_grant(actor, membership.role)
        if (role is not None and role.key != ADMIN) or is_active is False:
            _ensure_admin_remains(actor.workspace, membership)
        if role is not None and role.pk != membership.role_id:
            if role.workspace_id != actor.workspace.pk:
                raise InvalidInputError(_("No such role."), field="role")
            _ensure_can_grant(actor, role)
            membership.role = role
            changed["role"] = role.key
        if team is not None and team.pk != membership.team_id:
            if team.workspace_id != actor.workspace.pk:
                raise InvalidInputError(_("No such team."), field="team")
            membership.team = team
            changed["team"] = team.name
        elif clear_team and membership.team_id is not None:
            membership.team = None
            changed["team"] = None
        if is_active is not None and is_active != membership.is_active:
            membership.is_active = is_active
            changed["is_active"] = is_active
        if changed:
            membership.save(update_fields=["role", "team", "is_active", "updated_at"])
            action = (
                AuditAction.MEMBER_REMOVED
                if changed.get("is_active") is False
                else AuditAction.MEMBER_UPDATED
            )
            _audit(
                actor,
                actor.workspace,
                action,
                AuditTarget("membership", str(membership.public_id)),
                {"email": membership.user.email, **changed},
            )
    return membership


# --- teams ----------------------------------------------------------------------------------
def _team_path(parent: Team | None, team_id: int) -> str:
    return f"{parent.path if parent else '/'}{team_id}/"


def team_create(
    *, actor: Actor, name: str, parent: Team | None = None, manager: Membership | None = None
) -> Team:
    actor.require("teams.manage")
    for related in (parent, manager):
        if related is not None and related.workspace_id != actor.workspace.pk:
            raise InvalidInputError(_("Parent and manager must belong to this workspace."))
    duplicate = ConflictError(
        _("A team named “%(name)s” already exists.") % {"name": name}, field="name"
    )
    with transaction.atomic():
        _lock_workspace(actor.workspace)
        if parent is not None:
            parent = Team.objects.get(pk=parent.pk)  # its path as of now, under the lock
        if Team.objects.filter(workspace=actor.workspace, name=name).exists():
            raise duplicate
        with _conflict_on_duplicate(duplicate):
            team = Team.objects.create(
                workspace=actor.workspace, name=name, parent=parent, manager=manager, path="/"
            )
        team.path = _team_path(parent, team.pk)
        team.save(update_fields=["path"])
        _audit(
            actor,
            actor.workspace,
            AuditAction.TEAM_CREATED,
            AuditTarget("team", str(team.public_id)),
            {"name": name, "parent": parent.name if parent else None},
        )
    return team


def team_update(
    *,
    actor: Actor,
    team: Team,
    name: str | None = None,
    parent: Team | None = None,
    clear_parent: bool = False,
    manager: Membership | None = None,
    clear_manager: bool = False,
) -> Team:
    """Rename, re-parent (moving the whole subtree) or change the manager of a team."""
    actor.require("teams.manage")
    with transaction.atomic():
        # The cycle check and the subtree paths read other teams: serialize tree changes per
        # workspace and re-read everything inside the lock.
        _lock_workspace(actor.workspace)
        team = Team.objects.get(pk=team.pk, workspace=actor.workspace)
        if parent is not None:
            parent = Team.objects.filter(pk=parent.pk, workspace=actor.workspace).first()
            if parent is None:
                raise InvalidInputError(_("No such team."), field="parent")
        changed: dict[str, object] = {}
        if name is not None and name != team.name:
            if (
                Team.objects.filter(workspace=actor.workspace, name=name)
                .exclude(pk=team.pk)
                .exists()
            ):
                raise ConflictError(
                    _("A team named “%(name)s” already exists.") % {"name": name}, field="name"
                )
            team.name = name
            changed["name"] = name
        if manager is not None and manager.pk != team.manager_id:
            if manager.workspace_id != actor.workspace.pk:
                raise InvalidInputError(_("No such member."), field="manager")
            team.manager = manager
            changed["manager"] = manager.user.email
        elif clear_manager and team.manager_id is not None:
            team.manager = None
            changed["manager"] = None
        new_parent = team.parent if parent is None and not clear_parent else parent
        if (new_parent.pk if new_parent else None) != team.parent_id:
            if new_parent is not None:
                if new_parent.workspace_id != actor.workspace.pk:
                    raise InvalidInputError(_("No such team."), field="parent")
                if new_parent.path.startswith(team.path):
                    raise InvalidInputError(_("A team cannot move under itself."), field="parent")
            old_path = team.path
            team.parent = new_parent
            team.path = _team_path(new_parent, team.pk)
            descendants = Team.objects.filter(
                workspace=actor.workspace, path__startswith=old_path
            ).exclude(pk=team.pk)
            for descendant in descendants:
                descendant.path = team.path + descendant.path[len(old_path) :]
                descendant.save(update_fields=["path"])
            changed["parent"] = new_parent.name if new_parent else None
        if changed:
            team.save(update_fields=["name", "manager", "parent", "path", "updated_at"])
            _audit(
                actor,
                actor.workspace,
                AuditAction.TEAM_UPDATED,
                AuditTarget("team", str(team.public_id)),
                changed,
            )
    return team


def team_delete(*, actor: Actor, team: Team) -> None:
    actor.require("teams.manage")
    with transaction.atomic():
        if team.children.exists():
            raise ConflictError(_("Move or delete the teams under this one first."))
        public_id, name = str(team.public_id), team.name
        team.delete()
        _audit(
            actor,
            actor.workspace,
            AuditAction.TEAM_DELETED,
            AuditTarget("team", public_id),
            {"name": name},
        )


# --- API keys -------------------------------------------------------------------------------
def api_key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    plaintext: str


def api_key_create(
    *,
    actor: Actor | None,
    workspace: Workspace,
    name: str,
    role: Role,
    rate_limit_per_minute: int | None = None,
) -> IssuedApiKey:
    """Issue a key. The plaintext is returned once and never stored.

    `actor` is None only for the command line, which runs with the operator's authority.
    """
    if actor is not None:
        actor.require("api_keys.manage")
    _ensure_can_grant(actor, role)
    if role.workspace_id != workspace.pk:
        raise InvalidInputError(_("No such role."), field="role")
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    plaintext = f"{API_KEY_PREFIX}{prefix}_{secret}"
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            workspace=workspace,
            name=name,
            role=role,
            prefix=prefix,
            secret_hash=api_key_hash(plaintext),
            created_by=actor.membership if actor else None,
            rate_limit_per_minute=rate_limit_per_minute,
        )
        _audit(
            actor,
            workspace,
            AuditAction.API_KEY_CREATED,
            AuditTarget("api_key", str(api_key.public_id)),
            {"name": name, "role": role.key, "prefix": prefix},
        )
    return IssuedApiKey(api_key=api_key, plaintext=plaintext)


def api_key_revoke(*, actor: Actor | None, api_key: ApiKey) -> ApiKey:
    """Revoke a key (idempotent). `actor` is None only for the command line."""
    if actor is not None:
        actor.require("api_keys.manage")
        if api_key.workspace_id != actor.workspace.pk:
            raise InvalidInputError(_("No such API key."))
    with transaction.atomic():
        if api_key.revoked_at is None:
            api_key.revoked_at = timezone.now()
            api_key.save(update_fields=["revoked_at", "updated_at"])
            _audit(
                actor,
                api_key.workspace,
                AuditAction.API_KEY_REVOKED,
                AuditTarget("api_key", str(api_key.public_id)),
                {"name": api_key.name, "prefix": api_key.prefix},
            )
    return api_key


LAST_USED_RESOLUTION_SECONDS = 60  # write last_used_at at most once a minute per key


def api_key_authenticate(plaintext: str) -> ApiKey | None:
    """The active key for a presented secret, or None. Constant-time comparison of hashes."""
    if not plaintext.startswith(API_KEY_PREFIX) or plaintext.count("_") < 2:
        return None
    prefix = plaintext[len(API_KEY_PREFIX) :].split("_", 1)[0]
    api_key = (
        ApiKey.objects.select_related("workspace", "role", "created_by__user", "created_by__role")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if api_key is None or not hmac.compare_digest(api_key.secret_hash, api_key_hash(plaintext)):
        return None
    maker = api_key.created_by
    if maker is not None and not (
        maker.is_active and maker.accepted_at is not None and maker.user.is_active
    ):
        # A key acts for the member who made it; it stops when they leave the workspace or
        # their account is disabled (and works again only if an admin brings them back).
        return None
    now = timezone.now()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > (
        LAST_USED_RESOLUTION_SECONDS
    ):
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
