"""The lead-scoring API: rules (CRUD, validation, who may change them), a lead's score history
(record rules) and the predictive model's status and training."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from huike.accounts.models import Membership, Workspace
from huike.accounts.tests.api_support import JSON
from huike.customers.models import Customer, Event
from huike.sales.models import Lead, PredictiveModel, ScoreChange, ScoringRule
from huike.sales.predictive import predictive_train
from huike.sales.scoring import lead_rescore
from huike.sales.tests.test_scoring_predictive import known_signal_history

pytestmark = pytest.mark.django_db

RULES = "/api/v1/lead-scoring-rules"


def make_lead(workspace: Workspace, owner: Membership | None = None, **fields: Any) -> Lead:
    customer = Customer.objects.create(workspace=workspace, name="Wang Fang")
    return Lead.objects.create(
        workspace=workspace, customer=customer, source="manual", owner=owner, **fields
    )


def make_rule(workspace: Workspace, **fields: Any) -> ScoringRule:
    values: dict[str, Any] = {
        "name": "SaaS",
        "kind": "attribute",
        "field": "industry",
        "operator": "eq",
        "value": "SaaS",
        "points": 10,
        **fields,
    }
    return ScoringRule.objects.create(workspace=workspace, **values)


def test_admin_creates_reads_changes_and_deletes_a_rule(
    owner_client: Client,
    workspace: Workspace,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    # given
    lead = make_lead(workspace, industry="SaaS")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        created = owner_client.post(
            RULES,
            {
                "name": "SaaS industry",
                "kind": "attribute",
                "field": "industry",
                "operator": "eq",
                "value": "SaaS",
                "points": 10,
            },
            JSON,
        )
    # then: created, and the open lead rescored in the background
    assert created.status_code == 201, created.content
    rule = ScoringRule.objects.get(workspace=workspace)
    body = created.json()
    assert body == {
        "id": str(rule.public_id),
        "name": "SaaS industry",
        "kind": "attribute",
        "field": "industry",
        "operator": "eq",
        "value": "SaaS",
        "event_kind": "",
        "points": 10,
        "half_life_days": 0,
        "max_occurrences": 0,
        "is_active": True,
        "position": 1,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }
    lead.refresh_from_db()
    assert lead.score == 10
    # when: read, changed (only what is sent), listed
    detail = owner_client.get(f"{RULES}/{rule.public_id}")
    with django_capture_on_commit_callbacks(execute=True):
        changed = owner_client.patch(f"{RULES}/{rule.public_id}", {"points": 15}, JSON)
    listed = owner_client.get(RULES)
    # then
    assert detail.json()["points"] == 10
    assert changed.status_code == 200, changed.content
    assert (changed.json()["points"], changed.json()["value"]) == (15, "SaaS")
    assert [item["id"] for item in listed.json()["items"]] == [str(rule.public_id)]
    lead.refresh_from_db()
    assert lead.score == 15
    # when: deleted
    with django_capture_on_commit_callbacks(execute=True):
        deleted = owner_client.delete(f"{RULES}/{rule.public_id}")
    # then: the points leave the lead's score
    assert deleted.status_code == 204
    assert not ScoringRule.objects.exists()
    lead.refresh_from_db()
    assert lead.score == 0
    assert ScoreChange.objects.filter(lead=lead).order_by("id").last().reason == (
        "scoring rules changed: \u221215"
    )


def test_event_rule_with_decay_and_limit(owner_client: Client, workspace: Workspace) -> None:
    # when
    response = owner_client.post(
        RULES,
        {
            "name": "Clicks",
            "kind": "event",
            "event_kind": "email.clicked",
            "points": 5,
            "half_life_days": 30,
            "max_occurrences": 3,
        },
        JSON,
    )
    # then
    assert response.status_code == 201, response.content
    rule = ScoringRule.objects.get()
    assert (rule.event_kind, rule.half_life_days, rule.max_occurrences, rule.field) == (
        "email.clicked",
        30,
        3,
        "",
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "attribute", "operator": "eq", "value": "x", "points": 5}, "field"),
        ({"kind": "attribute", "field": "industry", "value": "x", "points": 5}, "operator"),
        ({"kind": "attribute", "field": "industry", "operator": "eq", "points": 5}, "value"),
        (
            {"kind": "attribute", "field": "salary", "operator": "eq", "value": 1, "points": 5},
            "field",
        ),
        (
            {
                "kind": "attribute",
                "field": "company_size",
                "operator": "gte",
                "value": "big",
                "points": 5,
            },
            "value",
        ),
        ({"kind": "attribute", "field": "region", "operator": "present", "points": 0}, "points"),
        ({"kind": "event", "points": 5}, "event_kind"),
        ({"kind": "event", "event_kind": "Page Viewed", "points": 5}, "event_kind"),
    ],
)
def test_invalid_rules_are_refused(
    owner_client: Client, payload: dict[str, Any], field: str
) -> None:
    # when
    response = owner_client.post(RULES, {"name": "Rule", **payload}, JSON)
    # then
    assert response.status_code == 422, response.content
    assert response.json()["errors"][0]["field"] == field
    assert not ScoringRule.objects.exists()


def test_present_needs_no_value(owner_client: Client) -> None:
    response = owner_client.post(
        RULES,
        {
            "name": "Has region",
            "kind": "attribute",
            "field": "region",
            "operator": "present",
            "value": "ignored",
            "points": 3,
        },
        JSON,
    )
    assert response.status_code == 201, response.content
    assert ScoringRule.objects.get().value is None


def test_role_without_configure_cannot_change_rules(
    member_client: Client, workspace: Workspace
) -> None:
    # given: a sales rep (leads.view, no leads.configure)
    rule = make_rule(workspace)
    # when
    created = member_client.post(
        RULES, {"name": "Mine", "kind": "event", "event_kind": "page.viewed", "points": 50}, JSON
    )
    changed = member_client.patch(f"{RULES}/{rule.public_id}", {"points": 99}, JSON)
    deleted = member_client.delete(f"{RULES}/{rule.public_id}")
    trained = member_client.post("/api/v1/lead-scoring/model/train")
    listed = member_client.get(RULES)
    # then
    assert (created.status_code, changed.status_code, deleted.status_code) == (403, 403, 403)
    assert trained.status_code == 403
    assert listed.status_code == 200
    assert list(ScoringRule.objects.values_list("name", "points")) == [("SaaS", 10)]


def test_other_workspace_sees_no_rules(outsider_client: Client, workspace: Workspace) -> None:
    # given
    rule = make_rule(workspace)
    # when
    detail = outsider_client.get(f"{RULES}/{rule.public_id}")
    changed = outsider_client.patch(f"{RULES}/{rule.public_id}", {"points": 99}, JSON)
    deleted = outsider_client.delete(f"{RULES}/{rule.public_id}")
    listed = outsider_client.get(RULES)
    # then
    assert (detail.status_code, changed.status_code, deleted.status_code) == (404, 404, 404)
    assert listed.json()["items"] == []
    assert ScoringRule.objects.get().points == 10


# --- score history ------------------------------------------------------------------------------
def test_score_history_with_reasons(
    owner_client: Client, workspace: Workspace, member: Membership
) -> None:
    # given
    rule = make_rule(
        workspace,
        kind="event",
        field="",
        operator="",
        value=None,
        event_kind="page.viewed",
        points=4,
    )
    lead = make_lead(workspace, owner=member)
    event = Event.objects.create(workspace=workspace, customer=lead.customer, kind="page.viewed")
    lead_rescore(lead=lead)
    # when
    response = owner_client.get(f"/api/v1/leads/{lead.public_id}/score-history")
    # then
    assert response.status_code == 200, response.content
    items = response.json()["items"]
    assert [(item["points"], item["score_after"], item["reason"]) for item in items] == [
        (4, 4, "page.viewed: +4")
    ]
    assert (items[0]["rule_id"], items[0]["event_id"]) == (
        str(rule.public_id),
        str(event.public_id),
    )


def test_rep_reads_only_own_leads_history(
    member_client: Client,
    workspace: Workspace,
    member: Membership,
    make_member: Callable[..., Membership],
    outsider_client: Client,
) -> None:
    # given
    other_rep = make_member("rep2@acme.test", "sales")
    mine = make_lead(workspace, owner=member)
    theirs = make_lead(workspace, owner=other_rep)
    # when
    own = member_client.get(f"/api/v1/leads/{mine.public_id}/score-history")
    other = member_client.get(f"/api/v1/leads/{theirs.public_id}/score-history")
    outside = outsider_client.get(f"/api/v1/leads/{mine.public_id}/score-history")
    # then
    assert (own.status_code, other.status_code, outside.status_code) == (200, 404, 404)


# --- the predictive model -----------------------------------------------------------------------
def test_model_status_and_training(
    owner_client: Client,
    outsider_client: Client,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    # when
    status = owner_client.get("/api/v1/lead-scoring/model")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        trained = owner_client.post("/api/v1/lead-scoring/model/train")
    # then: no history, so off with how much is missing
    assert status.status_code == 200
    assert status.json() == {
        "state": "needs_data",
        "message": "Off: the model needs 40 more closed leads (at least 40, with 10 won and "
        "10 lost or unqualified).",
        "enabled": True,
        "closed_leads": 0,
        "won": 0,
        "not_won": 0,
        "needed": 40,
        "trained_at": None,
        "samples": None,
        "accuracy": None,
        "roc_auc": None,
        "baseline_accuracy": None,
        "factors": [],
    }
    assert trained.status_code == 202
    assert len(callbacks) == 1
    assert outsider_client.get("/api/v1/lead-scoring/model").json()["needed"] == 40


def test_trained_model_status(owner_client: Client, workspace: Workspace) -> None:
    # given: history with a known signal, trained
    known_signal_history(workspace)
    predictive_train(workspace_id=workspace.pk)
    model = PredictiveModel.objects.get(workspace=workspace, is_active=True)
    # when
    body = owner_client.get("/api/v1/lead-scoring/model").json()
    # then
    assert body["state"] == "trained"
    assert (body["closed_leads"], body["won"], body["not_won"], body["needed"]) == (120, 63, 57, 0)
    assert (body["samples"], body["accuracy"], body["roc_auc"]) == (
        120,
        model.accuracy,
        model.roc_auc,
    )
    assert body["baseline_accuracy"] == model.parameters["baseline_accuracy"]
    assert body["factors"][0]["label"] == "Industry: SaaS"
    assert body["factors"][0]["coefficient"] > 0


def test_custom_field_rule_compares_numbers(
    owner_client: Client,
    workspace: Workspace,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    # given
    lead = make_lead(workspace, custom_fields={"budget": "25000"})
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            RULES,
            {
                "name": "Budget",
                "kind": "attribute",
                "field": "custom.budget",
                "operator": "gte",
                "value": "10000",
                "points": 5,
            },
            JSON,
        )
    # then
    assert response.status_code == 201, response.content
    assert response.json()["value"] == 10000
    lead.refresh_from_db()
    assert lead.score == 5
    assert ScoreChange.objects.get(lead=lead).reason == "budget at least 10000: +5"
