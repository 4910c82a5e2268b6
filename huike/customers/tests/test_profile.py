"""The derived profile (huike.customers.profile): last interaction, purchases and RFM scores
kept current as events arrive, recomputed from the timeline, and written in bulk on SQLite and
on PostgreSQL alike."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huike.accounts.access import Actor
from huike.customers.events import event_record
from huike.customers.models import Customer, Event
from huike.customers.profile import (
    DERIVED_FIELDS,
    customer_profile_refresh,
    order_amount,
    profile_apply,
    profiles_save,
    rfm_scores,
)
from huike.customers.services import CustomerData, customer_create

T0 = dt.datetime(2024, 3, 5, 9, 0, tzinfo=dt.UTC)
TODAY = dt.date(2024, 6, 1)


def derived(customer: Customer) -> dict[str, object]:
    return {name: getattr(customer, name) for name in DERIVED_FIELDS}


@pytest.fixture
def customer(owner_actor: Actor) -> Customer:
    return customer_create(actor=owner_actor, data=CustomerData(name="Sun"))


def event(customer: Customer, kind: str, minutes: int = 0, **properties: object) -> Event:
    """An unsaved event, for folding in memory."""
    return Event(
        workspace_id=customer.workspace_id,
        customer=customer,
        kind=kind,
        occurred_at=T0 + dt.timedelta(minutes=minutes),
        properties=properties,
    )


# --- order amounts ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("properties", "amount"),
    [
        ({"amount": "12.50"}, Decimal("12.50")),
        ({"amount": 12.5}, Decimal("12.5")),
        ({"amount": 7}, Decimal(7)),
        ({"amount": " 3.10 "}, Decimal("3.10")),
        ({}, Decimal(0)),
        ({"amount": None}, Decimal(0)),
        ({"amount": "lots"}, Decimal(0)),
        ({"amount": "NaN"}, Decimal(0)),
        ({"amount": "Infinity"}, Decimal(0)),
        ({"amount": "-20"}, Decimal(0)),
        ({"amount": True}, Decimal(0)),
        ({"amount": {"amount": "1", "currency": "CNY"}}, Decimal(1)),
        ({"amount": "1,234.50"}, Decimal("1234.50")),
        ({"amount": "¥88"}, Decimal(88)),
        ({"amount": "1e20"}, Decimal(0)),  # more than the total's 14 digits hold
    ],
)
def test_order_amounts_are_read_and_junk_counts_nothing(properties, amount):
    assert order_amount(properties) == amount


# --- profile_apply ---------------------------------------------------------------------------
def test_orders_add_up_and_set_the_last_purchase(customer):
    customer.last_seen_at = None
    events = [
        event(customer, "order.paid", 0, amount="100.50"),
        event(customer, "order.paid", 30, amount="lots"),
        event(customer, "page.viewed", 60),
        event(customer, "order.paid", 10, amount=99.5),
    ]
    # when
    changed = profile_apply(customer, events)
    # then
    assert changed is True
    assert derived(customer) | {"last_seen_at": customer.last_seen_at} == {
        "last_interaction_at": T0 + dt.timedelta(minutes=60),
        "last_purchase_at": T0 + dt.timedelta(minutes=30),
        "order_count": 3,
        "total_spent": Decimal("200.00"),
        "rfm_recency": customer.rfm_recency,
        "rfm_frequency": 3,
        "rfm_monetary": 2,
        "last_seen_at": T0 + dt.timedelta(minutes=60),
    }


def test_record_events_are_no_interaction(customer):
    before = derived(customer)
    kinds = ["customer.created", "customer.updated", "tag.added", "consent.granted"]
    assert profile_apply(customer, [event(customer, kind) for kind in kinds]) is False
    assert derived(customer) == before


def test_an_older_event_does_not_move_the_last_interaction_back(customer):
    profile_apply(customer, [event(customer, "page.viewed", 60)])
    assert profile_apply(customer, [event(customer, "page.viewed", 0)]) is False
    assert customer.last_interaction_at == T0 + dt.timedelta(minutes=60)


def test_events_recorded_through_the_service_update_the_saved_profile(customer):
    event_record(customer=customer, kind="order.paid", occurred_at=T0, properties={"amount": "88"})
    event_record(
        customer=customer,
        kind="order.paid",
        occurred_at=T0 + dt.timedelta(days=1),
        properties={"amount": "not a number"},
    )
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent, customer.last_purchase_at) == (
        2,
        Decimal("88.00"),
        T0 + dt.timedelta(days=1),
    )


def test_a_refund_takes_its_order_back_off_the_profile(customer):
    # given two paid orders, one of them refunded
    event_record(customer=customer, kind="order.paid", occurred_at=T0, properties={"amount": "88"})
    event_record(customer=customer, kind="order.paid", occurred_at=T0, properties={"amount": "12"})
    event_record(
        customer=customer,
        kind="order.refunded",
        occurred_at=T0 + dt.timedelta(days=1),
        properties={"amount": "88"},
    )
    # then one order of 12 counts, as it arrived and recomputed
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent) == (1, Decimal("12.00"))
    customer_profile_refresh(customer)
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent) == (1, Decimal("12.00"))


def test_a_huge_amount_does_not_break_the_customer(customer):
    # when an integration sends an amount no total can hold
    event_record(
        customer=customer, kind="order.paid", occurred_at=T0, properties={"amount": "1e20"}
    )
    event_record(customer=customer, kind="order.paid", occurred_at=T0, properties={"amount": "5"})
    # then the order counts, its amount does not
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent) == (2, Decimal("5.00"))


# --- RFM -------------------------------------------------------------------------------------
def scored(*, days: int = 0, orders: int = 1, total: str = "0") -> tuple[object, object, object]:
    customer = Customer(
        order_count=orders,
        total_spent=Decimal(total),
        last_purchase_at=dt.datetime.combine(TODAY, dt.time(12), tzinfo=dt.UTC)
        - dt.timedelta(days=days),
    )
    rfm_scores(customer, today=TODAY)
    return customer.rfm_recency, customer.rfm_frequency, customer.rfm_monetary


@pytest.mark.parametrize(
    ("days", "score"),
    [(0, 5), (30, 5), (31, 4), (90, 4), (91, 3), (180, 3), (181, 2), (365, 2), (366, 1), (2000, 1)],
)
def test_recency_scores_at_the_boundaries(days, score):
    assert scored(days=days)[0] == score


@pytest.mark.parametrize(
    ("orders", "score"), [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (9, 4), (10, 5), (500, 5)]
)
def test_frequency_scores_at_the_boundaries(orders, score):
    assert scored(orders=orders)[1] == score


@pytest.mark.parametrize(
    ("total", "score"),
    [
        ("0", 1),
        ("199.99", 1),
        ("200", 2),
        ("999.99", 2),
        ("1000", 3),
        ("4999.99", 3),
        ("5000", 4),
        ("9999.99", 4),
        ("10000", 5),
        ("999999999999.99", 5),
    ],
)
def test_monetary_scores_at_the_boundaries(total, score):
    assert scored(total=total)[2] == score


def test_no_purchases_no_scores():
    customer = Customer(order_count=0, rfm_recency=3, rfm_frequency=3, rfm_monetary=3)
    rfm_scores(customer, today=TODAY)
    assert (customer.rfm_recency, customer.rfm_frequency, customer.rfm_monetary) == (
        None,
        None,
        None,
    )


# --- customer_profile_refresh ----------------------------------------------------------------
def test_refresh_recomputes_everything_from_the_timeline(customer):
    for minutes, kind, amount in [
        (0, "order.paid", "10"),
        (5, "order.paid", "x"),
        (9, "chat.sent", None),
    ]:
        Event.objects.create(
            workspace_id=customer.workspace_id,
            customer=customer,
            kind=kind,
            occurred_at=T0 + dt.timedelta(minutes=minutes),
            properties={"amount": amount} if amount else {},
        )
    # given derived fields that went wrong
    Customer.objects.filter(pk=customer.pk).update(order_count=99, total_spent=Decimal("1"))
    customer.refresh_from_db()
    # when
    customer_profile_refresh(customer)
    # then
    customer.refresh_from_db()
    assert (
        customer.order_count,
        customer.total_spent,
        customer.last_purchase_at,
        customer.last_interaction_at,
        customer.rfm_frequency,
        customer.rfm_monetary,
    ) == (2, Decimal("10.00"), T0 + dt.timedelta(minutes=5), T0 + dt.timedelta(minutes=9), 2, 1)


def test_refresh_of_a_customer_without_interactions_clears_the_profile(customer):
    Customer.objects.filter(pk=customer.pk).update(order_count=3, rfm_recency=5)
    customer.refresh_from_db()
    customer_profile_refresh(customer)
    customer.refresh_from_db()
    assert derived(customer) == {
        "last_interaction_at": None,
        "last_purchase_at": None,
        "order_count": 0,
        "total_spent": Decimal("0.00"),
        "rfm_recency": None,
        "rfm_frequency": None,
        "rfm_monetary": None,
    }


EVENT_ITEMS = st.lists(
    st.tuples(
        st.sampled_from(["order.paid", "page.viewed", "customer.updated", "tag.added"]),
        st.integers(min_value=0, max_value=60 * 24 * 400),
        st.one_of(
            st.decimals(min_value=0, max_value=100000, places=2).map(str),
            st.sampled_from(["junk", "-5", "", "NaN"]),
        ),
    ),
    max_size=8,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(items=EVENT_ITEMS)
def test_events_as_they_arrive_give_the_profile_a_refresh_gives(owner_actor, items):
    customer = customer_create(actor=owner_actor, data=CustomerData(name="P"))
    # when the events arrive one by one
    for kind, minutes, amount in items:
        event_record(
            customer=customer,
            kind=kind,
            occurred_at=T0 + dt.timedelta(minutes=minutes),
            properties={"amount": amount},
        )
    customer.refresh_from_db()
    incremental = derived(customer)
    # then recomputing from the whole timeline agrees
    customer_profile_refresh(customer)
    customer.refresh_from_db()
    assert derived(customer) == incremental


# --- profiles_save (a PostgreSQL branch and a SQLite branch) ---------------------------------
def test_profiles_save_writes_every_derived_field_of_many_customers(owner_actor):
    first = customer_create(actor=owner_actor, data=CustomerData(name="First"))
    second = customer_create(actor=owner_actor, data=CustomerData(name="Second"))
    untouched = customer_create(actor=owner_actor, data=CustomerData(name="Untouched"))
    untouched_before = Customer.objects.filter(pk=untouched.pk).values(*DERIVED_FIELDS).get()
    first.last_interaction_at = first.last_seen_at = T0
    first.last_purchase_at = T0 - dt.timedelta(days=1)
    first.order_count, first.total_spent = 3, Decimal("1234.56")
    first.rfm_recency, first.rfm_frequency, first.rfm_monetary = 5, 3, 3
    second.last_interaction_at = T0 + dt.timedelta(seconds=1, microseconds=250)
    second.last_seen_at = T0 + dt.timedelta(hours=1)
    second.last_purchase_at = None
    second.order_count, second.total_spent = 0, Decimal(0)
    second.rfm_recency = second.rfm_frequency = second.rfm_monetary = None
    # when
    profiles_save([first, second])
    # then
    rows = {
        row["name"]: row
        for row in Customer.objects.values("name", "last_seen_at", "updated_at", *DERIVED_FIELDS)
    }
    assert {name: rows["First"][name] for name in (*DERIVED_FIELDS, "last_seen_at")} == {
        "last_interaction_at": T0,
        "last_purchase_at": T0 - dt.timedelta(days=1),
        "order_count": 3,
        "total_spent": Decimal("1234.56"),
        "rfm_recency": 5,
        "rfm_frequency": 3,
        "rfm_monetary": 3,
        "last_seen_at": T0,
    }
    assert {name: rows["Second"][name] for name in (*DERIVED_FIELDS, "last_seen_at")} == {
        "last_interaction_at": T0 + dt.timedelta(seconds=1, microseconds=250),
        "last_purchase_at": None,
        "order_count": 0,
        "total_spent": Decimal("0.00"),
        "rfm_recency": None,
        "rfm_frequency": None,
        "rfm_monetary": None,
        "last_seen_at": T0 + dt.timedelta(hours=1),
    }
    assert rows["First"]["updated_at"] == rows["Second"]["updated_at"] == first.updated_at
    assert {name: rows["Untouched"][name] for name in DERIVED_FIELDS} == untouched_before
    assert rows["Untouched"]["name"] == "Untouched"


def test_profiles_save_of_nobody_writes_nothing(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        profiles_save([])


def test_profiles_save_is_one_statement_for_many_customers(owner_actor, django_assert_num_queries):
    # PostgreSQL: one UPDATE … FROM unnest(arrays); SQLite: one prepared UPDATE, executemany.
    customers = [
        customer_create(actor=owner_actor, data=CustomerData(name=f"C{number}"))
        for number in range(3)
    ]
    for number, customer in enumerate(customers):
        customer.order_count = number + 1
    with django_assert_num_queries(1):
        profiles_save(customers)
    assert sorted(Customer.objects.values_list("name", "order_count")) == [
        ("C0", 1),
        ("C1", 2),
        ("C2", 3),
    ]
