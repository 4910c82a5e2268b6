"""Fixtures of the tasks tests (imported by the test_tasks_* modules): a team East with its
manager and two reps, a rep of another team, customers, a lead and a deal of the first rep.
This module holds no tests itself."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team, Workspace
from huike.accounts.services import team_create
from huike.customers.models import Customer
from huike.customers.services import CustomerData, customer_create
from huike.sales.deals import deal_create, pipeline_default
from huike.sales.models import Deal, Lead, LeadSource, Task
from huike.sales.tasks_service import task_create


def client_of(membership: Membership) -> Client:
    client = Client(headers={"Accept-Language": "en"})
    client.force_login(membership.user)
    return client


def member_in(
    make_member: Callable[..., Membership], email: str, role: str, team: Team | None
) -> Membership:
    membership = make_member(email, role)
    membership.team = team
    membership.save(update_fields=["team"])
    return membership


@pytest.fixture
def east(owner_actor: Actor) -> Team:
    return team_create(actor=owner_actor, name="East")


@pytest.fixture
def west(owner_actor: Actor) -> Team:
    return team_create(actor=owner_actor, name="West")


@pytest.fixture
def manager(make_member: Callable[..., Membership], east: Team) -> Membership:
    return member_in(make_member, "manager@acme.test", "manager", east)


@pytest.fixture
def rep(make_member: Callable[..., Membership], east: Team) -> Membership:
    return member_in(make_member, "rep@acme.test", "sales", east)


@pytest.fixture
def other_rep(make_member: Callable[..., Membership], east: Team) -> Membership:
    return member_in(make_member, "rep2@acme.test", "sales", east)


@pytest.fixture
def west_rep(make_member: Callable[..., Membership], west: Team) -> Membership:
    return member_in(make_member, "west@acme.test", "sales", west)


@pytest.fixture
def rep_actor(rep: Membership) -> Actor:
    return Actor.for_membership(rep)


@pytest.fixture
def manager_actor(manager: Membership) -> Actor:
    return Actor.for_membership(manager)


@pytest.fixture
def customer(owner_actor: Actor, rep: Membership) -> Customer:
    return customer_create(actor=owner_actor, data=CustomerData(name="Lin Wei", owner=rep))


@pytest.fixture
def lead(workspace: Workspace, customer: Customer, rep: Membership) -> Lead:
    lead: Lead = Lead.objects.create(
        workspace=workspace,
        customer=customer,
        owner=rep,
        team_id=rep.team_id,
        name="Lin Wei",
        source=LeadSource.MANUAL,
    )
    return lead


@pytest.fixture
def deal(owner_actor: Actor, workspace: Workspace, customer: Customer, rep: Membership) -> Deal:
    return deal_create(
        actor=owner_actor,
        pipeline=pipeline_default(workspace),
        name="CRM rollout",
        customer=customer,
        owner=rep,
    )


@pytest.fixture
def make_task(rep_actor: Actor) -> Callable[..., Task]:
    def make(title: str = "Call Lin", *, actor: Actor | None = None, **values: Any) -> Task:
        return task_create(actor=actor or rep_actor, title=title, **values)

    return make
