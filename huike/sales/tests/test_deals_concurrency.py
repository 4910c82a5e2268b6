"""Two people moving the same deal at the same moment (PostgreSQL; SQLite serializes writers,
so the race cannot happen there): the deal's row lock makes the second move start from where
the first left the deal, and winning twice at once makes one order and one deal.won event."""
# The fixtures are imported from test_deals_support (sales has no shared conftest), and a
# test naming a fixture as its argument is what pytest wants: F811 does not apply.
# ruff: noqa: F401, F811

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import close_old_connections, connection

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.core.models import OutboxMessage
from huike.customers.models import Customer, Event
from huike.sales.deals import deal_move
from huike.sales.models import Deal, DealStageChange, Order, Pipeline
from huike.sales.tests.test_deals_support import make_customer, make_deal, pipeline, stage_named
from tests.concurrency import run_together

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions are tested on PostgreSQL")


def _second_actor(make_member: Callable[..., Membership]) -> Actor:
    return Actor.for_membership(make_member("manager@acme.test", "manager"))


def test_two_moves_at_once_chain_in_the_history(
    owner_actor: Actor, make_member: Callable[..., Membership], pipeline: Pipeline, make_deal
) -> None:
    # given
    deal = make_deal()
    other = _second_actor(make_member)
    proposal = stage_named(pipeline, "Proposal")
    negotiation = stage_named(pipeline, "Negotiation")
    # when
    errors = run_together(
        lambda: deal_move(actor=owner_actor, deal=Deal.objects.get(pk=deal.pk), stage=proposal),
        lambda: deal_move(actor=other, deal=Deal.objects.get(pk=deal.pk), stage=negotiation),
    )
    # then
    assert errors == []
    changes = list(DealStageChange.objects.filter(deal=deal).order_by("changed_at", "id"))
    assert len(changes) == 3
    # Each move starts where the one before it left the deal: no two leave the same stage.
    assert [change.from_stage_id for change in changes[1:]] == [
        changes[0].to_stage_id,
        changes[1].to_stage_id,
    ]
    assert Deal.objects.get(pk=deal.pk).stage_id == changes[2].to_stage_id


def test_winning_twice_at_once_makes_one_order(
    owner_actor: Actor,
    make_member: Callable[..., Membership],
    pipeline: Pipeline,
    make_deal,
    make_customer,
) -> None:
    # given
    customer = make_customer()
    deal = make_deal(customer=customer, amount="900")
    other = _second_actor(make_member)
    won = stage_named(pipeline, "Won")
    # when
    errors = run_together(
        lambda: deal_move(actor=owner_actor, deal=Deal.objects.get(pk=deal.pk), stage=won),
        lambda: deal_move(actor=other, deal=Deal.objects.get(pk=deal.pk), stage=won),
    )
    # then
    assert errors == []
    assert Order.objects.filter(deal=deal).count() == 1
    assert Event.objects.filter(customer=customer, kind="deal.won").count() == 1
    assert OutboxMessage.objects.filter(kind="deal.won").count() == 1
    assert DealStageChange.objects.filter(deal=deal).count() == 2
    assert Customer.objects.get(pk=customer.pk).lifecycle_stage == "customer"
