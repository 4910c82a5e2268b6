"""Identity resolution and merging under real concurrent transactions (PostgreSQL; SQLite
serializes writers, so the races cannot happen there)."""

from typing import Any

import pytest
from django.db import connection, transaction

from huike.accounts.access import Actor
from huike.core.errors import ConflictError
from huike.customers.ingest import events_ingest
from huike.customers.merging import customer_merge
from huike.customers.models import Customer, CustomerMerge, Event, Identity
from huike.customers.services import CustomerData, customer_create
from tests.concurrency import run_together

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions are tested on PostgreSQL")


def test_two_batches_naming_the_same_new_person_make_one_customer(owner_actor: Actor):
    def send(tag: str) -> Any:
        def run() -> None:
            with transaction.atomic():
                events_ingest(
                    actor=owner_actor,
                    items=[
                        {"kind": "page.viewed", "identities": {"phone": "13812347777"}, "id": tag}
                    ],
                )

        return run

    errors = run_together(send("first"), send("second"))
    assert errors == []
    assert Customer.objects.filter(workspace=owner_actor.workspace).count() == 1
    assert Identity.objects.filter(workspace=owner_actor.workspace).count() == 1
    assert Event.objects.filter(kind="page.viewed").count() == 2


def test_two_merges_of_the_same_customer_at_once_leave_one_merge(owner_actor: Actor):
    survivor = customer_create(actor=owner_actor, data=CustomerData(name="S"))
    absorbed = customer_create(actor=owner_actor, data=CustomerData(name="A"))
    other = customer_create(actor=owner_actor, data=CustomerData(name="O"))

    def merge_into(target: Customer) -> Any:
        return lambda: customer_merge(actor=owner_actor, survivor=target, absorbed=absorbed)

    errors = run_together(merge_into(survivor), merge_into(other))
    assert len(errors) == 1
    assert isinstance(errors[0], ConflictError)
    assert CustomerMerge.objects.filter(absorbed=absorbed).count() == 1


def test_concurrent_orders_of_one_customer_all_count(owner_actor: Actor):
    from huike.customers.tests.conftest import keys_of

    customer = customer_create(
        actor=owner_actor,
        data=CustomerData(name="Buyer"),
        identity_keys=keys_of(phone="13812345555"),
    )

    def pay(tag: str) -> Any:
        def run() -> None:
            events_ingest(
                actor=owner_actor,
                items=[
                    {
                        "id": f"{tag}-{n}",
                        "kind": "order.paid",
                        "identities": {"phone": "13812345555"},
                        "properties": {"amount": "10"},
                    }
                    for n in range(3)
                ],
            )

        return run

    errors = run_together(pay("a"), pay("b"), pay("c"))
    assert errors == []
    customer.refresh_from_db()
    assert (customer.order_count, str(customer.total_spent)) == (9, "90.00")
