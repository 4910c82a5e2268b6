"""Pages of products and orders: the catalog (settings), the order list with its totals, one
order with its lines and status/payment actions, and the import of an order file.

Amounts are shown only to roles with amounts.view; customers' contact details are never shown
here (an order links to its customer, whose page applies the masking rules).
"""

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from huike.accounts.access import Actor
from huike.core.errors import ConflictError, InvalidInputError
from huike.core.pagination import paginate
from huike.customers.forms import add_service_error
from huike.customers.views.common import customers_page, page_limit, wants_fragment
from huike.sales import orders
from huike.sales.access import access_order, access_product
from huike.sales.forms_orders import (
    OrderFilterForm,
    OrderPaymentForm,
    OrderStatusForm,
    ProductFilterForm,
    ProductForm,
)
from huike.sales.models import Product

TEMPLATES = "sales/orders/"
PRODUCT_ORDERING = ("sku", "id")
ORDER_ORDERING = ("-ordered_at", "-id")
sales_page = customers_page  # the same page rules: sign-in, actor, 403/404/400


def _template(name: str, request: HttpRequest | None = None, partial: str = "") -> str:
    if partial and request is not None and wants_fragment(request):
        return f"{TEMPLATES}{name}#{partial}"
    return f"{TEMPLATES}{name}"


# --- products -------------------------------------------------------------------------------
@vary_on_headers("HX-Request")
@sales_page
@require_GET
def product_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    form = ProductFilterForm(request.GET)
    q, active = "", ""
    if form.is_valid():
        q, active = form.cleaned_data["q"], form.cleaned_data["active"]
    products = orders.product_search(actor, q=q, is_active={"yes": True, "no": False}.get(active))
    page = paginate(
        products,
        cursor=request.GET.get("cursor"),
        limit=page_limit(request),
        ordering=PRODUCT_ORDERING,
    )
    return render(
        request,
        _template("product_list.html", request, "product_results"),
        {
            "form": form,
            "page": page,
            "can_manage": actor.has("products.manage"),
            "is_first_page": not request.GET.get("cursor"),
        },
    )


def _product_form(request: HttpRequest, actor: Actor, product: Product | None) -> HttpResponse:
    actor.require("products.manage")
    form = ProductForm.for_product(
        request.POST if request.method == "POST" else None, product, actor.workspace.currency
    )
    if request.method == "POST" and form.is_valid():
        try:
            if product is None:
                orders.product_create(actor=actor, data=form.product_data())
                messages.success(request, _("Product created."))
            else:
                orders.product_update(actor=actor, product=product, data=form.product_data())
                messages.success(request, _("Product saved."))
        except (InvalidInputError, ConflictError) as error:
            add_service_error(form, error)
        else:
            return redirect("sales:product_list")
    return render(request, f"{TEMPLATES}product_form.html", {"form": form, "product": product})


@sales_page
@require_http_methods(["GET", "POST"])
def product_create(request: HttpRequest, actor: Actor) -> HttpResponse:
    return _product_form(request, actor, None)


@sales_page
@require_http_methods(["GET", "POST"])
def product_edit(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("products.manage")
    return _product_form(request, actor, access_product(actor, public_id))


@sales_page
@require_POST
def product_active(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("products.manage")
    product = access_product(actor, public_id)
    is_active = request.POST.get("active") == "1"
    orders.product_active_set(actor=actor, product=product, is_active=is_active)
    messages.success(
        request,
        (_("%(sku)s is active.") if is_active else _("%(sku)s is inactive."))
        % {"sku": product.sku},
    )
    return redirect("sales:product_list")


# --- orders ---------------------------------------------------------------------------------
@vary_on_headers("HX-Request")
@sales_page
@require_GET
def order_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    form = OrderFilterForm(request.GET)
    filters = orders.OrderFilters()
    if form.is_valid():
        data = form.cleaned_data
        filters = orders.OrderFilters(
            q=data["q"],
            status=data["status"],
            payment_status=data["payment_status"],
            ordered_from=form.day_start("ordered_from"),
            ordered_to=form.day_start("ordered_to", next_day=True),
            customer_id=data["customer"],
            deal_id=data["deal"],
        )
    found = orders.order_search(actor, filters)
    show_amounts = actor.has("amounts.view")
    page = paginate(
        found.select_related("customer", "owner__user"),
        cursor=request.GET.get("cursor"),
        limit=page_limit(request),
        ordering=ORDER_ORDERING,
    )
    return render(
        request,
        _template("order_list.html", request, "order_results"),
        {
            "form": form,
            "page": page,
            "totals": orders.order_totals(found) if show_amounts else [],
            "show_amounts": show_amounts,
            "can_manage": actor.has("orders.manage"),
            "is_first_page": not request.GET.get("cursor"),
        },
    )


def _order_detail(
    request: HttpRequest, actor: Actor, order_id: uuid.UUID, status: int = 200
) -> HttpResponse:
    order = access_order(actor, order_id)
    return render(
        request,
        f"{TEMPLATES}order_detail.html",
        {
            "order": order,
            "lines": orders.order_lines(order),
            "show_amounts": actor.has("amounts.view"),
            "can_manage": actor.has("orders.manage"),
            "can_see_customer": actor.has("customers.view"),
            "can_see_deal": actor.has("deals.view"),
            "status_form": OrderStatusForm(initial={"status": order.status}),
            "payment_form": OrderPaymentForm(initial={"payment_status": order.payment_status}),
        },
        status=status,
    )


@sales_page
@require_GET
def order_detail(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    return _order_detail(request, actor, public_id)


@sales_page
@require_POST
def order_change(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    """The status or payment actions of the order page."""
    actor.require("orders.manage")
    order = access_order(actor, public_id)
    status_form = OrderStatusForm(request.POST) if "status" in request.POST else None
    payment_form = OrderPaymentForm(request.POST) if "payment_status" in request.POST else None
    form = status_form or payment_form
    if form is None or not form.is_valid():
        messages.error(request, _("Choose a status or a payment status."))
        return redirect("sales:order_detail", public_id=order.public_id)
    try:
        orders.order_update(
            actor=actor,
            order=order,
            status=form.cleaned_data.get("status"),
            payment_status=form.cleaned_data.get("payment_status"),
        )
    except InvalidInputError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("Order saved."))
    return redirect("sales:order_detail", public_id=order.public_id)
