"""Pages of imports and exports; included by huike.customers.urls (namespace "customers")."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
