"""Background work of lead scoring: rescoring after the rules change, the daily decay pass and
the predictive model's training. Tasks take ids and call the services of huike.sales.scoring
and huike.sales.predictive; each is safe to run again."""

import logging
from typing import Any

from django.tasks import task
from django.utils.translation import gettext as _

from huike.accounts.models import Workspace
from huike.sales.models import LeadSettings, ScoringRule
from huike.sales.predictive import predictive_train
from huike.sales.scoring import decaying_leads, lead_rescore_with_reason, open_leads

logger = logging.getLogger("huike.sales.scoring")

# Leads rescored per id query: each lead is its own short transaction, and a batch of ids
# keeps memory flat on workspaces with a million open leads.
RESCORE_BATCH_SIZE = 500


def _rescore_in_batches(leads: Any, reason: str | None) -> int:
    done = 0
    last_pk = 0
    while True:
        batch = list(
            leads.filter(pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", flat=True)[:RESCORE_BATCH_SIZE]
        )
        if not batch:
            return done
        last_pk = batch[-1]
        for lead_id in batch:
            if lead_rescore_with_reason(lead_id=lead_id, reason=reason):
                done += 1


@task
def rescore_workspace_leads(workspace_id: int) -> int:
    """After the scoring rules or thresholds changed: rescore every open lead."""
    if not Workspace.objects.filter(pk=workspace_id).exists():
        return 0
    done = _rescore_in_batches(open_leads(workspace_id), _("scoring rules changed"))
    logger.info("Rescored %d open leads of workspace %s", done, workspace_id)
    return done


@task
def decay_lead_scores() -> dict[str, int]:
    """Daily: rescore the open leads holding points that decay; each lead whose score moved
    gets one "decay" ScoreChange."""
    workspace_ids = (
        ScoringRule.objects.filter(
            kind=ScoringRule.Kind.EVENT, is_active=True, half_life_days__gt=0
        )
        .values_list("workspace_id", flat=True)
        .distinct()
    )
    done: dict[str, int] = {}
    for workspace_id in sorted(set(workspace_ids)):
        done[str(workspace_id)] = _rescore_in_batches(decaying_leads(workspace_id), None)
    return done


@task
def train_predictive_model(workspace_id: int) -> dict[str, Any]:
    """Train the workspace's model now (the settings page's "Train now")."""
    if not Workspace.objects.filter(pk=workspace_id).exists():
        return {"state": "gone"}
    status = predictive_train(workspace_id=workspace_id)
    return {"state": status.state, "closed": status.closed}


@task
def train_predictive_models() -> dict[str, str]:
    """Daily: train every workspace with the predictive score on (the rows exist once the
    workspace's leads have been scored or its settings opened)."""
    states: dict[str, str] = {}
    enabled = LeadSettings.objects.filter(predictive_enabled=True).values_list(
        "workspace_id", flat=True
    )
    for workspace_id in sorted(enabled):
        try:
            states[str(workspace_id)] = predictive_train(workspace_id=workspace_id).state
        except Exception:
            # One workspace's odd history must not keep the others untrained.
            logger.exception("Training the lead model of workspace %s failed", workspace_id)
            states[str(workspace_id)] = "failed"
    return states
