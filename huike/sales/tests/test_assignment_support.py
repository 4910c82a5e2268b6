"""Fixtures of the assignment tests (imported by the test_assignment_* modules): reps in a team
with a manager, leads written straight to the database (a customer each), rules made through
the service, and the assignment of one lead as a capture does it. No tests here."""

from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team, Workspace
from huike.accounts.services import team_create
from huike.customers.models import Customer
from huike.sales.assignment import (
    AssignmentRuleData,
    RuleConditions,
    assignment_rule_create,
    lead_assign_automatically,
)
from huike.sales.models import AssignmentRule, Lead, LeadSource

MakeLead = Callable[..., Lead]
MakeRule = Callable[..., AssignmentRule]


def new_lead(workspace: Workspace, name: str = "Lead", **fields: Any) -> Lead:
    customer = Customer.objects.create(workspace=workspace, name=name, lifecycle_stage="lead")
    fields.setdefault("source", LeadSource.MANUAL)
    return Lead.objects.create(workspace=workspace, customer=customer, name=name, **fields)


def assign(lead: Lead) -> Membership | None:
    """What a capture does: lock the lead in a transaction, then run the rules."""
    with transaction.atomic():
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        return lead_assign_automatically(lead=locked)


def owner_of(lead: Lead) -> Membership | None:
    lead.refresh_from_db()
    return lead.owner


@pytest.fixture
def make_lead(workspace: Workspace) -> MakeLead:
    def make(name: str = "Lead", **fields: Any) -> Lead:
        return new_lead(workspace, name, **fields)

    return make


@pytest.fixture
def make_rule(owner_actor: Actor) -> MakeRule:
    def make(
        name: str = "Rule",
        strategy: str = "round_robin",
        conditions: RuleConditions | None = None,
        **fields: Any,
    ) -> AssignmentRule:
        return assignment_rule_create(
            actor=owner_actor,
            data=AssignmentRuleData(
                name=name,
                strategy=strategy,
                conditions=conditions or RuleConditions(),
                **fields,
            ),
        )

    return make


@pytest.fixture
def team(owner_actor: Actor) -> Team:
    return team_create(actor=owner_actor, name="East")


def in_team(member: Membership, team: Team) -> Membership:
    member.team = team
    member.save(update_fields=["team"])
    return member


@pytest.fixture
def manager(make_member: Callable[..., Membership], team: Team) -> Membership:
    manager = in_team(make_member("manager@acme.test", "manager"), team)
    team.manager = manager
    team.save(update_fields=["manager"])
    return manager


@pytest.fixture
def ann(make_member: Callable[..., Membership], team: Team) -> Membership:
    return in_team(make_member("ann@acme.test", "sales"), team)


@pytest.fixture
def bob(make_member: Callable[..., Membership], team: Team) -> Membership:
    return in_team(make_member("bob@acme.test", "sales"), team)


@pytest.fixture
def cy(make_member: Callable[..., Membership], team: Team) -> Membership:
    return in_team(make_member("cy@acme.test", "sales"), team)
