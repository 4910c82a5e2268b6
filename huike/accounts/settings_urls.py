"""Settings pages (members, teams, roles, API keys, workspace & security, audit log)."""

from django.urls import path

from huike.accounts import settings_views as views

urlpatterns = [
    path("", views.settings_index, name="settings"),
    path("workspace/", views.settings_workspace, name="settings_workspace"),
    path("members/", views.settings_members, name="settings_members"),
    path("members/<uuid:public_id>/", views.settings_member, name="settings_member"),
    path(
        "members/<uuid:public_id>/status/",
        views.settings_member_status,
        name="settings_member_status",
    ),
    path("teams/", views.settings_teams, name="settings_teams"),
    path("teams/<uuid:public_id>/", views.settings_team, name="settings_team"),
    path("teams/<uuid:public_id>/delete/", views.settings_team_delete, name="settings_team_delete"),
    path("roles/", views.settings_roles, name="settings_roles"),
    path("roles/add/", views.settings_role_add, name="settings_role_add"),
    path("roles/<uuid:public_id>/", views.settings_role, name="settings_role"),
    path("roles/<uuid:public_id>/delete/", views.settings_role_delete, name="settings_role_delete"),
    path("api-keys/", views.settings_api_keys, name="settings_api_keys"),
    path(
        "api-keys/<uuid:public_id>/revoke/",
        views.settings_api_key_revoke,
        name="settings_api_key_revoke",
    ),
    path("audit/", views.settings_audit, name="settings_audit"),
    path("audit/verify/", views.settings_audit_verify, name="settings_audit_verify"),
]
