"""Public endpoints of the sales part (the embeddable lead form), under /forms/ (namespace
"sales_public"): no sign-in, scoped by the form's public key."""

from django.urls import URLPattern, URLResolver

app_name = "sales_public"
urlpatterns: list[URLPattern | URLResolver] = []
