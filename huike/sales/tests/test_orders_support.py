"""Fixtures of the orders tests (imported by the test_orders_* modules): a team with a manager
and two reps, finance and read-only members, customers, deals made directly with the ORM, and
orders made through the service. This module holds no tests itself."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team, Workspace
from huike.accounts.services import team_create
from huike.customers.identities import identity_key
from huike.customers.models import Customer
from huike.sales.models import Deal, Order, Pipeline, Stage
from huike.sales.orders import OrderData, OrderLineData, order_upsert


def client_of(membership: Membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


@pytest.fixture
def team(owner_actor: Actor) -> Team:
    return team_create(actor=owner_actor, name="East")


def _in_team(membership: Membership, team: Team) -> Membership:
    membership.team = team
    membership.save(update_fields=["team"])
    return membership


@pytest.fixture
def manager(make_member: Callable[..., Membership], team: Team) -> Membership:
    return _in_team(make_member("manager@acme.test", "manager"), team)


@pytest.fixture
def rep(make_member: Callable[..., Membership], team: Team) -> Membership:
    return _in_team(make_member("rep@acme.test", "sales"), team)


@pytest.fixture
def other_rep(make_member: Callable[..., Membership]) -> Membership:
    return make_member("other-rep@acme.test", "sales")


@pytest.fixture
def finance(make_member: Callable[..., Membership]) -> Membership:
    return make_member("finance@acme.test", "finance")


@pytest.fixture
def reader(make_member: Callable[..., Membership]) -> Membership:
    return make_member("reader@acme.test", "read_only")


@pytest.fixture
def agent(make_member: Callable[..., Membership]) -> Membership:
    """A service agent: no orders.view."""
    return make_member("agent@acme.test", "service")


def make_customer(
    workspace: Workspace, name: str = "Lin Wei", owner: Membership | None = None
) -> Customer:
    return Customer.objects.create(
        workspace=workspace, name=name, owner=owner, team_id=owner.team_id if owner else None
    )


def make_deal(
    workspace: Workspace,
    *,
    customer: Customer | None,
    owner: Membership | None,
    name: str = "Annual licence",
    amount: str = "1200.00",
    currency: str = "CNY",
) -> Deal:
    pipeline = Pipeline.objects.create(workspace=workspace, name=f"Pipeline {name}")
    stage = Stage.objects.create(
        workspace=workspace, pipeline=pipeline, name="Won", kind="won", probability=100
    )
    return Deal.objects.create(
        workspace=workspace,
        name=name,
        pipeline=pipeline,
        stage=stage,
        status="won",
        amount=Decimal(amount),
        currency=currency,
        customer=customer,
        owner=owner,
        team_id=owner.team_id if owner else None,
    )


def line(
    sku: str = "", name: str = "Widget", quantity: str = "1", price: str | None = "10.00"
) -> OrderLineData:
    return OrderLineData(sku=sku, name=name, quantity=quantity, unit_price=price)


def make_order(actor: Actor, customer: Customer, external_id: str = "", **fields: Any) -> Order:
    data = OrderData(
        external_id=external_id,
        customer_id=customer.public_id,
        lines=fields.pop("lines", [line()]),
        **fields,
    )
    order, _created = order_upsert(actor=actor, data=data)
    return order


def phone_key(value: str = "13912345671") -> Any:
    return identity_key("phone", value)
