"""Products and orders: the catalog, orders with their lines (from won deals, the API's
e-commerce sync, imports and the pages), and their payment, which feeds the customer's derived
profile.

Contracts:
- `order_upsert` is idempotent by the shop's `external_id`: the unique constraint
  `order_unique_external_id` decides between two writers creating the same order at once; the
  loser's insert fails and it updates the winner's order instead.
- `order.paid` is recorded on the customer's timeline exactly once per order: the event's id
  is stored in `Order.paid_event_id` in the same transaction, under the order's row lock, and
  a paid order never goes back to unpaid. The profile (huike.customers.profile) adds an
  order.paid's `amount` to the customer's total_spent and counts it in order_count.
- A refund records `order.refunded` (only ever after a counted order.paid: payment moves
  unpaid → paid → refunded); the profile takes its amount off total_spent and the order off
  order_count.
- `order_from_deal` makes at most one order per deal (`order_unique_deal`).
- An order's owner and team are the deal's, else the customer's, else the acting member's.
"""

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.core.crypto import WorkspaceKeys
from huike.core.errors import ConflictError, InvalidInputError, NotFoundError
from huike.core.outbox import outbox_publish
from huike.customers.access import access_customer
from huike.customers.events import event_record, register_event_kind_labels
from huike.customers.identities import IdentityKey
from huike.customers.models import Customer, LifecycleStage
from huike.customers.resolution import NewCustomer, identity_resolve
from huike.customers.rules import WorkspaceRules
from huike.sales.access import access_deal, visible_orders
from huike.sales.models import (
    Deal,
    DealContact,
    DealProduct,
    Order,
    OrderLine,
    OrderSource,
    OrderStatus,
    PaymentStatus,
    Product,
)

CENT = Decimal("0.01")
QUANTITY_PLACES = Decimal("0.001")
# The largest amount the columns hold (14 digits, 2 places); beyond it a save would fail.
AMOUNT_LIMIT = Decimal(10) ** 12
QUANTITY_LIMIT = Decimal(10) ** 9
# An order has at most this many lines: a sync sending more is sending junk, and every line
# is a row written in the request.
MAX_ORDER_LINES = 500
SKU_MAX_LENGTH = 64
NAME_MAX_LENGTH = 200
EXTERNAL_ID_MAX_LENGTH = 100

ORDER_CREATED = "order.created"
ORDER_PAID = "order.paid"
ORDER_REFUNDED = "order.refunded"
EVENT_LABELS = {
    ORDER_CREATED: gettext_lazy("Placed an order"),
    ORDER_PAID: gettext_lazy("Paid an order"),
    ORDER_REFUNDED: gettext_lazy("Order refunded"),
}
# Payment moves forward only: a paid order is not unpaid again (its order.paid is recorded),
# a refund is final.
PAYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    PaymentStatus.UNPAID: frozenset({PaymentStatus.PAID}),
    PaymentStatus.PAID: frozenset({PaymentStatus.REFUNDED}),
    PaymentStatus.REFUNDED: frozenset(),
}


def register_order_event_labels() -> None:
    register_event_kind_labels(dict(EVENT_LABELS))


# --- values ---------------------------------------------------------------------------------
def money_clean(value: object, *, field: str) -> Decimal:
    """A non-negative amount with two places; InvalidInputError naming `field` otherwise."""
    try:
        amount = Decimal(str(value).strip().replace(",", "")).quantize(CENT, ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        raise InvalidInputError(_("Enter an amount like 12.50."), field=field) from None
    if not amount.is_finite() or amount < 0:
        raise InvalidInputError(_("An amount cannot be negative."), field=field)
    if amount >= AMOUNT_LIMIT:
        raise InvalidInputError(_("This amount is too large."), field=field)
    return amount


def quantity_clean(value: object, *, field: str) -> Decimal:
    try:
        quantity = Decimal(str(value).strip()).quantize(QUANTITY_PLACES, ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        raise InvalidInputError(_("Enter a quantity like 2 or 1.5."), field=field) from None
    if not quantity.is_finite() or quantity <= 0:
        raise InvalidInputError(_("A quantity is more than zero."), field=field)
    if quantity >= QUANTITY_LIMIT:
        raise InvalidInputError(_("This quantity is too large."), field=field)
    return quantity


def currency_clean(value: str, *, field: str = "currency") -> str:
    code = (value or "").strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise InvalidInputError(
            _("A currency is a three-letter code such as CNY or USD."), field=field
        )
    return code


def _text(value: str, *, max_length: int, field: str, required: bool = False) -> str:
    text = (value or "").strip()
    if required and not text:
        raise InvalidInputError(_("This field is required."), field=field)
    if len(text) > max_length:
        raise InvalidInputError(_("At most %(max)d characters.") % {"max": max_length}, field=field)
    return text


def _choice(value: str, choices: Any, *, field: str) -> str:
    if value not in choices.values:
        raise InvalidInputError(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(choices.values)},
            field=field,
        )
    return value


def _amount_text(amount: Decimal) -> str:
    return f"{amount:.2f}"


# --- products -------------------------------------------------------------------------------
@dataclass
class ProductData:
    sku: str
    name: str
    price: Decimal | str
    currency: str = ""
    description: str = ""
    is_active: bool = True


def _product_apply(actor: Actor, product: Product, data: ProductData) -> None:
    product.sku = _text(data.sku, max_length=SKU_MAX_LENGTH, field="sku", required=True)
    product.name = _text(data.name, max_length=NAME_MAX_LENGTH, field="name", required=True)
    product.description = (data.description or "").strip()
    product.price = money_clean(data.price, field="price")
    product.currency = currency_clean(data.currency or actor.workspace.currency)
    product.is_active = data.is_active


def _product_save(product: Product, **save: Any) -> Product:
    """Save; the SKU's unique constraint turns a taken SKU into a ConflictError on `sku`."""
    taken = Product.objects.filter(workspace_id=product.workspace_id, sku=product.sku)
    if product.pk is not None:
        taken = taken.exclude(pk=product.pk)
    conflict = ConflictError(
        _("Another product has the SKU %(sku)s.") % {"sku": product.sku}, field="sku"
    )
    if taken.exists():
        raise conflict
    try:
        with transaction.atomic():
            product.save(**save)
    except IntegrityError:  # a writer that took the SKU after the check above
        raise conflict from None
    return product


def product_create(*, actor: Actor, data: ProductData) -> Product:
    """Add a product to the catalog (products.manage). ConflictError(field="sku") when the SKU
    is taken in the workspace; InvalidInputError naming the field for bad values."""
    actor.require("products.manage")
    product = Product(workspace=actor.workspace)
    _product_apply(actor, product, data)
    return _product_save(product, force_insert=True)


def product_update(*, actor: Actor, product: Product, data: ProductData) -> Product:
    """Change a product (products.manage); order lines keep the name and price they had."""
    actor.require("products.manage")
    _product_apply(actor, product, data)
    return _product_save(product)


def product_active_set(*, actor: Actor, product: Product, is_active: bool) -> Product:
    """Activate or deactivate a product: inactive ones stay on past orders and deals but are
    not offered for new ones."""
    actor.require("products.manage")
    product.is_active = is_active
    product.save(update_fields=["is_active", "updated_at"])
    return product


def product_delete(*, actor: Actor, product: Product) -> None:
    """Delete a product no deal uses (ConflictError otherwise: deactivate it instead). Order
    lines keep their SKU, name and price."""
    actor.require("products.manage")
    if DealProduct.objects.filter(workspace_id=product.workspace_id, product=product).exists():
        raise ConflictError(_("Deals use this product: deactivate it instead."), field="product")
    product.delete()


def product_search(
    actor: Actor, *, q: str = "", is_active: bool | None = None
) -> QuerySet[Product]:
    actor.require_any("deals.view", "orders.view", "products.manage")
    products = Product.objects.filter(workspace=actor.workspace)
    if is_active is not None:
        products = products.filter(is_active=is_active)
    if q:
        products = products.filter(Q(sku__icontains=q) | Q(name__icontains=q))
    return products


# --- orders: what callers send --------------------------------------------------------------
@dataclass
class OrderLineData:
    """A line names a catalog product by `product_id` or `sku` (name and unit price default to
    the product's), or is free text: a SKU not in the catalog with a name and a unit price."""

    quantity: Decimal | str = Decimal(1)
    sku: str = ""
    product_id: uuid.UUID | None = None
    name: str = ""
    unit_price: Decimal | str | None = None


@dataclass
class OrderData:
    """An order as a sync, an import or a form describes it. `None` means "not given": an
    update keeps the order's value. The customer is named by `customer_id` (public id) or by
    identities (phone, email, a shop's user id…) that identity resolution turns into a
    customer, creating one named `customer_name` when nobody has them; it is read when the
    order is created (an order keeps its customer)."""

    external_id: str = ""
    customer_id: uuid.UUID | None = None
    identity_keys: Sequence[IdentityKey] = ()
    customer_name: str = ""
    lines: Sequence[OrderLineData] | None = None
    status: str | None = None
    payment_status: str | None = None
    currency: str | None = None
    ordered_at: dt.datetime | None = None
    paid_at: dt.datetime | None = None
    source: str = OrderSource.API
    # Links the order to this deal (public id; the actor must see it, the order's customer
    # must be the deal's or a contact of it): winning the deal then uses this order instead
    # of making one.
    deal_id: uuid.UUID | None = None


@dataclass(frozen=True)
class _Line:
    product: Product | None
    sku: str
    name: str
    quantity: Decimal
    unit_price: Decimal

    @property
    def total(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(CENT, ROUND_HALF_UP)


def _lines_clean(workspace_id: int, lines: Sequence[OrderLineData]) -> list[_Line]:
    """The lines with their products, in two queries whatever their number."""
    if not lines:
        raise InvalidInputError(_("An order has at least one line."), field="lines")
    if len(lines) > MAX_ORDER_LINES:
        raise InvalidInputError(
            _("An order has at most %(max)d lines.") % {"max": MAX_ORDER_LINES}, field="lines"
        )
    catalog = Product.objects.filter(workspace_id=workspace_id)
    wanted = [line.product_id for line in lines if line.product_id]
    by_id = (
        {product.public_id: product for product in catalog.filter(public_id__in=wanted)}
        if wanted
        else {}
    )
    skus = [line.sku.strip() for line in lines if line.sku and not line.product_id]
    by_sku = {product.sku: product for product in catalog.filter(sku__in=skus)} if skus else {}
    cleaned = []
    for index, line in enumerate(lines):
        prefix = f"lines.{index}"
        product: Product | None = None
        if line.product_id is not None:
            product = by_id.get(line.product_id)
            if product is None:
                raise InvalidInputError(_("No such product."), field=f"{prefix}.product_id")
        sku = _text(line.sku, max_length=SKU_MAX_LENGTH, field=f"{prefix}.sku")
        if product is None and sku:
            product = by_sku.get(sku)
        name = _text(line.name, max_length=NAME_MAX_LENGTH, field=f"{prefix}.name")
        if product is not None:
            sku = sku or product.sku
            name = name or product.name
        elif not name:
            raise InvalidInputError(
                _("Name the line, or give the SKU or id of a product in the catalog."),
                field=f"{prefix}.name",
            )
        if line.unit_price is None or line.unit_price == "":
            if product is None:
                raise InvalidInputError(
                    _("Give the unit price of a product not in the catalog."),
                    field=f"{prefix}.unit_price",
                )
            unit_price = product.price
        else:
            unit_price = money_clean(line.unit_price, field=f"{prefix}.unit_price")
        cleaned.append(
            _Line(
                product=product,
                sku=sku,
                name=name,
                quantity=quantity_clean(line.quantity, field=f"{prefix}.quantity"),
                unit_price=unit_price,
            )
        )
    total = sum((line.total for line in cleaned), Decimal(0))
    if total >= AMOUNT_LIMIT:
        raise InvalidInputError(_("The order's total is too large."), field="lines")
    return cleaned


def _lines_total(lines: Sequence[_Line]) -> Decimal:
    return sum((line.total for line in lines), Decimal(0))


def _lines_write(order: Order, lines: Sequence[_Line], *, is_new: bool = False) -> None:
    """Replace the order's lines (a new order, saved with its total, has none to delete)."""
    if not is_new:
        OrderLine.objects.filter(order=order).delete()
    OrderLine.objects.bulk_create(
        OrderLine(
            workspace_id=order.workspace_id,
            order=order,
            product=line.product,
            sku=line.sku,
            name=line.name,
            quantity=line.quantity,
            unit_price=line.unit_price,
            line_total=line.total,
        )
        for line in lines
    )
    order.total = _lines_total(lines)


# --- orders: timeline and outbox ------------------------------------------------------------
def order_event_properties(order: Order) -> dict[str, Any]:
    """What order events carry; `amount` is what the derived profile reads (order_amount)."""
    return {
        "order_id": str(order.public_id),
        "external_id": order.external_id,
        "amount": _amount_text(order.total),
        "currency": order.currency,
    }


def _publish(order: Order, kind: str) -> None:
    outbox_publish(
        workspace_id=order.workspace_id,
        kind=kind,
        payload={
            **order_event_properties(order),
            "customer_id": str(order.customer.public_id),
            "deal_id": str(order.deal.public_id) if order.deal_id and order.deal else None,
        },
    )


def _record_created(order: Order) -> None:
    event_record(
        customer=order.customer,
        kind=ORDER_CREATED,
        occurred_at=order.ordered_at,
        properties=order_event_properties(order),
        source="sales",
    )
    _publish(order, ORDER_CREATED)


def _payment_change(order: Order, payment_status: str, paid_at: dt.datetime | None) -> bool:
    """Move the order's payment (the caller holds its row lock, in a transaction) and record
    what it means on the customer's timeline; False when it was already there."""
    payment_status = _choice(payment_status, PaymentStatus, field="payment_status")
    if payment_status == order.payment_status:
        return False
    if payment_status not in PAYMENT_TRANSITIONS[order.payment_status]:
        raise InvalidInputError(
            _("A %(current)s order cannot become %(wanted)s.")
            % {
                "current": PaymentStatus(order.payment_status).label,
                "wanted": PaymentStatus(payment_status).label,
            },
            field="payment_status",
        )
    order.payment_status = payment_status
    if payment_status == PaymentStatus.PAID:
        order.paid_at = paid_at or order.paid_at or timezone.now()
        if order.paid_event_id is None:
            event = event_record(
                customer=order.customer,
                kind=ORDER_PAID,
                occurred_at=order.paid_at,
                properties=order_event_properties(order),
                source="sales",
            )
            order.paid_event_id = event.pk
            _publish(order, ORDER_PAID)
    elif payment_status == PaymentStatus.REFUNDED:
        event_record(
            customer=order.customer,
            kind=ORDER_REFUNDED,
            properties=order_event_properties(order),
            source="sales",
        )
        _publish(order, ORDER_REFUNDED)
    return True


# --- orders: writing ------------------------------------------------------------------------
def _acting_member(actor: Actor | None) -> Membership | None:
    membership = actor.membership if actor is not None else None
    return membership if membership is not None and membership.is_active else None


def _order_customer(
    actor: Actor,
    data: OrderData,
    keys: WorkspaceKeys | None = None,
    rules: WorkspaceRules | None = None,
) -> Customer:
    """The customer an order names: by public id (the actor must see them), or by identity
    resolution. A customer the identities find but the actor may not see is a conflict, as in
    customers' upsert."""
    if data.customer_id is not None:
        try:
            return access_customer(actor, data.customer_id)
        except NotFoundError as error:
            raise InvalidInputError(error.detail, field="customer_id") from None
    if not data.identity_keys:
        raise InvalidInputError(
            _("Name the customer by their id, or by a phone, email or another identity."),
            field="customer",
        )
    resolution = identity_resolve(
        workspace_id=actor.workspace.pk,
        identity_keys=data.identity_keys,
        source=f"order:{data.source}",
        new_customer=NewCustomer(
            name=data.customer_name.strip(),
            lifecycle_stage=LifecycleStage.CUSTOMER,
            source_channel="order",
        ),
        keys=keys,
        rules=rules,
    )
    customer = resolution.customer
    if (
        not resolution.is_new
        and not Customer.objects.visible_to(actor).filter(pk=customer.pk).exists()
    ):
        raise ConflictError(
            _("These identities belong to a customer you cannot see."), field="customer"
        )
    return customer


def _order_deal(actor: Actor, order: Order, deal_id: uuid.UUID) -> Deal:
    """The deal an order is linked to (see OrderData.deal_id)."""
    try:
        deal = access_deal(actor, deal_id)
    except NotFoundError as error:
        raise InvalidInputError(error.detail, field="deal_id") from None
    if (
        deal.customer_id != order.customer_id
        and not DealContact.objects.filter(deal=deal, customer_id=order.customer_id).exists()
    ):
        raise InvalidInputError(
            _("The order's customer is not the deal's customer nor one of its contacts."),
            field="deal_id",
        )
    linked = Order.objects.filter(workspace_id=deal.workspace_id, deal=deal)
    if order.pk is not None:
        linked = linked.exclude(pk=order.pk)
    elif order.external_id:
        # The same new order sent again and committed meanwhile is no conflict: this insert
        # fails on the external id and order_upsert updates that order instead.
        linked = linked.exclude(external_id=order.external_id)
    if linked.exists():
        raise ConflictError(_("The deal has an order already."), field="deal_id")
    return deal


def _save_linking(order: Order, **options: Any) -> None:
    """Save an order that may just have been linked to a deal. Two writers linking different
    orders to the same deal both pass _order_deal's check when neither has committed; the
    second then fails the one-order-per-deal constraint, which is the conflict _order_deal
    reports. Anything else is raised as it is — among it the same new order sent twice at
    once (same external id), which order_upsert turns into an update of the winner's."""
    if order.deal_id is None:
        order.save(**options)
        return
    try:
        with transaction.atomic():
            order.save(**options)
    except IntegrityError:
        others = Order.objects.filter(workspace_id=order.workspace_id)
        if order.pk is not None and not options.get("force_insert"):
            others = others.exclude(pk=order.pk)
        if order.external_id and others.filter(external_id=order.external_id).exists():
            raise  # the same order sent twice at once: order_upsert updates the winner's
        if others.filter(deal_id=order.deal_id).exists():
            raise ConflictError(_("The deal has an order already."), field="deal_id") from None
        raise


def _order_fields(order: Order, data: OrderData) -> None:
    if data.status is not None:
        order.status = _choice(data.status, OrderStatus, field="status")
    if data.currency is not None:
        order.currency = currency_clean(data.currency)
    if data.ordered_at is not None:
        order.ordered_at = data.ordered_at


def _order_create(
    actor: Actor,
    data: OrderData,
    external_id: str,
    keys: WorkspaceKeys | None,
    rules: WorkspaceRules | None,
) -> Order:
    customer = _order_customer(actor, data, keys, rules)
    lines = _lines_clean(actor.workspace.pk, data.lines or ())
    owner = customer.owner if customer.owner_id is not None else _acting_member(actor)
    team_id = customer.team_id if customer.owner_id is not None else getattr(owner, "team_id", None)
    order = Order(
        workspace=actor.workspace,
        external_id=external_id,
        source=_choice(data.source, OrderSource, field="source"),
        customer=customer,
        owner=owner,
        team_id=team_id,
        currency=actor.workspace.currency,
    )
    _order_fields(order, data)
    if data.deal_id is not None:
        order.deal = _order_deal(actor, order, data.deal_id)
    order.total = _lines_total(lines)
    _save_linking(order, force_insert=True)
    _lines_write(order, lines, is_new=True)
    _record_created(order)
    if data.payment_status == PaymentStatus.REFUNDED:
        # A shop syncing an order refunded before we saw it: it was never paid here, so
        # nothing is added to the customer's profile.
        order.payment_status = PaymentStatus.REFUNDED
        order.save(update_fields=["payment_status"])
    elif data.payment_status is not None:
        _payment_change(order, data.payment_status, data.paid_at)
        order.save(update_fields=["payment_status", "paid_at", "paid_event_id"])
    return order


def _order_apply(order: Order, data: OrderData, actor: Actor) -> None:
    """Apply an upsert to an existing order, locked by the caller."""
    _order_fields(order, data)
    if data.deal_id is not None:
        order.deal = _order_deal(actor, order, data.deal_id)
    if data.lines is not None:
        _lines_write(order, _lines_clean(order.workspace_id, data.lines))
    if data.payment_status is not None:
        _payment_change(order, data.payment_status, data.paid_at)
    elif data.paid_at is not None and order.payment_status == PaymentStatus.PAID:
        order.paid_at = data.paid_at
    _save_linking(order)


def _locked(order_pk: int) -> Order:
    # of=self: the deal is an outer join, which PostgreSQL will not lock.
    locked: Order = (
        Order.objects.select_for_update(of=("self",))
        .select_related("customer", "deal")
        .get(pk=order_pk)
    )
    return locked


def order_upsert(
    *,
    actor: Actor,
    data: OrderData,
    keys: WorkspaceKeys | None = None,
    rules: WorkspaceRules | None = None,
) -> tuple[Order, bool]:
    """Create the order, or update the one with the same `external_id` (orders.manage);
    (order, created?). Without an external id it always creates. `keys` and `rules` are the
    workspace's, for a caller writing many orders (an import) that loaded them once.

    Two writers with the same new external id: the loser's insert fails on the unique
    constraint and it updates the winner's order (its deal check does not count the winner's
    link to the deal as a conflict). Updating locks the order's row. An order with
    this external id that the actor may not see is a ConflictError(field="external_id").
    Raises InvalidInputError naming the field for bad values."""
    actor.require("orders.manage")
    external_id = _text(data.external_id, max_length=EXTERNAL_ID_MAX_LENGTH, field="external_id")
    for attempt in (1, 2):
        existing = (
            Order.objects.filter(workspace=actor.workspace, external_id=external_id).first()
            if external_id
            else None
        )
        if existing is not None:
            if not visible_orders(actor).filter(pk=existing.pk).exists():
                raise ConflictError(
                    _("An order with this external id exists that you cannot see."),
                    field="external_id",
                )
            with transaction.atomic():
                order = _locked(existing.pk)
                _order_apply(order, data, actor)
            return order, False
        try:
            with transaction.atomic():
                return _order_create(actor, data, external_id, keys, rules), True
        except IntegrityError:
            # Another writer created this external id after the lookup above.
            if attempt == 2 or not external_id:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def order_update(
    *,
    actor: Actor,
    order: Order,
    status: str | None = None,
    payment_status: str | None = None,
    paid_at: dt.datetime | None = None,
) -> Order:
    """Change an order's status and/or payment (orders.manage), under its row lock. Marking it
    paid records order.paid once; a refund records order.refunded."""
    actor.require("orders.manage")
    with transaction.atomic():
        locked = _locked(order.pk)
        _order_apply(
            locked,
            OrderData(status=status, payment_status=payment_status, paid_at=paid_at),
            actor,
        )
    return locked


def _deal_customer(deal: Deal) -> Customer:
    if deal.customer_id is not None:
        customer: Customer = Customer.objects.get(pk=deal.customer_id)
        return customer
    contact = (
        DealContact.objects.filter(deal=deal).select_related("customer").order_by("pk").first()
    )
    if contact is None:
        raise InvalidInputError(
            _("The deal needs a customer before its order can be recorded."),
            field="customer_id",
        )
    return contact.customer


def order_from_deal(*, deal: Deal, actor: Actor | None) -> Order:
    """The order of a won deal: the one linked to it (a shop's order synced with its
    `deal_id`), else one created the first time (one per deal, `order_unique_deal`): its
    lines are the deal's products, or one line named after the deal, quantity 1, at the
    deal's amount.
    Confirmed and unpaid, owned like the deal. Whoever may win the deal may record its order,
    so no orders permission is asked. InvalidInputError(field="customer_id") when the deal has
    no customer (nor contact)."""
    existing: Order | None = Order.objects.filter(workspace_id=deal.workspace_id, deal=deal).first()
    if existing is not None:
        return existing
    products = list(DealProduct.objects.filter(deal=deal).select_related("product").order_by("pk"))
    lines = [
        _Line(
            product=item.product,
            sku=item.product.sku,
            name=item.product.name,
            quantity=item.quantity,
            unit_price=item.unit_price,
        )
        for item in products
    ] or [
        _Line(
            product=None,
            sku="",
            name=deal.name[:NAME_MAX_LENGTH],
            quantity=Decimal(1),
            unit_price=deal.amount,
        )
    ]
    customer = _deal_customer(deal)
    try:
        with transaction.atomic():
            order = Order(
                workspace_id=deal.workspace_id,
                source=OrderSource.DEAL,
                customer=customer,
                deal=deal,
                owner_id=deal.owner_id,
                team_id=deal.team_id,
                status=OrderStatus.CONFIRMED,
                payment_status=PaymentStatus.UNPAID,
                currency=deal.currency,
                ordered_at=deal.closed_at or timezone.now(),
                total=_lines_total(lines),
            )
            order.save(force_insert=True)
            _lines_write(order, lines, is_new=True)
            _record_created(order)
    except IntegrityError:
        # A second win of the same deal committed its order first.
        winner: Order = Order.objects.get(workspace_id=deal.workspace_id, deal=deal)
        return winner
    return order


# --- selectors ------------------------------------------------------------------------------
@dataclass
class OrderFilters:
    customer_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None
    status: str = ""
    payment_status: str = ""
    ordered_from: dt.datetime | None = None
    ordered_to: dt.datetime | None = None
    q: str = ""


def order_search(actor: Actor, filters: OrderFilters) -> QuerySet[Order]:
    """Orders the actor may see (record rules) matching `filters`; `ordered_to` is exclusive."""
    orders = visible_orders(actor)
    if filters.customer_id is not None:
        orders = orders.filter(customer__public_id=filters.customer_id)
    if filters.deal_id is not None:
        orders = orders.filter(deal__public_id=filters.deal_id)
    if filters.status:
        orders = orders.filter(status=filters.status)
    if filters.payment_status:
        orders = orders.filter(payment_status=filters.payment_status)
    if filters.ordered_from is not None:
        orders = orders.filter(ordered_at__gte=filters.ordered_from)
    if filters.ordered_to is not None:
        orders = orders.filter(ordered_at__lt=filters.ordered_to)
    if filters.q:
        orders = orders.filter(
            Q(external_id__icontains=filters.q) | Q(customer__name__icontains=filters.q)
        )
    return orders


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    count: int
    total: Decimal
    paid: Decimal


def order_totals(orders: QuerySet[Order]) -> list[CurrencyTotal]:
    """Count, total and paid total of `orders` per currency (one query)."""
    rows = (
        orders.order_by()
        .values("currency")
        .annotate(
            order_count=Count("id"),
            amount=Sum("total"),
            paid_amount=Sum("total", filter=Q(payment_status=PaymentStatus.PAID)),
        )
        .order_by("currency")
    )
    return [
        CurrencyTotal(
            currency=row["currency"],
            count=row["order_count"],
            # SQLite sums decimals without their places: 120, not 120.00.
            total=Decimal(row["amount"] or 0).quantize(CENT),
            paid=Decimal(row["paid_amount"] or 0).quantize(CENT),
        )
        for row in rows
    ]


def order_lines(order: Order) -> list[OrderLine]:
    return list(OrderLine.objects.filter(order=order).select_related("product"))
