"""Permissions of the foundation and the built-in roles.

Each permission names the built-in roles that hold it, so a part added later (sales, inbox…)
extends the built-in roles by registering its permissions; `role_sync_builtin` brings every
workspace's built-in roles up to date after a migration.
"""

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from huike.core.permissions import Permission, all_permissions, register_permissions

ADMIN = "admin"
BUILTIN_ROLES: dict[str, tuple[Promise, Promise]] = {
    ADMIN: (_("Admin"), _("Everything, including settings, members and roles.")),
    "manager": (_("Manager"), _("Leads a team: sees and manages the records of the team subtree.")),
    "sales": (_("Sales"), _("Works their own leads, customers and deals.")),
    "service": (_("Service"), _("Answers conversations and tickets.")),
    "marketing": (_("Marketing"), _("Runs segments, campaigns and journeys.")),
    "analyst": (_("Analyst"), _("Reads everything and reports on it; sees no contact details.")),
    "finance": (_("Finance"), _("Sees amounts, orders and payments but not contact details.")),
    "read_only": (_("Read-only"), _("Looks but does not change anything.")),
}


@dataclass(frozen=True)
class RolePermission(Permission):
    default_roles: tuple[str, ...] = ()


EVERY_ROLE = tuple(BUILTIN_ROLES)
FOUNDATION_PERMISSIONS = [
    RolePermission("dashboard.view", _("See the home dashboard"), _("General"), EVERY_ROLE),
    RolePermission("workspace.manage", _("Change workspace settings and security"), _("Settings")),
    RolePermission("members.view", _("See members and teams"), _("Settings"), ("manager",)),
    RolePermission("members.manage", _("Add, change and remove members"), _("Settings")),
    RolePermission("teams.manage", _("Create and change teams"), _("Settings")),
    RolePermission("roles.manage", _("Create and change roles"), _("Settings")),
    RolePermission("api_keys.manage", _("Create and revoke API keys"), _("Settings")),
    RolePermission("audit.view", _("Read the audit log"), _("Settings")),
    RolePermission(
        "records.view_all",
        _("See every record in the workspace"),
        _("Records"),
        ("analyst", "finance", "read_only"),
    ),
    RolePermission(
        "records.view_team",
        _("See the records of the own team subtree"),
        _("Records"),
        ("manager",),
    ),
    RolePermission(
        "pii.reveal",
        _("Reveal masked personal data (audited)"),
        _("Personal data"),
        ("manager", "sales", "service"),
    ),
    RolePermission(
        "data.export", _("Export data (audited)"), _("Personal data"), ("manager", "analyst")
    ),
    RolePermission(
        "amounts.view",
        _("See amounts and revenue"),
        _("Records"),
        ("manager", "sales", "analyst", "finance"),
    ),
]


def register_foundation_permissions() -> None:
    register_permissions(*FOUNDATION_PERMISSIONS)


def builtin_role_permissions(role_key: str) -> list[str]:
    codes = []
    for permission in all_permissions():
        default_roles = getattr(permission, "default_roles", ())
        if role_key == ADMIN or role_key in default_roles:
            codes.append(permission.code)
    return sorted(codes)
