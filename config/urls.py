from django.urls import include, path

from config.api import api
from huike.core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", api.urls),
    path("customers/", include("huike.customers.urls")),
    path("inbox/", include("huike.inbox.urls")),
    path("sales/", include("huike.sales.urls")),
    path("forms/", include("huike.sales.urls_public")),
    path("hooks/", include("huike.channels.urls_hooks")),
    path("webchat/", include("huike.inbox.webchat.urls")),
    path("settings/channels/", include("huike.channels.urls")),
    path("", include("huike.accounts.urls")),
]
