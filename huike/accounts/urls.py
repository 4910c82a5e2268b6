from django.urls import include, path

from huike.accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.home, name="home"),
    path("account/", include("huike.accounts.auth_urls")),
    path("settings/", include("huike.accounts.settings_urls")),
    path("workspace/switch/", views.workspace_switch, name="workspace_switch"),
]
