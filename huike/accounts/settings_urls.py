"""Settings pages (members, teams, roles, API keys, workspace & security, audit log)."""

from django.urls import path

from huike.accounts.settings_views import api_keys, audit, common, members, roles, teams, workspace

urlpatterns = [
    path("", common.settings_index, name="settings"),
    path("workspace/", workspace.settings_workspace, name="settings_workspace"),
    path("members/", members.settings_members, name="settings_members"),
    path("members/<uuid:public_id>/", members.settings_member, name="settings_member"),
    path(
        "members/<uuid:public_id>/status/",
        members.settings_member_status,
        name="settings_member_status",
    ),
    path(
        "members/<uuid:public_id>/two-factor-reset/",
        members.settings_member_two_factor_reset,
        name="settings_member_two_factor_reset",
    ),
    path("teams/", teams.settings_teams, name="settings_teams"),
    path("teams/<uuid:public_id>/", teams.settings_team, name="settings_team"),
    path("teams/<uuid:public_id>/delete/", teams.settings_team_delete, name="settings_team_delete"),
    path("roles/", roles.settings_roles, name="settings_roles"),
    path("roles/add/", roles.settings_role_add, name="settings_role_add"),
    path("roles/<uuid:public_id>/", roles.settings_role, name="settings_role"),
    path("roles/<uuid:public_id>/delete/", roles.settings_role_delete, name="settings_role_delete"),
    path("api-keys/", api_keys.settings_api_keys, name="settings_api_keys"),
    path(
        "api-keys/<uuid:public_id>/revoke/",
        api_keys.settings_api_key_revoke,
        name="settings_api_key_revoke",
    ),
    path("audit/", audit.settings_audit, name="settings_audit"),
    path("audit/verify/", audit.settings_audit_verify, name="settings_audit_verify"),
]
