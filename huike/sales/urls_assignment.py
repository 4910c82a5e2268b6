"""The lead-assignment settings pages, under /sales/assignment/."""

from django.urls import URLPattern, URLResolver, path

from huike.sales import views_assignment as views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.settings_assignment, name="settings_assignment"),
    path("assign-pool/", views.settings_assignment_assign_pool, name="settings_assignment_pool"),
    path("<uuid:public_id>/", views.settings_assignment_rule, name="settings_assignment_rule"),
    path(
        "<uuid:public_id>/delete/",
        views.settings_assignment_rule_delete,
        name="settings_assignment_rule_delete",
    ),
    path(
        "<uuid:public_id>/move/",
        views.settings_assignment_rule_move,
        name="settings_assignment_rule_move",
    ),
]
