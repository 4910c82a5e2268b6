"""Public endpoints of the sales part (the embeddable lead form), under /forms/ (namespace
"sales_public"): no sign-in, scoped by the form's public key."""

from django.urls import URLPattern, URLResolver, path

from huike.sales import views_public

app_name = "sales_public"
urlpatterns: list[URLPattern | URLResolver] = [
    path("<str:public_key>/", views_public.form_page, name="form_page"),
    path("<str:public_key>/embed.js", views_public.form_embed, name="form_embed"),
    path("<str:public_key>/config", views_public.form_config, name="form_config"),
    path("<str:public_key>/submit", views_public.form_submit, name="form_submit"),
]
