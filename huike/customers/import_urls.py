"""Pages of imports and exports; included by huike.customers.urls (namespace "customers")."""

from django.urls import URLPattern, path

from huike.customers import import_views

urlpatterns: list[URLPattern] = [
    path("imports/", import_views.import_list, name="imports"),
    path("imports/new/", import_views.import_new, name="import_new"),
    path("imports/<uuid:public_id>/", import_views.import_detail, name="import_detail"),
    path(
        "imports/<uuid:public_id>/saved-mapping/",
        import_views.import_mapping_use,
        name="import_mapping_use",
    ),
    path("imports/<uuid:public_id>/dry-run/", import_views.import_dry_run, name="import_dry_run"),
    path("imports/<uuid:public_id>/start/", import_views.import_start, name="import_start"),
    path(
        "imports/<uuid:public_id>/progress/", import_views.import_progress, name="import_progress"
    ),
    path("imports/<uuid:public_id>/errors/", import_views.import_errors, name="import_errors"),
    path("imports/<uuid:public_id>/delete/", import_views.import_delete, name="import_delete"),
    path("exports/", import_views.export_create, name="export_create"),
    path("exports/<uuid:public_id>/", import_views.export_detail, name="export_detail"),
    path(
        "exports/<uuid:public_id>/download/",
        import_views.export_download,
        name="export_download",
    ),
]
