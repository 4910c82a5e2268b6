"""Request and response schemas of the products and orders API.

Objects are named by their public UUID (`id`). Amounts are decimal strings ("1234.50") with
their currency; order amounts are null for roles without amounts.view.
"""

import datetime as dt
import uuid
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from huike.accounts.api_schemas import MemberRef
from huike.sales.orders import MAX_ORDER_LINES

# Orders per POST /orders/bulk: each is written in the request in its own transaction, so a
# call stays well within a proxy's timeout; a shop syncs more by calling again.
MAX_BULK_ORDERS = 100
MAX_IDENTITIES_PER_ORDER = 10

OrderStatusName = Literal["pending", "confirmed", "shipped", "completed", "cancelled"]
PaymentStatusName = Literal["unpaid", "paid", "refunded"]
Money = str | float | int


# --- products -------------------------------------------------------------------------------
class ProductOut(Schema):
    id: uuid.UUID
    sku: str
    name: str
    description: str
    price: str = Field(description="Decimal string.")
    currency: str
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_id(obj: Any) -> uuid.UUID:
        public_id: uuid.UUID = obj.public_id
        return public_id

    @staticmethod
    def resolve_price(obj: Any) -> str:
        return f"{obj.price:.2f}"


class ProductIn(Schema):
    sku: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    price: Money = Field(description='Decimal string ("99.00") or a number; at least 0.')
    currency: str | None = Field(
        default=None, description="Three letters; the workspace's currency when omitted."
    )
    is_active: bool = True


class ProductPatchIn(Schema):
    sku: str | None = Field(default=None, min_length=1, max_length=64)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    price: Money | None = None
    currency: str | None = None
    is_active: bool | None = None


class ProductQuery(Schema):
    active: bool | None = Field(default=None, description="Only active (true) or inactive.")
    q: str = Field(default="", max_length=100, description="Part of the SKU or name.")


# --- orders ---------------------------------------------------------------------------------
class IdentityRefIn(Schema):
    kind: str = Field(max_length=100, examples=["shop_user:tmall", "wechat_unionid"])
    value: str = Field(min_length=1, max_length=500)


class OrderCustomerIn(Schema):
    """Who bought: a customer's `id`, or identities that identity resolution finds (or creates,
    named `name`) the customer by."""

    id: uuid.UUID | None = None
    phone: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=254)
    identities: list[IdentityRefIn] = Field(default=[], max_length=MAX_IDENTITIES_PER_ORDER)
    name: str = Field(default="", max_length=200)


class OrderLineIn(Schema):
    product_id: uuid.UUID | None = None
    sku: str = Field(default="", max_length=64)
    name: str = Field(default="", max_length=200)
    quantity: Money = 1
    unit_price: Money | None = Field(
        default=None, description="Defaults to the catalog price of the product."
    )


class OrderIn(Schema):
    external_id: str = Field(
        default="",
        max_length=100,
        description="The shop's order number: sending it again updates that order.",
    )
    customer: OrderCustomerIn | None = Field(
        default=None, description="Required when the order is created; ignored on update."
    )
    lines: list[OrderLineIn] | None = Field(
        default=None,
        max_length=MAX_ORDER_LINES,
        description="Required when the order is created; on update, replaces the lines.",
    )
    status: OrderStatusName | None = None
    payment_status: PaymentStatusName | None = None
    currency: str | None = Field(default=None, max_length=3)
    ordered_at: dt.datetime | None = None
    paid_at: dt.datetime | None = None
    deal_id: uuid.UUID | None = Field(
        default=None,
        description=(
            "Links the order to a deal of its customer: winning that deal then keeps this "
            "order instead of making one. 409 when the deal has another order."
        ),
    )


class OrderPatchIn(Schema):
    status: OrderStatusName | None = None
    payment_status: PaymentStatusName | None = None
    paid_at: dt.datetime | None = None


class OrderQuery(Schema):
    customer_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None
    status: OrderStatusName | None = None
    payment_status: PaymentStatusName | None = None
    ordered_from: dt.datetime | None = Field(default=None, description="Inclusive.")
    ordered_to: dt.datetime | None = Field(default=None, description="Exclusive.")


class CustomerRefOut(Schema):
    id: uuid.UUID
    name: str


class OrderLineOut(Schema):
    product_id: uuid.UUID | None
    sku: str
    name: str
    quantity: str
    unit_price: str | None
    line_total: str | None


class OrderOut(Schema):
    id: uuid.UUID
    external_id: str
    source: str
    customer: CustomerRefOut
    deal_id: uuid.UUID | None
    owner: MemberRef | None
    status: str
    payment_status: str
    currency: str
    total: str | None = Field(description="Decimal string; null without amounts.view.")
    lines: list[OrderLineOut]
    ordered_at: dt.datetime
    paid_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class BulkOrdersIn(Schema):
    orders: list[dict[str, Any]] = Field(
        max_length=MAX_BULK_ORDERS,
        description=f"Up to {MAX_BULK_ORDERS} orders, each like the body of POST /orders.",
    )


class BulkErrorOut(Schema):
    field: str | None
    detail: str


class BulkResultOut(Schema):
    index: int
    status: Literal["created", "updated", "error"]
    order: OrderOut | None = None
    error: BulkErrorOut | None = None


class BulkOrdersOut(Schema):
    results: list[BulkResultOut]
    created: int
    updated: int
    errors: int
