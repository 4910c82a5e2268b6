"""The predictive lead score on synthetic history with a known signal: SaaS leads win 85% of
the time, the others 20%."""

import datetime as dt
import json
from collections import Counter

import pytest
from django.utils import timezone

from huike.accounts.models import Workspace
from huike.core.outbox import outbox_dispatch
from huike.customers.events import event_record
from huike.customers.models import Customer, Event
from huike.sales.models import (
    Deal,
    Lead,
    LeadSettings,
    LeadStatus,
    Pipeline,
    PredictiveModel,
    Stage,
    StageKind,
)
from huike.sales.predictive import (
    MIN_CLOSED_LEADS,
    _event_counts,
    model_factor_bars,
    predictive_status,
    predictive_train,
    training_cutoff,
)
from huike.sales.scoring import lead_rescore
from huike.sales.tasks_scoring import train_predictive_model

pytestmark = pytest.mark.django_db

OTHER_INDUSTRIES = ("Retail", "Education", "Logistics")


def _stages(workspace: Workspace) -> dict[str, Stage]:
    pipeline, _created = Pipeline.objects.get_or_create(workspace=workspace, name="Sales")
    return {
        kind: Stage.objects.get_or_create(
            workspace=workspace,
            pipeline=pipeline,
            kind=kind,
            defaults={"name": kind, "probability": 0},
        )[0]
        for kind in (StageKind.WON, StageKind.LOST)
    }


def closed_lead(workspace: Workspace, number: int, *, industry: str, won: bool) -> Lead:
    stages = _stages(workspace)
    customer = Customer.objects.create(workspace=workspace, name=f"Closed {number}")
    captured = timezone.now() - dt.timedelta(days=60)
    lead = Lead.objects.create(
        workspace=workspace,
        customer=customer,
        source="web_form" if number % 2 else "manual",
        industry=industry,
        region=("Shanghai", "Beijing", "Shenzhen")[number % 3],
        status=LeadStatus.CONVERTED,
        created_at=captured,
        converted_at=captured + dt.timedelta(days=5),
        first_contacted_at=captured + dt.timedelta(hours=number % 48),
    )
    stage = stages[StageKind.WON if won else StageKind.LOST]
    deal = Deal.objects.create(
        workspace=workspace,
        name=f"Deal {number}",
        pipeline=stage.pipeline,
        stage=stage,
        status=stage.kind,
        lead=lead,
        customer=customer,
    )
    Lead.objects.filter(pk=lead.pk).update(deal=deal)
    # Page views that say nothing about the outcome.
    for visit in range(number % 4):
        Event.objects.create(
            workspace=workspace,
            customer=customer,
            kind="page.viewed",
            occurred_at=captured + dt.timedelta(days=1, hours=visit),
        )
    return lead


def known_signal_history(workspace: Workspace, saas: int = 60, others: int = 60) -> None:
    for number in range(saas):
        closed_lead(workspace, number, industry="SaaS", won=number % 20 < 17)  # 85% won
    for number in range(others):
        closed_lead(
            workspace,
            1000 + number,
            industry=OTHER_INDUSTRIES[number % 3],
            won=number % 5 == 0,  # 20% won
        )


def open_lead(workspace: Workspace, industry: str) -> Lead:
    customer = Customer.objects.create(workspace=workspace, name=f"Open {industry}")
    return Lead.objects.create(
        workspace=workspace, customer=customer, source="manual", industry=industry
    )


def test_model_learns_the_known_signal(workspace: Workspace) -> None:
    # given
    known_signal_history(workspace)
    saas = open_lead(workspace, "SaaS")
    retail = open_lead(workspace, "Retail")
    # when
    status = predictive_train(workspace_id=workspace.pk)
    # then: measured on the held-out quarter (30 of 120), well above always guessing
    model = PredictiveModel.objects.get(workspace=workspace, is_active=True)
    assert status.state == "trained"
    assert (model.samples, model.won_samples) == (120, 63)
    assert model.parameters["test_samples"] == 30
    baseline = model.parameters["baseline_accuracy"]
    assert baseline == pytest.approx(16 / 30)
    assert model.accuracy >= baseline + 0.2
    assert model.roc_auc is not None
    assert model.roc_auc >= 0.7
    # the strongest factor is the industry SaaS
    bars = model_factor_bars(model)
    assert bars[0].label == "Industry: SaaS"
    assert bars[0].coefficient > 0
    assert bars[0].width == 100.0
    # stored as plain numbers, no pickle
    assert json.loads(json.dumps(model.parameters)) == model.parameters
    assert len(model.parameters["coefficients"]) == len(model.features)
    # open leads are scored and explained
    saas.refresh_from_db()
    retail.refresh_from_db()
    assert saas.predicted_score is not None
    assert retail.predicted_score is not None
    assert saas.predicted_score > 0.6 > 0.4 > retail.predicted_score
    assert saas.predicted_factors[0]["feature"] == "industry=SaaS"
    assert saas.predicted_factors[0]["contribution"] > 0
    assert len(saas.predicted_factors) <= 3
    # closed leads are not rescored
    assert (
        Lead.objects.filter(status=LeadStatus.CONVERTED, predicted_score__isnull=False).count() == 0
    )


def test_rescore_refreshes_the_predicted_score(workspace: Workspace) -> None:
    # given
    known_signal_history(workspace)
    predictive_train(workspace_id=workspace.pk)
    lead = open_lead(workspace, "Education")
    assert lead.predicted_score is None
    # when
    lead_rescore(lead=lead)
    # then
    lead.refresh_from_db()
    assert lead.predicted_score is not None
    assert lead.predicted_score < 0.4


def test_model_is_off_below_the_minimum(workspace: Workspace) -> None:
    # given: one closed lead short of the minimum
    for number in range(MIN_CLOSED_LEADS - 1):
        closed_lead(workspace, number, industry="SaaS", won=number % 2 == 0)
    lead = open_lead(workspace, "SaaS")
    # when
    status = predictive_train(workspace_id=workspace.pk)
    # then
    assert status.state == "needs_data"
    assert (status.won, status.not_won, status.needed) == (20, 19, 1)
    assert status.message.startswith("Off: the model needs 1 more closed lead ")
    assert not PredictiveModel.objects.filter(workspace=workspace).exists()
    lead.refresh_from_db()
    assert lead.predicted_score is None


def test_each_outcome_needs_enough_leads(workspace: Workspace) -> None:
    # given: 45 closed leads, only 5 won; unqualified leads count as not won
    for number in range(40):
        closed_lead(workspace, number, industry="SaaS", won=number < 5)
    for number in range(5):
        customer = Customer.objects.create(workspace=workspace, name=f"U{number}")
        Lead.objects.create(
            workspace=workspace, customer=customer, source="manual", status=LeadStatus.UNQUALIFIED
        )
    # when
    status = predictive_status(workspace.pk)
    # then
    assert (status.state, status.won, status.not_won, status.needed) == ("needs_data", 5, 40, 5)


def test_turned_off_clears_the_model(workspace: Workspace) -> None:
    # given
    known_signal_history(workspace)
    lead = open_lead(workspace, "SaaS")
    train_predictive_model.call(workspace.pk)
    LeadSettings.objects.filter(workspace=workspace).update(predictive_enabled=False)
    # when
    result = train_predictive_model.call(workspace.pk)
    # then
    assert result == {"state": "off", "closed": 120}
    lead.refresh_from_db()
    assert (lead.predicted_score, lead.predicted_factors) == (None, [])
    assert not PredictiveModel.objects.filter(workspace=workspace, is_active=True).exists()


def test_only_events_before_the_outcome_are_features(workspace: Workspace) -> None:
    # given: a won lead converted 55 days ago (page views a day after capture: before it)
    lead = closed_lead(workspace, 3, industry="SaaS", won=True)
    Event.objects.create(
        workspace=workspace, customer=lead.customer, kind="page.viewed", occurred_at=timezone.now()
    )
    # when
    counts = _event_counts(
        workspace.pk, [lead.pk], ["page.viewed", "email.clicked"], training_cutoff()
    )
    # then: the three views before conversion, not the one after
    assert counts[lead.pk] == Counter({"page.viewed": 3})


def test_event_stream_refreshes_the_predicted_score(workspace: Workspace) -> None:
    # given: a model with page views as a feature, no scoring rules, a lead not scored yet
    known_signal_history(workspace)
    predictive_train(workspace_id=workspace.pk)
    lead = open_lead(workspace, "SaaS")
    assert "events:page.viewed" in PredictiveModel.objects.get(is_active=True).features
    outbox_dispatch()
    # when
    event_record(customer=lead.customer, kind="page.viewed")
    outbox_dispatch()
    # then
    lead.refresh_from_db()
    assert lead.predicted_score is not None
    assert lead.predicted_score > 0.5
