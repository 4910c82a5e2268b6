from django.urls import URLPattern, URLResolver, path

from huike.sales import views_scoring

urlpatterns: list[URLPattern | URLResolver] = [
    path("settings/", views_scoring.settings_scoring, name="settings_scoring"),
    path(
        "settings/thresholds/",
        views_scoring.settings_scoring_thresholds,
        name="settings_scoring_thresholds",
    ),
    path("settings/train/", views_scoring.settings_scoring_train, name="settings_scoring_train"),
    path(
        "rules/<uuid:public_id>/", views_scoring.settings_scoring_rule, name="settings_scoring_rule"
    ),
    path(
        "rules/<uuid:public_id>/active/",
        views_scoring.settings_scoring_rule_activate,
        name="settings_scoring_rule_activate",
    ),
    path(
        "rules/<uuid:public_id>/delete/",
        views_scoring.settings_scoring_rule_delete,
        name="settings_scoring_rule_delete",
    ),
]
