"""Pipeline and deal pages, mounted at /sales/ (namespace "sales")."""

from django.urls import URLPattern, URLResolver, path

from huike.sales import views_deals

urlpatterns: list[URLPattern | URLResolver] = [
    path("board/", views_deals.pipeline_board, name="pipeline_board"),
    path("board/stages/<uuid:public_id>/", views_deals.board_column, name="pipeline_board_column"),
    path("deals/", views_deals.deal_list, name="deal_list"),
    path("deals/new/", views_deals.deal_create, name="deal_create"),
    path("deals/<uuid:public_id>/", views_deals.deal_detail, name="deal_detail"),
    path("deals/<uuid:public_id>/edit/", views_deals.deal_edit, name="deal_edit"),
    path("deals/<uuid:public_id>/move/", views_deals.deal_move, name="deal_move"),
    path("deals/<uuid:public_id>/delete/", views_deals.deal_delete, name="deal_delete"),
    path(
        "deals/<uuid:public_id>/activities/",
        views_deals.deal_activity_add,
        name="deal_activity_add",
    ),
    path("deals/<uuid:public_id>/contacts/", views_deals.deal_contact_add, name="deal_contact_add"),
    path(
        "deals/<uuid:public_id>/contacts/<int:contact_id>/remove/",
        views_deals.deal_contact_remove,
        name="deal_contact_remove",
    ),
    path("deals/<uuid:public_id>/products/", views_deals.deal_product_add, name="deal_product_add"),
    path(
        "deals/<uuid:public_id>/products/<int:line_id>/remove/",
        views_deals.deal_product_remove,
        name="deal_product_remove",
    ),
    path("settings/pipelines/", views_deals.settings_pipelines, name="settings_pipelines"),
    path(
        "settings/pipelines/<uuid:public_id>/",
        views_deals.settings_pipeline,
        name="settings_pipeline",
    ),
]
