"""Lead pages under /sales/leads/ (names in the "sales" namespace)."""

from django.urls import URLPattern, URLResolver, path

from huike.sales import views_leads

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views_leads.lead_list, name="lead_list"),
    path("pool/", views_leads.lead_pool, name="lead_pool"),
    path("new/", views_leads.lead_create, name="lead_create"),
    path("settings/", views_leads.settings_leads, name="settings_leads"),
    path(
        "settings/forms/new/",
        views_leads.settings_web_form_create,
        name="settings_web_form_create",
    ),
    path(
        "settings/forms/<uuid:public_id>/",
        views_leads.settings_web_form,
        name="settings_web_form",
    ),
    path(
        "settings/forms/<uuid:public_id>/delete/",
        views_leads.settings_web_form_delete,
        name="settings_web_form_delete",
    ),
    path("<uuid:public_id>/", views_leads.lead_detail, name="lead_detail"),
    path("<uuid:public_id>/claim/", views_leads.lead_claim, name="lead_claim"),
    path("<uuid:public_id>/release/", views_leads.lead_release, name="lead_release"),
    path("<uuid:public_id>/assign/", views_leads.lead_assign, name="lead_assign"),
    path("<uuid:public_id>/edit/", views_leads.lead_edit, name="lead_edit"),
    path("<uuid:public_id>/status/", views_leads.lead_status, name="lead_status"),
    path("<uuid:public_id>/convert/", views_leads.lead_convert, name="lead_convert"),
    path("<uuid:public_id>/delete/", views_leads.lead_delete, name="lead_delete"),
]
