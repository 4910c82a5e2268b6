from django.urls import path

from huike.channels import views_hooks

app_name = "hooks"
urlpatterns = [
    path("<slug:kind>/<str:channel_id>", views_hooks.webhook, name="webhook"),
]
