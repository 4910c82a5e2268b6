"""Report pages under /sales/reports/: the funnel, the forecast and the monthly targets."""

from django.urls import URLPattern, URLResolver, path

from huike.sales import views_reports

urlpatterns: list[URLPattern | URLResolver] = [
    path("funnel/", views_reports.funnel, name="funnel"),
    path("forecast/", views_reports.forecast, name="forecast"),
    path("settings/targets/", views_reports.settings_targets, name="settings_targets"),
    path(
        "settings/targets/<uuid:public_id>/delete/",
        views_reports.target_delete,
        name="target_delete",
    ),
]
