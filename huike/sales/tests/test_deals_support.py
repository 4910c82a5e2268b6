"""Fixtures of the deals tests (imported by the test_deals_* modules): a pipeline with the
standard stages, customers, a sales team with its manager and two reps, and deals built
through the services. This module holds no tests itself."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team, Workspace
from huike.accounts.services import team_create
from huike.customers.models import Customer
from huike.customers.services import CustomerData, customer_create
from huike.sales.deals import deal_create, pipeline_default
from huike.sales.models import Deal, Pipeline, Stage


def stage_named(pipeline: Pipeline, name: str) -> Stage:
    return Stage.objects.get(pipeline=pipeline, name=name)


@pytest.fixture
def pipeline(workspace: Workspace) -> Pipeline:
    return pipeline_default(workspace)


@pytest.fixture
def make_customer(owner_actor: Actor) -> Callable[..., Customer]:
    def make(name: str = "Lin Wei", lifecycle_stage: str = "lead") -> Customer:
        return customer_create(
            actor=owner_actor, data=CustomerData(name=name, lifecycle_stage=lifecycle_stage)
        )

    return make


@pytest.fixture
def team(owner_actor: Actor) -> Team:
    return team_create(actor=owner_actor, name="East")


@pytest.fixture
def manager(make_member: Callable[..., Membership], team: Team) -> Membership:
    manager = make_member("manager@acme.test", "manager")
    manager.team = team
    manager.save(update_fields=["team"])
    return manager


@pytest.fixture
def rep(make_member: Callable[..., Membership], team: Team) -> Membership:
    rep = make_member("rep@acme.test", "sales")
    rep.team = team
    rep.save(update_fields=["team"])
    return rep


@pytest.fixture
def make_deal(owner_actor: Actor, pipeline: Pipeline) -> Callable[..., Deal]:
    def make(
        name: str = "CRM rollout",
        *,
        owner: Membership | None = None,
        amount: str = "1000.00",
        **values: Any,
    ) -> Deal:
        return deal_create(
            actor=owner_actor,
            pipeline=pipeline,
            name=name,
            owner=owner,
            amount=Decimal(amount),
            **values,
        )

    return make
