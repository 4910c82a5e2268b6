"""Order upserts and orders from won deals under real concurrent transactions (PostgreSQL;
SQLite serializes writers, so the races cannot happen there). Two orders linked to one deal at
once: the second writer's check cannot see the first's uncommitted link, so the database's
one-order-per-deal constraint decides, and the loser gets the same conflict (409) as a link
refused up front — never a server error, and nothing of its change is kept."""

import functools
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections, transaction

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.core.errors import ConflictError
from huike.customers.models import Customer, Event

# The customers part's PostgreSQL-only guard, shared rather than copied.
from huike.customers.tests.test_resolution_concurrency import (
    _postgresql_only,  # noqa: F401
)
from huike.sales.models import Deal, Order, OrderLine
from huike.sales.orders import OrderData, order_from_deal, order_upsert
from huike.sales.tests.test_orders_support import line, make_customer, make_deal, make_order
from tests.concurrency import STUCK_SECONDS, run_together

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


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def _race(first: Callable[[], Any], second: Callable[[], Any]) -> list[BaseException]:
    """`first` in a transaction held open until `second` (on another connection) is blocked
    on it; then `first` commits. What the second raised."""
    written, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    first_errors: list[BaseException] = []

    def hold() -> None:
        try:
            with transaction.atomic():
                first()
                written.set()
                release.wait(STUCK_SECONDS)
        except BaseException as error:
            first_errors.append(error)
        finally:
            written.set()
            connections.close_all()

    def follow() -> None:
        try:
            written.wait(STUCK_SECONDS)
            second()
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=hold), threading.Thread(target=follow)]
    for thread in threads:
        thread.start()
    assert written.wait(STUCK_SECONDS)
    # Polls until the second writer waits for the first's row (not a timing: a condition).
    for _attempt in range(STUCK_SECONDS * 20):
        if _waiting_on_a_lock():
            break
        threading.Event().wait(0.05)
    release.set()
    for thread in threads:
        thread.join(STUCK_SECONDS)
    assert not any(thread.is_alive() for thread in threads)
    assert first_errors == []
    return errors


def _link(actor: Actor, order: Order, deal: Deal) -> Callable[[], Any]:
    return lambda: order_upsert(
        actor=actor,
        data=OrderData(external_id=order.external_id, deal_id=deal.public_id, status="confirmed"),
    )


def test_two_existing_orders_linked_to_one_deal_at_once_one_wins_the_other_conflicts(
    owner_actor: Actor,
) -> None:
    # given two synced orders of the deal's customer
    customer = make_customer(owner_actor.workspace)
    deal = make_deal(owner_actor.workspace, customer=customer, owner=None)
    first = make_order(owner_actor, customer, "SHOP-1")
    second = make_order(owner_actor, customer, "SHOP-2")
    status_before = second.status
    assert status_before != "confirmed"
    # when both are synced again with the deal at the same moment
    errors = _race(_link(owner_actor, first, deal), _link(owner_actor, second, deal))
    # then: the first holds the deal, the second got a conflict naming the field and is as
    # it was (its status too: nothing of the losing change is kept)
    assert [type(error) for error in errors] == [ConflictError]
    assert getattr(errors[0], "field", None) == "deal_id"
    assert Order.objects.get(pk=first.pk).deal_id == deal.pk
    second.refresh_from_db()
    assert (second.deal_id, second.status) == (None, status_before)


def test_two_new_orders_without_external_ids_for_one_deal_at_once(owner_actor: Actor) -> None:
    # given
    customer = make_customer(owner_actor.workspace)
    deal = make_deal(owner_actor.workspace, customer=customer, owner=None)

    def create() -> Any:
        return order_upsert(
            actor=owner_actor,
            data=OrderData(customer_id=customer.public_id, deal_id=deal.public_id, lines=[line()]),
        )

    # when
    errors = _race(create, create)
    # then: one order, linked; the other writer's order was never made
    assert [type(error) for error in errors] == [ConflictError]
    assert list(Order.objects.values_list("deal_id", flat=True)) == [deal.pk]


def test_the_same_new_order_for_a_deal_sent_twice_at_once_makes_one_order(
    owner_actor: Actor,
) -> None:
    # given: a shop delivering its webhook twice, the order naming its deal
    customer = make_customer(owner_actor.workspace)
    deal = make_deal(owner_actor.workspace, customer=customer, owner=None)
    results: list[bool] = []

    def send(external_id: str) -> Callable[[], None]:
        def run() -> None:
            _order, created = order_upsert(
                actor=owner_actor,
                data=OrderData(
                    external_id=external_id,
                    customer_id=customer.public_id,
                    deal_id=deal.public_id,
                    lines=[line()],
                ),
            )
            results.append(created)

        return run

    # when: the second delivery's insert waits on the first's, then fails on both constraints
    errors = _race(send("SHOP-9"), send("SHOP-9"))
    # then: it updated the first's order instead of conflicting with it
    assert errors == []
    assert sorted(results) == [False, True]
    assert list(Order.objects.values_list("external_id", "deal_id")) == [("SHOP-9", deal.pk)]


def test_the_same_new_order_for_a_deal_sent_twice_at_the_same_moment_never_conflicts(
    owner_actor: Actor,
) -> None:
    # given: rounds of a shop delivering one order twice at the same moment, each naming its
    # own deal; the second delivery may meet the first at the insert, or find it committed
    # and holding the deal at the deal check
    customer = make_customer(owner_actor.workspace)
    for round_number in range(ROUNDS):
        deal = make_deal(
            owner_actor.workspace, customer=customer, owner=None, name=f"Deal {round_number}"
        )
        data = OrderData(
            external_id=f"TWICE-{round_number}",
            customer_id=customer.public_id,
            deal_id=deal.public_id,
            lines=[line()],
        )
        # when
        send = functools.partial(order_upsert, actor=owner_actor, data=data)
        errors = run_together(send, send)
        # then
        assert errors == []
        assert list(Order.objects.filter(deal=deal).values_list("external_id", flat=True)) == [
            f"TWICE-{round_number}"
        ]
