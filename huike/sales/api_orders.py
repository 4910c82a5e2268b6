"""API of the product catalog and orders: products CRUD, the order list, upsert by the shop's
order number (`external_id`), one order, its status and payment, and a bulk upsert for
e-commerce sync.

Thin, like huike.customers.api: the actor from the request, objects through huike.sales.access,
writes through huike.sales.orders, lists through huike.core.pagination. Order amounts are null
for roles without amounts.view.
"""

import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status
from pydantic import ValidationError

from huike.accounts.access import Actor
from huike.accounts.api_gateway import request_actor
from huike.core.errors import HuikeError, InvalidInputError
from huike.core.pagination import PageOut, PageQuery, paginate
from huike.customers.identities import IdentityKey, identity_key, workspace_rules
from huike.sales import orders
from huike.sales.access import access_order, access_product
from huike.sales.api_schemas_orders import (
    BulkOrdersIn,
    BulkOrdersOut,
    OrderIn,
    OrderOut,
    OrderPatchIn,
    OrderQuery,
    ProductIn,
    ProductOut,
    ProductPatchIn,
    ProductQuery,
)
from huike.sales.models import Order, OrderLine, OrderSource, Product

router = Router(tags=["Products and orders"])

PRODUCT_ORDERING = ("sku", "id")
ORDER_ORDERING = ("-ordered_at", "-id")


# --- products -------------------------------------------------------------------------------
@router.get("/products", response=PageOut[ProductOut], summary="List products")
def product_list(
    request: HttpRequest, page: Query[PageQuery], query: Query[ProductQuery]
) -> dict[str, Any]:
    actor = request_actor(request)
    products = orders.product_search(actor, q=query.q, is_active=query.active)
    result = paginate(products, cursor=page.cursor, limit=page.limit, ordering=PRODUCT_ORDERING)
    return {"items": result.items, "next": result.next}


@router.post("/products", response={201: ProductOut}, summary="Add a product")
def product_create(request: HttpRequest, payload: ProductIn) -> Status[Product]:
    """A taken SKU is a 409 naming `sku`."""
    actor = request_actor(request)
    product = orders.product_create(
        actor=actor,
        data=orders.ProductData(
            sku=payload.sku,
            name=payload.name,
            price=str(payload.price),
            currency=payload.currency or "",
            description=payload.description,
            is_active=payload.is_active,
        ),
    )
    return Status(201, product)


@router.get("/products/{product_id}", response=ProductOut, summary="Get a product")
def product_detail(request: HttpRequest, product_id: uuid.UUID) -> Product:
    return access_product(request_actor(request), product_id)


@router.patch("/products/{product_id}", response=ProductOut, summary="Change a product")
def product_update(request: HttpRequest, product_id: uuid.UUID, payload: ProductPatchIn) -> Product:
    """Change the fields sent; `is_active: false` deactivates the product."""
    actor = request_actor(request)
    actor.require("products.manage")
    product = access_product(actor, product_id)
    sent = payload.model_fields_set
    data = orders.ProductData(
        sku=payload.sku if "sku" in sent and payload.sku else product.sku,
        name=payload.name if "name" in sent and payload.name else product.name,
        price=str(payload.price) if payload.price is not None else product.price,
        currency=payload.currency or product.currency,
        description=(
            payload.description if payload.description is not None else product.description
        ),
        is_active=payload.is_active if payload.is_active is not None else product.is_active,
    )
    return orders.product_update(actor=actor, product=product, data=data)


@router.delete("/products/{product_id}", response={204: None}, summary="Delete a product")
def product_delete(request: HttpRequest, product_id: uuid.UUID) -> Status[None]:
    """A product that deals use is a 409: deactivate it instead."""
    actor = request_actor(request)
    actor.require("products.manage")
    orders.product_delete(actor=actor, product=access_product(actor, product_id))
    return Status(204, None)


# --- orders: building the JSON --------------------------------------------------------------
def _amount(value: Any, show: bool) -> str | None:
    return f"{value:.2f}" if show else None


def _orders_out(actor: Actor, items: Sequence[Order]) -> list[dict[str, Any]]:
    """The JSON of orders with their lines: one query for the lines of all of them."""
    show = actor.has("amounts.view")
    lines: dict[int, list[OrderLine]] = {order.pk: [] for order in items}
    for line in (
        OrderLine.objects.filter(order__in=[order.pk for order in items])
        .select_related("product")
        .order_by("order_id", "id")
    ):
        lines[line.order_id].append(line)
    return [
        {
            "id": order.public_id,
            "external_id": order.external_id,
            "source": order.source,
            "customer": {"id": order.customer.public_id, "name": order.customer.name},
            "deal_id": order.deal.public_id if order.deal else None,
            "owner": order.owner,
            "status": order.status,
            "payment_status": order.payment_status,
            "currency": order.currency,
            "total": _amount(order.total, show),
            "lines": [
                {
                    "product_id": line.product.public_id if line.product else None,
                    "sku": line.sku,
                    "name": line.name,
                    "quantity": f"{line.quantity.normalize():f}",
                    "unit_price": _amount(line.unit_price, show),
                    "line_total": _amount(line.line_total, show),
                }
                for line in lines[order.pk]
            ],
            "ordered_at": order.ordered_at,
            "paid_at": order.paid_at,
            "created_at": order.created_at,
            "updated_at": order.updated_at,
        }
        for order in items
    ]


def _one_out(actor: Actor, order: Order) -> dict[str, Any]:
    loaded = access_order(actor, order.public_id)
    return _orders_out(actor, [loaded])[0]


# --- orders: reading the request ------------------------------------------------------------
def _identity_keys(actor: Actor, payload: OrderIn) -> list[IdentityKey]:
    if payload.customer is None:
        return []
    region = workspace_rules(actor.workspace.pk).default_region
    wanted: list[tuple[str, str, str]] = [
        (kind, value, f"customer.{kind}")
        for kind in ("phone", "email")
        if (value := getattr(payload.customer, kind))
    ]
    wanted += [
        (item.kind, item.value, f"customer.identities.{index}")
        for index, item in enumerate(payload.customer.identities)
    ]
    keys = []
    for kind, value, field in wanted:
        try:
            keys.append(identity_key(kind, value, default_region=region))
        except InvalidInputError as error:
            raise InvalidInputError(error.detail, field=field) from None
    return keys


def _order_data(actor: Actor, payload: OrderIn) -> orders.OrderData:
    return orders.OrderData(
        external_id=payload.external_id,
        customer_id=payload.customer.id if payload.customer else None,
        identity_keys=_identity_keys(actor, payload),
        customer_name=payload.customer.name if payload.customer else "",
        lines=(
            None
            if payload.lines is None
            else [
                orders.OrderLineData(
                    quantity=str(line.quantity),
                    sku=line.sku,
                    product_id=line.product_id,
                    name=line.name,
                    unit_price=None if line.unit_price is None else str(line.unit_price),
                )
                for line in payload.lines
            ]
        ),
        status=payload.status,
        payment_status=payload.payment_status,
        currency=payload.currency,
        ordered_at=payload.ordered_at,
        deal_id=payload.deal_id,
        paid_at=payload.paid_at,
        source=OrderSource.API,
    )


# --- orders ---------------------------------------------------------------------------------
@router.get("/orders", response=PageOut[OrderOut], summary="List orders")
def order_list(
    request: HttpRequest, page: Query[PageQuery], query: Query[OrderQuery]
) -> dict[str, Any]:
    """Orders the caller may see (own, team subtree or all), newest first."""
    actor = request_actor(request)
    found = orders.order_search(
        actor,
        orders.OrderFilters(
            customer_id=query.customer_id,
            deal_id=query.deal_id,
            status=query.status or "",
            payment_status=query.payment_status or "",
            ordered_from=query.ordered_from,
            ordered_to=query.ordered_to,
        ),
    ).select_related("customer", "deal", "owner__user")
    result = paginate(found, cursor=page.cursor, limit=page.limit, ordering=ORDER_ORDERING)
    return {"items": _orders_out(actor, result.items), "next": result.next}


@router.post(
    "/orders",
    response={200: OrderOut, 201: OrderOut},
    summary="Create or update an order by external id",
)
def order_upsert(request: HttpRequest, payload: OrderIn) -> Status[dict[str, Any]]:
    """Create the order (201), or update the one with the same `external_id` (200); without
    `external_id` it always creates. Marking it paid records order.paid on the customer's
    timeline once, however often the shop sends it."""
    actor = request_actor(request)
    actor.require("orders.manage")
    order, created = orders.order_upsert(actor=actor, data=_order_data(actor, payload))
    return Status(201 if created else 200, _one_out(actor, order))


@router.post("/orders/bulk", response=BulkOrdersOut, summary="Create or update many orders")
def order_bulk(request: HttpRequest, payload: BulkOrdersIn) -> dict[str, Any]:
    """Upsert up to MAX_BULK_ORDERS orders, each on its own: one that fails is reported in its
    result (with its index and the error) and does not stop the others."""
    actor = request_actor(request)
    actor.require("orders.manage")
    results: list[dict[str, Any]] = []
    for index, raw in enumerate(payload.orders):
        try:
            item = OrderIn.model_validate(raw)
            order, created = orders.order_upsert(actor=actor, data=_order_data(actor, item))
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or None
            results.append(_bulk_error(index, field, str(first["msg"])))
            continue
        except HuikeError as error:
            results.append(_bulk_error(index, error.field, error.detail))
            continue
        results.append(
            {
                "index": index,
                "status": "created" if created else "updated",
                "order": _one_out(actor, order),
                "error": None,
            }
        )
    counts = Counter(result["status"] for result in results)
    return {
        "results": results,
        "created": counts["created"],
        "updated": counts["updated"],
        "errors": counts["error"],
    }


def _bulk_error(index: int, field: str | None, detail: str) -> dict[str, Any]:
    return {
        "index": index,
        "status": "error",
        "order": None,
        "error": {"field": field, "detail": detail},
    }


@router.get("/orders/{order_id}", response=OrderOut, summary="Get an order")
def order_detail(request: HttpRequest, order_id: uuid.UUID) -> dict[str, Any]:
    actor = request_actor(request)
    return _one_out(actor, access_order(actor, order_id))


@router.patch("/orders/{order_id}", response=OrderOut, summary="Change an order's status")
def order_update(
    request: HttpRequest, order_id: uuid.UUID, payload: OrderPatchIn
) -> dict[str, Any]:
    """Change `status` and/or `payment_status` (paid once; a paid order can only be refunded)."""
    actor = request_actor(request)
    actor.require("orders.manage")
    order = access_order(actor, order_id)
    if not payload.model_fields_set:
        raise InvalidInputError(_("Send status or payment_status."), field="status")
    updated = orders.order_update(
        actor=actor,
        order=order,
        status=payload.status,
        payment_status=payload.payment_status,
        paid_at=payload.paid_at,
    )
    return _one_out(actor, updated)
