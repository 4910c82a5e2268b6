"""Task and notification pages, under /sales/tasks/."""

from django.urls import URLPattern, URLResolver, path

from huike.sales import views_tasks

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views_tasks.task_list, name="task_list"),
    path("calendar/", views_tasks.task_calendar, name="task_calendar"),
    path("new/", views_tasks.task_create, name="task_create"),
    path("notifications/", views_tasks.notification_list, name="notification_list"),
    path(
        "notifications/read-all/",
        views_tasks.notification_read_all,
        name="notification_read_all",
    ),
    path(
        "notifications/<uuid:public_id>/read/",
        views_tasks.notification_read,
        name="notification_read",
    ),
    path("<uuid:public_id>/", views_tasks.task_edit, name="task_edit"),
    path("<uuid:public_id>/status/", views_tasks.task_status, name="task_status"),
    path("<uuid:public_id>/delete/", views_tasks.task_delete, name="task_delete"),
]
