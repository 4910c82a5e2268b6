from django.urls import URLPattern, URLResolver

from huike.customers import import_urls

app_name = "customers"
urlpatterns: list[URLPattern | URLResolver] = [*import_urls.urlpatterns]
