from django.urls import path

from huike.inbox.webchat import views

app_name = "webchat"

urlpatterns = [
    path("widget.js", views.widget_js, name="widget_js"),
    path("widget.css", views.widget_css, name="widget_css"),
    path("<str:public_key>/config", views.widget_config, name="config"),
    path("<str:public_key>/upload", views.upload, name="upload"),
    path("<str:public_key>/files/<str:token>", views.file, name="file"),
]
