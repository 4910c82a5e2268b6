"""API endpoints of lead scoring: the rules, a lead's score history and the predictive model.
Thin: access through huike.sales.access, changes through huike.sales.scoring."""

import uuid

from django.db import transaction
from django.http import HttpRequest
from ninja import Query, Router, Status

from huike.accounts.access import Actor
from huike.accounts.api_gateway import request_actor
from huike.core.pagination import Page, PageOut, PageQuery, paginate
from huike.core.tasks import enqueue_on_commit
from huike.customers.models import Event
from huike.sales.access import access_lead, access_scoring_rule
from huike.sales.api_schemas_scoring import (
    ModelFactorOut,
    PredictiveModelOut,
    ScoreChangeOut,
    ScoringRuleIn,
    ScoringRuleOut,
    ScoringRulePatchIn,
)
from huike.sales.models import ScoreChange, ScoringRule
from huike.sales.predictive import model_factor_bars, predictive_status
from huike.sales.scoring import (
    ScoringRuleData,
    lead_settings_for,
    scoring_rule_create,
    scoring_rule_delete,
    scoring_rule_update,
)

router = Router(tags=["Lead scoring"])


@router.get("/lead-scoring-rules", response=PageOut[ScoringRuleOut], summary="List scoring rules")
def scoring_rule_list(request: HttpRequest, page: Query[PageQuery]) -> Page[ScoringRule]:
    """The workspace's scoring rules in their order."""
    actor = request_actor(request)
    actor.require_any("leads.view", "leads.configure")
    rules = ScoringRule.objects.filter(workspace=actor.workspace)
    return paginate(rules, cursor=page.cursor, limit=page.limit, ordering=("position", "id"))


@router.post("/lead-scoring-rules", response={201: ScoringRuleOut}, summary="Create a scoring rule")
def scoring_rule_add(request: HttpRequest, payload: ScoringRuleIn) -> Status[ScoringRule]:
    """Attribute rules need `field` and `operator` (and `value` unless the operator is
    `present`); event rules need `event_kind`. The open leads are rescored in the background."""
    actor = request_actor(request)
    rule = scoring_rule_create(actor=actor, data=ScoringRuleData(**payload.model_dump()))
    return Status(201, rule)


@router.get("/lead-scoring-rules/{rule_id}", response=ScoringRuleOut, summary="Get a scoring rule")
def scoring_rule_detail(request: HttpRequest, rule_id: uuid.UUID) -> ScoringRule:
    return access_scoring_rule(request_actor(request), rule_id)


@router.patch(
    "/lead-scoring-rules/{rule_id}", response=ScoringRuleOut, summary="Change a scoring rule"
)
def scoring_rule_change(
    request: HttpRequest, rule_id: uuid.UUID, payload: ScoringRulePatchIn
) -> ScoringRule:
    """Only the fields sent change; the rule is checked as a whole afterwards."""
    actor = request_actor(request)
    actor.require("leads.configure")
    rule = access_scoring_rule(actor, rule_id)
    current = {name: getattr(rule, name) for name in ScoringRuleData.__dataclass_fields__}
    current.update({name: getattr(payload, name) for name in payload.model_fields_set})
    return scoring_rule_update(actor=actor, rule=rule, data=ScoringRuleData(**current))


@router.delete(
    "/lead-scoring-rules/{rule_id}", response={204: None}, summary="Delete a scoring rule"
)
def scoring_rule_remove(request: HttpRequest, rule_id: uuid.UUID) -> Status[None]:
    actor = request_actor(request)
    actor.require("leads.configure")
    scoring_rule_delete(actor=actor, rule=access_scoring_rule(actor, rule_id))
    return Status(204, None)


@router.get(
    "/leads/{lead_id}/score-history",
    response=PageOut[ScoreChangeOut],
    summary="A lead's score history",
)
def lead_score_history(
    request: HttpRequest, lead_id: uuid.UUID, page: Query[PageQuery]
) -> Page[ScoreChange]:
    """Every change of the lead's score with its reason, newest first."""
    lead = access_lead(request_actor(request), lead_id)
    changes = ScoreChange.objects.filter(lead=lead).select_related("rule")
    found = paginate(changes, cursor=page.cursor, limit=page.limit, ordering=("-created_at", "-id"))
    event_ids = {change.event_id for change in found.items if change.event_id is not None}
    public_ids = dict(
        Event.objects.filter(workspace_id=lead.workspace_id, pk__in=event_ids).values_list(
            "pk", "public_id"
        )
    )
    for change in found.items:
        public_id = public_ids.get(change.event_id) if change.event_id is not None else None
        change.event_public_id = public_id  # type: ignore[attr-defined]
    return found


def _model_out(actor: Actor) -> PredictiveModelOut:
    status = predictive_status(actor.workspace.pk)
    model = status.model
    return PredictiveModelOut(
        state=status.state,  # type: ignore[arg-type]
        message=status.message,
        enabled=lead_settings_for(actor.workspace.pk).predictive_enabled,
        closed_leads=status.closed,
        won=status.won,
        not_won=status.not_won,
        needed=status.needed,
        trained_at=model.trained_at if model else None,
        samples=model.samples if model else None,
        accuracy=model.accuracy if model else None,
        roc_auc=model.roc_auc if model else None,
        baseline_accuracy=model.parameters.get("baseline_accuracy") if model else None,
        factors=[
            ModelFactorOut(label=bar.label, coefficient=bar.coefficient)
            for bar in (model_factor_bars(model) if model else [])
        ],
    )


@router.get("/lead-scoring/model", response=PredictiveModelOut, summary="The predictive model")
def predictive_model_detail(request: HttpRequest) -> PredictiveModelOut:
    """Off, needs more data (and how much), or trained with its held-out accuracy and AUC."""
    actor = request_actor(request)
    actor.require_any("leads.view", "leads.configure")
    return _model_out(actor)


@router.post(
    "/lead-scoring/model/train",
    response={202: PredictiveModelOut},
    summary="Train the predictive model now",
)
def predictive_model_train(request: HttpRequest) -> Status[PredictiveModelOut]:
    """Queues a training run (leads.configure); the status changes when it has run."""
    from huike.sales.tasks_scoring import train_predictive_model

    actor = request_actor(request)
    actor.require("leads.configure")
    with transaction.atomic():
        enqueue_on_commit(train_predictive_model, actor.workspace.pk)
    return Status(202, _model_out(actor))
