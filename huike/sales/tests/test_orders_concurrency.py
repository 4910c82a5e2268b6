"""Order upserts and orders from won deals under real concurrent transactions (PostgreSQL;
SQLite serializes writers, so the races cannot happen there)."""

from collections.abc import Callable
from decimal import Decimal

import pytest

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.customers.models import Customer, Event

# The customers part's PostgreSQL-only guard, shared rather than copied.
from huike.customers.tests.test_resolution_concurrency import (
    _postgresql_only,  # noqa: F401
)
from huike.sales.models import Order, OrderLine
from huike.sales.orders import OrderData, order_from_deal, order_upsert
from huike.sales.tests.test_orders_support import line, make_customer, make_deal
from tests.concurrency import run_together

pytestmark = pytest.mark.django_db(transaction=True)
# Each race is run this many times with a fresh external id: the two writers meet at a barrier
# right before the write, so most rounds really overlap.
ROUNDS = 5


def test_two_upserts_of_the_same_new_external_id_make_one_paid_order(
    workspace: Workspace, owner_actor: Actor
) -> None:
    # given
    customer = make_customer(workspace)
    results: list[bool] = []

    def send(external_id: str) -> Callable[[], None]:
        def run() -> None:
            _order, created = order_upsert(
                actor=owner_actor,
                data=OrderData(
                    external_id=external_id,
                    customer_id=customer.public_id,
                    lines=[line(price="30")],
                    payment_status="paid",
                ),
            )
            results.append(created)

        return run

    for round_number in range(ROUNDS):
        external_id = f"RACE-{round_number}"
        # when
        errors = run_together(send(external_id), send(external_id))
        # then
        assert errors == []
        assert Order.objects.filter(workspace=workspace, external_id=external_id).count() == 1
    assert sorted(results) == [False] * ROUNDS + [True] * ROUNDS
    assert OrderLine.objects.count() == ROUNDS
    assert Event.objects.filter(customer=customer, kind="order.paid").count() == ROUNDS
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent) == (ROUNDS, Decimal("30.00") * ROUNDS)


def test_two_wins_of_one_deal_make_one_order(workspace: Workspace, owner: Membership) -> None:
    # given
    customer = make_customer(workspace)
    deals = [
        make_deal(workspace, customer=customer, owner=owner, name=f"D{n}") for n in range(ROUNDS)
    ]
    for deal in deals:
        # when
        errors = run_together(
            lambda deal=deal: order_from_deal(deal=deal, actor=None),
            lambda deal=deal: order_from_deal(deal=deal, actor=None),
        )
        # then
        assert errors == []
        assert Order.objects.filter(deal=deal).count() == 1
    assert Event.objects.filter(customer=customer, kind="order.created").count() == ROUNDS
    assert Customer.objects.filter(workspace=workspace).count() == 1
