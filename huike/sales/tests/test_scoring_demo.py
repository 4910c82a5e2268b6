"""The demo seeder of scoring: sample rules, the demo leads rescored, idempotent."""

import datetime as dt
from collections.abc import Callable

import pytest
from django.utils import timezone

from huike.accounts.models import Membership, Workspace
from huike.customers.models import Customer, Event
from huike.sales.demo_scoring import ADMIN_EMAIL, DEMO_RULES, scoring_demo_seed
from huike.sales.models import Lead, ScoreChange, ScoringRule


@pytest.mark.django_db
def test_demo_rules_score_the_demo_leads(
    workspace: Workspace, make_member: Callable[..., Membership]
) -> None:
    # given: the demo admin, and a lead whose customer viewed two pages today
    make_member(ADMIN_EMAIL, "admin")
    customer = Customer.objects.create(workspace=workspace, name="Demo")
    for _visit in range(2):
        Event.objects.create(
            workspace=workspace,
            customer=customer,
            kind="page.viewed",
            occurred_at=timezone.now() - dt.timedelta(minutes=5),
        )
    lead = Lead.objects.create(
        workspace=workspace, customer=customer, source="web_form", industry="SaaS"
    )
    # when
    scoring_demo_seed(workspace.pk)
    scoring_demo_seed(workspace.pk)
    # then: 15 for SaaS, 3 for each page view; the second run added nothing
    rules = ScoringRule.objects.filter(workspace=workspace)
    assert rules.count() == len(DEMO_RULES)
    assert set(rules.filter(kind="event").values_list("event_kind", flat=True)) == {
        "page.viewed",
        "email.clicked",
        "message.received",
        "form.submitted",
    }
    lead.refresh_from_db()
    assert lead.score == 21
    assert sorted(ScoreChange.objects.filter(lead=lead).values_list("reason", flat=True)) == [
        "Industry is SaaS: +15",
        "page.viewed: +3",
        "page.viewed: +3",
    ]
