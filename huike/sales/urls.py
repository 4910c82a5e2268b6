"""Pages of the sales part, under /sales/ (namespace "sales"); each sub-domain has its module."""

from django.urls import URLPattern, URLResolver, include, path

app_name = "sales"
urlpatterns: list[URLPattern | URLResolver] = [
    path("leads/", include("huike.sales.urls_leads")),
    path("scoring/", include("huike.sales.urls_scoring")),
    path("assignment/", include("huike.sales.urls_assignment")),
    path("", include("huike.sales.urls_deals")),
    path("tasks/", include("huike.sales.urls_tasks")),
    path("", include("huike.sales.urls_orders")),
    path("reports/", include("huike.sales.urls_reports")),
]
