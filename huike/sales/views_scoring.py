"""The lead-scoring settings page (leads.configure): rules, MQL/SQL thresholds and the
predictive model's status with "Train now"."""

import uuid
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from huike.accounts.access import Actor
from huike.accounts.settings_views.common import settings_page
from huike.core.errors import InvalidInputError
from huike.core.tasks import enqueue_on_commit
from huike.customers.events import EVENT_KIND_LABELS
from huike.sales import scoring
from huike.sales.access import access_scoring_rule
from huike.sales.forms_scoring import ScoringRuleForm, ScoringThresholdsForm, add_service_error
from huike.sales.models import ScoringRule
from huike.sales.predictive import FACTOR_BAR_HEIGHT, model_factor_bars, predictive_status

TEMPLATES = "sales/scoring/"


def _page(
    request: HttpRequest,
    actor: Actor,
    *,
    rule_form: ScoringRuleForm | None = None,
    thresholds_form: ScoringThresholdsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    workspace_id = actor.workspace.pk
    settings = scoring.lead_settings_for(workspace_id)
    predictive = predictive_status(workspace_id)
    bars = model_factor_bars(predictive.model) if predictive.model is not None else []
    rules = ScoringRule.objects.filter(workspace=actor.workspace).order_by("position", "id")
    context: dict[str, Any] = {
        "rows": [{"rule": rule, "condition": scoring.rule_condition(rule)} for rule in rules],
        "rule_form": rule_form or ScoringRuleForm(),
        "thresholds_form": thresholds_form or ScoringThresholdsForm(instance=settings),
        "predictive": predictive,
        "bars": bars,
        "chart_height": max(len(bars), 1) * FACTOR_BAR_HEIGHT,
        "event_kinds": sorted(EVENT_KIND_LABELS),
    }
    return render(request, f"{TEMPLATES}settings.html", context, status=status)


@settings_page
@require_http_methods(["GET", "POST"])
def settings_scoring(request: HttpRequest, actor: Actor) -> HttpResponse:
    """The page; a POST creates a rule."""
    actor.require("leads.configure")
    if request.method != "POST":
        return _page(request, actor)
    form = ScoringRuleForm(request.POST)
    if form.is_valid():
        try:
            scoring.scoring_rule_create(actor=actor, data=form.rule_data())
        except InvalidInputError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Scoring rule created; open leads are being rescored."))
            return redirect("sales:settings_scoring")
    return _page(request, actor, rule_form=form, status=400)


@settings_page
@require_http_methods(["GET", "POST"])
def settings_scoring_rule(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("leads.configure")
    rule = access_scoring_rule(actor, public_id)
    form = ScoringRuleForm(
        request.POST if request.method == "POST" else None,
        initial=ScoringRuleForm.initial_for(rule),
    )
    if request.method == "POST" and form.is_valid():
        try:
            scoring.scoring_rule_update(actor=actor, rule=rule, data=form.rule_data())
        except InvalidInputError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Scoring rule saved; open leads are being rescored."))
            return redirect("sales:settings_scoring")
    return render(
        request,
        f"{TEMPLATES}rule_form.html",
        {"form": form, "rule": rule, "event_kinds": sorted(EVENT_KIND_LABELS)},
        status=400 if form.errors else 200,
    )


@settings_page
@require_POST
def settings_scoring_rule_activate(
    request: HttpRequest, actor: Actor, public_id: uuid.UUID
) -> HttpResponse:
    actor.require("leads.configure")
    rule = access_scoring_rule(actor, public_id)
    is_active = request.POST.get("is_active") == "1"
    scoring.scoring_rule_activate(actor=actor, rule=rule, is_active=is_active)
    messages.success(
        request, _("Scoring rule turned on.") if is_active else _("Scoring rule turned off.")
    )
    return redirect("sales:settings_scoring")


@settings_page
@require_POST
def settings_scoring_rule_delete(
    request: HttpRequest, actor: Actor, public_id: uuid.UUID
) -> HttpResponse:
    actor.require("leads.configure")
    scoring.scoring_rule_delete(actor=actor, rule=access_scoring_rule(actor, public_id))
    messages.success(request, _("Scoring rule deleted."))
    return redirect("sales:settings_scoring")


@settings_page
@require_POST
def settings_scoring_thresholds(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("leads.configure")
    form = ScoringThresholdsForm(request.POST)
    if form.is_valid():
        try:
            scoring.lead_thresholds_update(
                actor=actor,
                mql_threshold=form.cleaned_data["mql_threshold"],
                sql_threshold=form.cleaned_data["sql_threshold"],
                predictive_enabled=form.cleaned_data["predictive_enabled"],
            )
        except InvalidInputError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Thresholds saved."))
            return redirect("sales:settings_scoring")
    return _page(request, actor, thresholds_form=form, status=400)


@settings_page
@require_POST
def settings_scoring_train(request: HttpRequest, actor: Actor) -> HttpResponse:
    from huike.sales.tasks_scoring import train_predictive_model

    actor.require("leads.configure")
    with transaction.atomic():
        enqueue_on_commit(train_predictive_model, actor.workspace.pk)
    messages.success(request, _("Training started; the status below updates when it is done."))
    return redirect("sales:settings_scoring")
