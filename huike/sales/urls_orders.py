"""Product catalog and order pages, mounted at /sales/ (namespace "sales")."""

from django.urls import URLPattern, URLResolver, path

from huike.sales import views_orders

urlpatterns: list[URLPattern | URLResolver] = [
    path("products/", views_orders.product_list, name="product_list"),
    path("products/new/", views_orders.product_create, name="product_create"),
    path("products/<uuid:public_id>/edit/", views_orders.product_edit, name="product_edit"),
    path("products/<uuid:public_id>/active/", views_orders.product_active, name="product_active"),
    path("orders/", views_orders.order_list, name="order_list"),
    path("orders/<uuid:public_id>/", views_orders.order_detail, name="order_detail"),
    path("orders/<uuid:public_id>/change/", views_orders.order_change, name="order_change"),
]
