"""The derived profile: what the timeline says about a customer (last interaction, purchases,
RFM scores), kept current as events arrive and recomputed from the timeline after a merge or
an unmerge. Nobody types these fields in."""

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, Max
from django.utils import timezone

from huike.core.errors import InvalidInputError
from huike.customers.models import Customer, Event
from huike.customers.values import parse_money

ORDER_PAID = "order.paid"
# A refund takes back what its order's order.paid added (its amount and the count of one
# order); the totals never go below zero.
ORDER_REFUNDED = "order.refunded"
# Events that are bookkeeping about the record rather than something the customer did.
RECORD_KINDS = frozenset(
    {
        "customer.created",
        "customer.updated",
        "customer.imported",
        "tag.added",
        "tag.removed",
        "consent.granted",
        "consent.withdrawn",
    }
)
DERIVED_FIELDS = (
    "last_interaction_at",
    "last_purchase_at",
    "order_count",
    "total_spent",
    "rfm_recency",
    "rfm_frequency",
    "rfm_monetary",
)

# RFM scores 1 to 5. Recency: days since the last purchase, at most this many for each score;
# frequency: at least this many orders; monetary: at least this total (workspace currency).
RECENCY_DAYS = ((30, 5), (90, 4), (180, 3), (365, 2))
FREQUENCY_ORDERS = ((10, 5), (5, 4), (3, 3), (2, 2), (1, 1))
MONETARY_TOTAL = ((Decimal(10000), 5), (Decimal(5000), 4), (Decimal(1000), 3), (Decimal(200), 2))


def is_interaction(kind: str) -> bool:
    return kind not in RECORD_KINDS


# Customer.total_spent holds 14 digits with 2 places; one order beyond that is junk, and
# adding it would make every later save of the customer fail.
ORDER_AMOUNT_LIMIT = Decimal(10) ** 12


def order_amount(properties: dict[str, Any]) -> Decimal:
    """The amount of an order.paid event as shops send it ("1,234.50", "¥88", 99.5); what
    does not read as a positive amount below the limit counts as nothing."""
    try:
        amount, _currency = parse_money(properties.get("amount", "0"), default_currency="CNY")
    except InvalidInputError:
        return Decimal(0)
    return amount if 0 < amount < ORDER_AMOUNT_LIMIT else Decimal(0)


def rfm_scores(customer: Customer, *, today: dt.date | None = None) -> None:
    """Set the customer's RFM scores from its purchase fields (None without purchases)."""
    if not customer.order_count or customer.last_purchase_at is None:
        customer.rfm_recency = customer.rfm_frequency = customer.rfm_monetary = None
        return
    today = today or timezone.now().date()
    days = (today - customer.last_purchase_at.date()).days
    customer.rfm_recency = next((score for limit, score in RECENCY_DAYS if days <= limit), 1)
    customer.rfm_frequency = next(
        (score for least, score in FREQUENCY_ORDERS if customer.order_count >= least), 1
    )
    customer.rfm_monetary = next(
        (score for least, score in MONETARY_TOTAL if customer.total_spent >= least), 1
    )


def profile_apply(customer: Customer, events: Iterable[Event]) -> bool:
    """Fold new events into the customer's derived fields in memory; True if any changed."""
    before = [getattr(customer, name) for name in (*DERIVED_FIELDS, "last_seen_at")]
    for event in events:
        if not is_interaction(event.kind):
            continue
        if customer.last_interaction_at is None or event.occurred_at > customer.last_interaction_at:
            customer.last_interaction_at = event.occurred_at
        if customer.last_seen_at is None or event.occurred_at > customer.last_seen_at:
            customer.last_seen_at = event.occurred_at
        if event.kind == ORDER_PAID:
            customer.order_count += 1
            customer.total_spent = Decimal(customer.total_spent) + order_amount(event.properties)
            if customer.last_purchase_at is None or event.occurred_at > customer.last_purchase_at:
                customer.last_purchase_at = event.occurred_at
        elif event.kind == ORDER_REFUNDED:
            customer.order_count = max(customer.order_count - 1, 0)
            customer.total_spent = max(
                Decimal(customer.total_spent) - order_amount(event.properties), Decimal(0)
            )
    rfm_scores(customer)
    after = [getattr(customer, name) for name in (*DERIVED_FIELDS, "last_seen_at")]
    return before != after


PROFILE_COLUMNS = (*DERIVED_FIELDS, "last_seen_at", "updated_at")


def profiles_save(customers: Sequence[Customer]) -> None:
    """Write the derived fields of many customers at once. Django's bulk_update builds one
    CASE expression per field and row, which costs far more than the writes themselves for a
    batch of a thousand customers: PostgreSQL gets one UPDATE … FROM unnest(arrays), other
    databases one prepared UPDATE executed for every row."""
    if not customers:
        return
    concrete = {field.name: field for field in Customer._meta.concrete_fields}
    fields = [concrete[name] for name in PROFILE_COLUMNS]
    columns = [str(field.column) for field in fields]
    quote = connection.ops.quote_name
    table = quote(Customer._meta.db_table)
    now = timezone.now()
    for customer in customers:
        customer.updated_at = now
    values = [[getattr(customer, name) for name in PROFILE_COLUMNS] for customer in customers]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            types = [field.db_type(connection) for field in fields]
            arrays = ", ".join(f"%s::{kind}[]" for kind in ["bigint", *types])
            names = ", ".join(quote(name) for name in ["id", *columns])
            assignments = ", ".join(f"{quote(name)} = v.{quote(name)}" for name in columns)
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({names}) "  # noqa: S608
                f"WHERE {table}.id = v.id",
                [[customer.pk for customer in customers], *map(list, zip(*values, strict=True))],
            )
        else:
            assignments = ", ".join(f"{quote(name)} = %s" for name in columns)
            cursor.executemany(
                f"UPDATE {table} SET {assignments} WHERE id = %s",  # noqa: S608
                [
                    [
                        field.get_db_prep_save(value, connection)
                        for field, value in zip(fields, row, strict=True)
                    ]
                    + [customer.pk]
                    for customer, row in zip(customers, values, strict=True)
                ],
            )


def customer_profile_refresh(customer: Customer) -> None:
    """Recompute the derived fields from the whole timeline and save them."""
    events = Event.objects.filter(workspace_id=customer.workspace_id, customer=customer)
    interactions = events.exclude(kind__in=RECORD_KINDS)
    orders = events.filter(kind=ORDER_PAID)
    stats = orders.aggregate(
        count=Count("id"),
        last=Max("occurred_at"),
    )
    refunds = events.filter(kind=ORDER_REFUNDED)
    total = Decimal(0)
    for properties in orders.values_list("properties", flat=True):
        total += order_amount(properties or {})
    for properties in refunds.values_list("properties", flat=True):
        total -= order_amount(properties or {})
    customer.last_interaction_at = interactions.aggregate(last=Max("occurred_at"))["last"]
    customer.order_count = max((stats["count"] or 0) - refunds.count(), 0)
    total = max(total, Decimal(0))
    customer.last_purchase_at = stats["last"]
    customer.total_spent = total
    rfm_scores(customer)
    customer.save(update_fields=[*DERIVED_FIELDS, "updated_at"])
