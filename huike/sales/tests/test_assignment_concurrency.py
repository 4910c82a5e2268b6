"""Assignment under real concurrent transactions (PostgreSQL; SQLite serializes writers, so
these races cannot happen there): two assigners racing for one lead, for round-robin turns,
for the last free place of a rep (through one rule and through two), and two pending runs."""

import pytest
from django.db import connection

from huike.accounts.models import Membership
from huike.sales.assignment import RuleConditions, leads_assign_pending
from huike.sales.models import Lead, LeadHistory, Notification
from huike.sales.tests import test_assignment_support as support
from huike.sales.tests.test_assignment_support import MakeLead, MakeRule, assign
from tests.concurrency import run_collecting

pytestmark = pytest.mark.django_db(transaction=True)
make_lead = support.make_lead
make_rule = support.make_rule
team = support.team
ann = support.ann
bob = support.bob


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions are tested on PostgreSQL")


def _owners(leads: list[Lead]) -> list[int | None]:
    return [Lead.objects.get(pk=lead.pk).owner_id for lead in leads]


def test_two_assigners_racing_for_one_lead_assign_it_once(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership, bob: Membership
) -> None:
    # given
    make_rule("Round", "round_robin", members=[ann, bob])
    lead = make_lead()

    # when
    results, errors = run_collecting(lambda: assign(lead), lambda: assign(lead))

    # then
    assert errors == []
    assert sorted(results, key=lambda result: result is None) in ([ann, None], [bob, None])
    assert LeadHistory.objects.filter(lead=lead).count() == 1
    assert Notification.objects.filter(kind="lead.assigned").count() == 1


def test_two_assigners_never_hand_out_the_same_round_robin_turn(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership, bob: Membership
) -> None:
    # given
    make_rule("Round", "round_robin", members=[ann, bob])
    leads = [make_lead(f"Lead {number}") for number in range(2)]

    # when
    results, errors = run_collecting(*[lambda lead=lead: assign(lead) for lead in leads])

    # then
    assert errors == []
    assert sorted(_owners(leads), key=lambda owner: owner or 0) == [ann.pk, bob.pk]
    assert {result.pk for result in results} == {ann.pk, bob.pk}


def test_two_assigners_never_fill_a_rep_beyond_capacity(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership
) -> None:
    # given: room for one more lead
    make_rule("Ann", "least_load", members=[ann], capacity=1)
    leads = [make_lead(f"Lead {number}") for number in range(2)]

    # when
    results, errors = run_collecting(*[lambda lead=lead: assign(lead) for lead in leads])

    # then
    assert errors == []
    assert sorted(results, key=lambda result: result is None) == [ann, None]
    assert Lead.objects.filter(owner=ann).count() == 1


def test_two_rules_sharing_a_rep_never_fill_them_beyond_capacity(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership
) -> None:
    # given: Ann is in both rules, with room for one lead
    make_rule("Web", "least_load", RuleConditions(sources=("web_form",)), members=[ann], capacity=1)
    make_rule("API", "least_load", RuleConditions(sources=("api",)), members=[ann], capacity=1)
    leads = [make_lead("Web lead", source="web_form"), make_lead("API lead", source="api")]

    # when
    _results, errors = run_collecting(*[lambda lead=lead: assign(lead) for lead in leads])

    # then
    assert errors == []
    assert Lead.objects.filter(owner=ann).count() == 1


def test_two_pending_runs_assign_each_lead_once(
    make_lead: MakeLead, make_rule: MakeRule, ann: Membership, bob: Membership
) -> None:
    # given
    make_rule("Round", "round_robin", members=[ann, bob])
    leads = [make_lead(f"Lead {number}", score=number) for number in range(20)]

    # when
    results, errors = run_collecting(
        lambda: leads_assign_pending(workspace_id=ann.workspace_id),
        lambda: leads_assign_pending(workspace_id=ann.workspace_id),
    )

    # then
    assert errors == []
    assert sum(results) == 20
    assert LeadHistory.objects.filter(kind=LeadHistory.Kind.ASSIGNED).count() == 20
    owners = _owners(leads)
    assert (owners.count(ann.pk), owners.count(bob.pk)) == (10, 10)
