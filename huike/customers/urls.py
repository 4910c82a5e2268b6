from django.urls import URLPattern, URLResolver, path

from huike.customers import import_urls
from huike.customers.views import companies, customers, merges, pickers, settings, sharing

app_name = "customers"
urlpatterns: list[URLPattern | URLResolver] = [
    *import_urls.urlpatterns,
    path("", customers.customer_list, name="customer_list"),
    path("new/", customers.customer_create, name="customer_create"),
    path("bulk/", customers.customer_bulk, name="customer_bulk"),
    path("<uuid:public_id>/", customers.customer_detail, name="customer_detail"),
    path("<uuid:public_id>/edit/", customers.customer_edit, name="customer_edit"),
    path("<uuid:public_id>/timeline/", customers.customer_timeline, name="customer_timeline"),
    path("<uuid:public_id>/reveal/", customers.customer_reveal, name="customer_reveal"),
    path("<uuid:public_id>/tags/", customers.customer_tag_add, name="customer_tag_add"),
    path(
        "<uuid:public_id>/tags/<uuid:tag_id>/remove/",
        customers.customer_tag_remove,
        name="customer_tag_remove",
    ),
    path("<uuid:public_id>/consent/", customers.customer_consent, name="customer_consent"),
    path("merge/", merges.merge_compare, name="merge_compare"),
    path("merges/", merges.merge_history, name="merge_history"),
    path("merges/<uuid:public_id>/undo/", merges.merge_undo, name="merge_undo"),
    path("review/", merges.review_queue, name="review_queue"),
    path("review/<uuid:public_id>/dismiss/", merges.review_dismiss, name="review_dismiss"),
    path("companies/", companies.company_list, name="company_list"),
    path("companies/new/", companies.company_create, name="company_create"),
    path("companies/<uuid:public_id>/", companies.company_detail, name="company_detail"),
    path("companies/<uuid:public_id>/edit/", companies.company_edit, name="company_edit"),
    path("settings/tags/", settings.settings_tags, name="settings_tags"),
    path("settings/tags/<uuid:public_id>/", settings.settings_tag, name="settings_tag"),
    path(
        "settings/tags/<uuid:public_id>/delete/",
        settings.settings_tag_delete,
        name="settings_tag_delete",
    ),
    path(
        "settings/tag-groups/<uuid:public_id>/",
        settings.settings_tag_group,
        name="settings_tag_group",
    ),
    path(
        "settings/tag-groups/<uuid:public_id>/delete/",
        settings.settings_tag_group_delete,
        name="settings_tag_group_delete",
    ),
    path("settings/fields/", settings.settings_fields, name="settings_fields"),
    path("settings/fields/<uuid:public_id>/", settings.settings_field, name="settings_field"),
    path(
        "settings/fields/<uuid:public_id>/delete/",
        settings.settings_field_delete,
        name="settings_field_delete",
    ),
    path("settings/identity/", settings.settings_identity, name="settings_identity"),
    path("pick/customers/", pickers.customer_pick, name="customer_pick"),
    path("pick/companies/", pickers.company_pick, name="company_pick"),
    path("shares/<slug:kind>/<uuid:public_id>/", sharing.record_share, name="record_share"),
    path(
        "shares/<slug:kind>/<uuid:public_id>/remove/",
        sharing.record_unshare,
        name="record_unshare",
    ),
]
