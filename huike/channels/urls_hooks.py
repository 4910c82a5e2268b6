from django.urls import path

from huike.channels import views_hooks

app_name = "hooks"
urlpatterns = [
    path("<slug:kind>/<str:channel_id>", views_hooks.webhook, name="webhook"),
    # Mailgun posts the raw MIME only to a URL ending in "mime".
    path("<slug:kind>/<str:channel_id>/mime", views_hooks.webhook, name="webhook_mime"),
]
