from django.urls import URLPattern, URLResolver, path

from huike.channels import views

app_name = "channels"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.channel_list, name="channel_list"),
    path("connect/", views.channel_connect, name="channel_connect"),
    path("connect/<slug:kind>/", views.channel_create, name="channel_create"),
    path("templates/", views.template_list, name="template_list"),
    path("templates/new/", views.template_create, name="template_create"),
    path("templates/preview/", views.template_preview, name="template_preview"),
    path("templates/<uuid:public_id>/", views.template_edit, name="template_edit"),
    path("templates/<uuid:public_id>/delete/", views.template_delete, name="template_delete"),
    path("<uuid:public_id>/", views.channel_detail, name="channel_detail"),
    path("<uuid:public_id>/edit/", views.channel_edit, name="channel_edit"),
    path("<uuid:public_id>/test/", views.channel_test, name="channel_test"),
    path("<uuid:public_id>/active/", views.channel_set_active, name="channel_set_active"),
    path("<uuid:public_id>/staff/", views.channel_staff_add, name="channel_staff_add"),
    path("<uuid:public_id>/staff/remove/", views.channel_staff_remove, name="channel_staff_remove"),
]
