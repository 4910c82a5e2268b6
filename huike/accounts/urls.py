from django.urls import include, path

from huike.accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.home, name="home"),
    path("account/", include("huike.accounts.auth_urls")),
    path("settings/", include("huike.accounts.settings_urls")),
    path(
        "invitations/<uuid:public_id>/accept/",
        views.invitation_accept_view,
        name="invitation_accept",
    ),
    path(
        "invitations/<uuid:public_id>/decline/",
        views.invitation_decline_view,
        name="invitation_decline",
    ),
    path("workspace/switch/", views.workspace_switch, name="workspace_switch"),
]
