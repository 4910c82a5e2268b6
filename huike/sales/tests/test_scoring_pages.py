"""The lead-scoring settings page (rules, thresholds, the model) and the lead's score panel."""

from collections.abc import Callable
from typing import Any

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from huike.accounts.models import Workspace
from huike.customers.models import Customer, Event
from huike.sales.models import Lead, LeadSettings, PredictiveModel, ScoreBand, ScoringRule
from huike.sales.scoring import lead_rescore, lead_score_context
from huike.sales.tests.test_scoring_predictive import closed_lead

pytestmark = pytest.mark.django_db

PAGE = reverse("sales:settings_scoring")
RULE_POST = {
    "name": "Enterprise",
    "kind": "attribute",
    "points": "20",
    "field": "company_size",
    "operator": "gte",
    "value": "250-999",
    "event_kind": "",
    "half_life_days": "0",
    "max_occurrences": "0",
    "is_active": "on",
}


def make_rule(workspace: Workspace, **fields: Any) -> ScoringRule:
    values: dict[str, Any] = {
        "name": "Page views",
        "kind": "event",
        "event_kind": "page.viewed",
        "points": 3,
        "half_life_days": 14,
        "max_occurrences": 10,
        **fields,
    }
    return ScoringRule.objects.create(workspace=workspace, **values)


def trained_model(workspace: Workspace) -> PredictiveModel:
    return PredictiveModel.objects.create(
        workspace=workspace,
        samples=120,
        won_samples=63,
        accuracy=0.8333,
        roc_auc=0.8125,
        features=["industry=SaaS", "events:page.viewed", "first_contact_days"],
        parameters={
            "coefficients": [1.25, -0.5, 0.1],
            "baseline_accuracy": 0.5333,
            "test_samples": 30,
        },
    )


def test_admin_sees_rules_thresholds_and_model(owner_client: Client, workspace: Workspace) -> None:
    # given
    make_rule(workspace)
    # when
    response = owner_client.get(PAGE)
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert "Page views" in html
    assert "half-life 14 days" in html
    assert "at most 10 times" in html
    assert 'name="mql_threshold" value="50"' in html
    assert "Off: the model needs 40 more closed leads" in html
    assert LeadSettings.objects.filter(workspace=workspace).count() == 1


def test_trained_model_shows_accuracy_and_factors(
    owner_client: Client, workspace: Workspace
) -> None:
    # given: enough history (20 won, 20 lost) and a stored model
    for number in range(40):
        closed_lead(workspace, number, industry="SaaS", won=number < 20)
    trained_model(workspace)
    # when
    response = owner_client.get(PAGE)
    # then
    html = response.content.decode()
    assert "Trained on 120 closed leads." in html
    assert "History: 20 won, 20 lost or unqualified." in html
    assert '<div class="figure">83%</div>' in html
    assert '<div class="figure">0.81</div>' in html
    assert '<div class="figure">53%</div>' in html
    assert "closed leads (63 won; 30 held out)" in html
    # the chart: strongest first, the longest bar 160 wide
    assert html.index("Industry: SaaS") < html.index("Viewed a page (count)")
    assert 'width="160"' in html
    assert ">+1.25<" in html
    assert ">-0.5<" in html
    assert "Train now" in html


def test_admin_creates_edits_toggles_and_deletes_a_rule(
    owner_client: Client,
    workspace: Workspace,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    # given
    customer = Customer.objects.create(workspace=workspace, name="Big Co")
    lead = Lead.objects.create(
        workspace=workspace, customer=customer, source="manual", company_size="1000+"
    )
    # when: created
    with django_capture_on_commit_callbacks(execute=True):
        created = owner_client.post(PAGE, RULE_POST)
    # then
    assert created.status_code == 302
    rule = ScoringRule.objects.get(workspace=workspace)
    assert (rule.field, rule.operator, rule.value, rule.points) == (
        "company_size",
        "gte",
        "250-999",
        20,
    )
    lead.refresh_from_db()
    assert lead.score == 20
    # when: edited to a custom field
    url = reverse("sales:settings_scoring_rule", args=[rule.public_id])
    assert owner_client.get(url).status_code == 200
    edited = owner_client.post(
        url,
        {
            **RULE_POST,
            "field": "custom",
            "custom_key": "budget",
            "operator": "in",
            "value": "high, very high",
        },
    )
    assert edited.status_code == 302
    rule.refresh_from_db()
    assert (rule.field, rule.operator, rule.value) == ("custom.budget", "in", ["high", "very high"])
    # when: turned off and deleted
    owner_client.post(
        reverse("sales:settings_scoring_rule_activate", args=[rule.public_id]), {"is_active": "0"}
    )
    rule.refresh_from_db()
    assert rule.is_active is False
    owner_client.post(reverse("sales:settings_scoring_rule_delete", args=[rule.public_id]))
    assert not ScoringRule.objects.exists()


def test_invalid_rule_shows_the_error(owner_client: Client) -> None:
    response = owner_client.post(PAGE, {**RULE_POST, "operator": ""})
    assert response.status_code == 400
    assert "Choose an operator." in response.content.decode()
    assert not ScoringRule.objects.exists()


def test_thresholds_are_saved_and_checked(owner_client: Client, workspace: Workspace) -> None:
    url = reverse("sales:settings_scoring_thresholds")
    # when
    saved = owner_client.post(url, {"mql_threshold": "30", "sql_threshold": "80"})
    refused = owner_client.post(url, {"mql_threshold": "90", "sql_threshold": "80"})
    # then: predictive_enabled unticked turns the model off
    assert (saved.status_code, refused.status_code) == (302, 400)
    assert "The SQL threshold must be above the MQL threshold." in refused.content.decode()
    settings = LeadSettings.objects.get(workspace=workspace)
    assert (settings.mql_threshold, settings.sql_threshold, settings.predictive_enabled) == (
        30,
        80,
        False,
    )


def test_train_now_queues_the_training(
    owner_client: Client, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner_client.post(reverse("sales:settings_scoring_train"))
    assert response.status_code == 302
    assert len(callbacks) == 1


def test_role_without_configure_is_refused(member_client: Client, workspace: Workspace) -> None:
    # given
    rule = make_rule(workspace)
    # when
    page = member_client.get(PAGE)
    created = member_client.post(PAGE, RULE_POST)
    edited = member_client.post(
        reverse("sales:settings_scoring_rule", args=[rule.public_id]), RULE_POST
    )
    deleted = member_client.post(
        reverse("sales:settings_scoring_rule_delete", args=[rule.public_id])
    )
    thresholds = member_client.post(
        reverse("sales:settings_scoring_thresholds"), {"mql_threshold": "1", "sql_threshold": "2"}
    )
    # then
    assert [r.status_code for r in (page, created, edited, deleted, thresholds)] == [403] * 5
    assert list(ScoringRule.objects.values_list("name", "points")) == [("Page views", 3)]
    assert not LeadSettings.objects.filter(mql_threshold=1).exists()


def test_other_workspace_cannot_reach_the_rules(
    outsider_client: Client, workspace: Workspace
) -> None:
    # given
    rule = make_rule(workspace)
    # when
    edit = outsider_client.get(reverse("sales:settings_scoring_rule", args=[rule.public_id]))
    deleted = outsider_client.post(
        reverse("sales:settings_scoring_rule_delete", args=[rule.public_id])
    )
    page = outsider_client.get(PAGE)
    # then
    assert (edit.status_code, deleted.status_code) == (404, 404)
    assert "Page views" not in page.content.decode()
    assert ScoringRule.objects.filter(pk=rule.pk).exists()


# --- the lead's panel ---------------------------------------------------------------------------
def test_lead_panel_shows_score_band_history_and_why_the_model_is_off(
    workspace: Workspace,
) -> None:
    # given
    LeadSettings.objects.create(workspace=workspace, mql_threshold=5, sql_threshold=50)
    make_rule(workspace, points=6, half_life_days=0)
    customer = Customer.objects.create(workspace=workspace, name="Zhao Lei")
    lead = Lead.objects.create(workspace=workspace, customer=customer, source="manual")
    Event.objects.create(
        workspace=workspace, customer=customer, kind="page.viewed", occurred_at=timezone.now()
    )
    lead_rescore(lead=lead)
    lead.refresh_from_db()
    # when
    html = render_to_string("sales/scoring/_lead_score.html", lead_score_context(lead))
    # then
    assert lead.score_band == ScoreBand.MQL
    assert '<span class="figure">6</span>' in html
    assert "Marketing qualified (MQL)" in html
    assert "page.viewed: +6" in html
    assert "MQL at 5, SQL at 50." in html
    assert "Off</span> Off: the model needs 40 more closed leads" in html


def test_lead_panel_shows_the_predicted_chance_and_factors(workspace: Workspace) -> None:
    # given
    customer = Customer.objects.create(workspace=workspace, name="Zhao Lei")
    lead = Lead.objects.create(
        workspace=workspace,
        customer=customer,
        source="manual",
        predicted_score=0.7312,
        predicted_factors=[
            {
                "feature": "industry=SaaS",
                "kind": "attribute",
                "field": "industry",
                "value": "SaaS",
                "contribution": 0.9,
            },
            {
                "feature": "events:page.viewed",
                "kind": "events",
                "event_kind": "page.viewed",
                "value": 3,
                "contribution": -0.2,
            },
        ],
    )
    # when: as the leads page renders it (lead and score changes only) and with the selector
    plain = render_to_string("sales/scoring/_lead_score.html", {"lead": lead, "score_changes": []})
    full = render_to_string("sales/scoring/_lead_score.html", lead_score_context(lead))
    # then
    assert "73%" in plain
    assert "industry=SaaS" in plain
    assert "Industry: SaaS" in full
    assert "Viewed a page (3 times)" in full
    assert "No points yet." in full
