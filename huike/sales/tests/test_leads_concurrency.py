"""Leads under real concurrent transactions (PostgreSQL; SQLite serializes writers, so these
races cannot happen there): two reps claiming one pool lead, one rep claiming two leads at
the limit, two captures of one new person, two conversions of one lead."""

from collections.abc import Callable

import pytest
from django.db import connection

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.core.errors import ConflictError
from huike.customers.models import Customer
from huike.sales import leads
from huike.sales.deals import pipeline_default
from huike.sales.leads import LeadData
from huike.sales.models import Deal, Lead, LeadHistory, LeadSettings
from tests.concurrency import run_together

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions are tested on PostgreSQL")


def _pool_lead(workspace: Workspace, phone: str) -> Lead:
    return leads.lead_capture(workspace=workspace, source="manual", data=LeadData(phone=phone))


def test_two_reps_claiming_one_lead_one_wins(
    workspace: Workspace, make_member: Callable[..., Membership]
) -> None:
    # given
    first = Actor.for_membership(make_member("first@acme.test"))
    second = Actor.for_membership(make_member("second@acme.test"))
    lead = _pool_lead(workspace, "13911112222")
    # when
    errors = run_together(
        lambda: leads.lead_claim(actor=first, lead=lead),
        lambda: leads.lead_claim(actor=second, lead=lead),
    )
    # then
    assert [type(error) for error in errors] == [ConflictError]
    lead.refresh_from_db()
    assert lead.owner_id in (first.membership.pk, second.membership.pk)  # type: ignore[union-attr]
    assert LeadHistory.objects.filter(lead=lead, kind="claimed").count() == 1


def test_one_rep_claiming_two_leads_at_the_limit_gets_one(
    workspace: Workspace, member_actor: Actor
) -> None:
    # given
    LeadSettings.objects.create(workspace=workspace, claim_limit=1)
    one = _pool_lead(workspace, "13911110001")
    two = _pool_lead(workspace, "13911110002")
    # when
    errors = run_together(
        lambda: leads.lead_claim(actor=member_actor, lead=one),
        lambda: leads.lead_claim(actor=member_actor, lead=two),
    )
    # then
    assert [type(error) for error in errors] == [ConflictError]
    assert Lead.objects.filter(owner=member_actor.membership).count() == 1


def test_two_captures_of_one_new_person_make_one_customer_and_one_lead(
    workspace: Workspace,
) -> None:
    errors = run_together(
        lambda: _pool_lead(workspace, "13911112222"),
        lambda: _pool_lead(workspace, "+86 139 1111 2222"),
    )
    assert errors == []
    assert Customer.objects.filter(workspace=workspace).count() == 1
    assert Lead.objects.filter(workspace=workspace).count() == 1


def test_two_conversions_of_one_lead_open_one_deal(
    workspace: Workspace, owner_actor: Actor
) -> None:
    # given
    lead = _pool_lead(workspace, "13911112222")
    leads.lead_claim(actor=owner_actor, lead=lead)
    pipeline = pipeline_default(workspace)
    # when
    errors = run_together(
        lambda: leads.lead_convert(actor=owner_actor, lead=lead, pipeline=pipeline),
        lambda: leads.lead_convert(actor=owner_actor, lead=lead, pipeline=pipeline),
    )
    # then
    assert [type(error) for error in errors] == [ConflictError]
    assert Deal.objects.filter(workspace=workspace).count() == 1
