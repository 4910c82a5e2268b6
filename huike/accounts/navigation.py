from django.utils.translation import gettext_lazy as _

from huike.core.navigation import NavItem, register_nav


def register_accounts_nav() -> None:
    register_nav(
        NavItem("accounts:home", _("Home"), "main", 0),
        NavItem("accounts:settings_workspace", _("Workspace"), "settings", 10, "workspace.manage"),
        NavItem(
            "accounts:settings_members",
            _("Members"),
            "settings",
            20,
            any_permissions=("members.view", "members.manage"),
        ),
        NavItem(
            "accounts:settings_teams",
            _("Teams"),
            "settings",
            30,
            any_permissions=("members.view", "teams.manage"),
        ),
        NavItem("accounts:settings_roles", _("Roles"), "settings", 40, "roles.manage"),
        NavItem("accounts:settings_api_keys", _("API keys"), "settings", 50, "api_keys.manage"),
        NavItem("accounts:settings_audit", _("Audit log"), "settings", 60, "audit.view"),
    )
