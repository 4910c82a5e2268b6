"""API of the funnel, the forecast and the sales targets (quotas).

Thin, as the other parts' APIs: the actor from the request, pipelines and targets through
`access_*` (another workspace's id is a 404), figures from huike.sales.reports (record rules
apply: a rep gets their own numbers), changes through huike.sales.targets.
"""

import uuid
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from huike.accounts.access import Actor, lookup_membership, lookup_team
from huike.accounts.api_gateway import request_actor
from huike.core.errors import InvalidInputError, NotFoundError
from huike.core.pagination import PageOut, PageQuery, paginate
from huike.sales import reports, targets
from huike.sales.access import access_pipeline
from huike.sales.api_schemas_reports import (
    ForecastOut,
    ForecastQuery,
    FunnelOut,
    FunnelQuery,
    TargetIn,
    TargetOut,
    TargetPatchIn,
    TargetQuery,
)
from huike.sales.funnel import funnel_report
from huike.sales.models import Pipeline, SalesTarget

router = Router(tags=["Funnel and forecast"])

TARGET_ORDERING = ("-month", "id")
HOLT = "holt_linear"


def _pipeline(actor: Actor, pipeline_id: uuid.UUID | None) -> Pipeline | None:
    return access_pipeline(actor, pipeline_id) if pipeline_id is not None else None


@router.get("/funnel", response=FunnelOut, by_alias=True, summary="The funnel of a pipeline")
def funnel(request: HttpRequest, query: Query[FunnelQuery]) -> dict[str, Any]:
    """Deals of the pipeline created in the period (workspace time zone, both ends included):
    per open and won stage, the deals that got at least that far, the conversion from the
    previous stage and the average time spent in it; won and lost totals per currency."""
    actor = request_actor(request)
    actor.require("forecast.view")
    pipeline = _pipeline(actor, query.pipeline) or (
        Pipeline.objects.filter(workspace=actor.workspace, is_archived=False)
        .order_by("-is_default", "position", "id")
        .first()
    )
    if pipeline is None:
        raise NotFoundError(_("There is no pipeline yet."))
    report = funnel_report(actor, pipeline, query.date_from, query.date_to)
    return {
        "pipeline_id": pipeline.public_id,
        "date_from": report.date_from,
        "date_to": report.date_to,
        "deal_count": report.deal_count,
        "stages": [
            {
                "id": row.stage.public_id,
                "name": row.stage.name,
                "type": row.stage.kind,
                "probability": row.stage.probability,
                "reached": row.reached,
                "conversion_rate": row.conversion_rate,
                "average_seconds": row.average_seconds,
            }
            for row in report.stages
        ],
        "won": {"count": report.won_count, "amounts": report.won},
        "lost": {"count": report.lost_count, "amounts": report.lost},
        "win_rate": report.win_rate,
    }


def _cell(cell: reports.ForecastCell) -> dict[str, Any]:
    return {
        "month": cell.month,
        "open_count": cell.open_count,
        "won_count": cell.won_count,
        "pipeline": cell.pipeline,
        "weighted": cell.weighted,
        "commit": cell.commit,
        "best_case": cell.best_case,
        "won": cell.won,
        "target": cell.target,
        "attainment": cell.attainment,
    }


@router.get("/forecast", response=ForecastOut, summary="The forecast per rep, team or pipeline")
def forecast(request: HttpRequest, query: Query[ForecastQuery]) -> dict[str, Any]:
    """Open deals by the month of their expected close date (pipeline total, weighted by the
    stage's probability, commit, best case), won per month, targets and attainment; and the
    statistical forecast (Holt's linear smoothing of monthly won totals) with its rolling-
    origin back-test error, or the reason there is none."""
    actor = request_actor(request)
    actor.require("forecast.view")
    report = reports.forecast_report(
        actor,
        pipeline=_pipeline(actor, query.pipeline),
        period=query.period,
        group=query.group,
        currency=query.currency,
    )
    statistical = report.statistical
    return {
        "currency": report.currency,
        "group": report.group,
        "pipeline_id": report.pipeline.public_id if report.pipeline else None,
        "months": report.months,
        "rows": [
            {
                "id": row.key,
                "label": row.label,
                "cells": [_cell(cell) for cell in row.cells],
                "total": _cell(row.total),
            }
            for row in report.rows
        ],
        "totals": [_cell(cell) for cell in report.totals],
        "statistical": {
            "available": statistical.available,
            "reason": statistical.reason,
            "method": HOLT,
            "alpha": statistical.alpha,
            "beta": statistical.beta,
            "history": [
                {"month": month, "amount": amount} for month, amount in statistical.history
            ],
            "forecast": [
                {"month": month, "amount": amount} for month, amount in statistical.forecast
            ],
            "backtest": statistical.backtest,
            "mae": statistical.mae,
            "mape": statistical.mape,
        },
    }


# --- sales targets --------------------------------------------------------------------------
def _target_out(actor: Actor, target: SalesTarget) -> dict[str, Any]:
    return {
        "id": target.public_id,
        "month": target.month,
        "membership": target.membership,
        "team": target.team,
        "amount": target.amount if actor.has("amounts.view") else None,
        "currency": target.currency,
        "created_at": target.created_at,
        "updated_at": target.updated_at,
    }


def _named(actor: Actor, payload: TargetIn) -> dict[str, Any]:
    """The rep or team a body names: unknown ids are a bad field (422), not a 404."""
    try:
        membership = (
            lookup_membership(actor.workspace, payload.membership_id)
            if payload.membership_id
            else None
        )
    except NotFoundError as error:
        raise InvalidInputError(error.detail, field="membership_id") from None
    try:
        team = lookup_team(actor.workspace, payload.team_id) if payload.team_id else None
    except NotFoundError as error:
        raise InvalidInputError(error.detail, field="team_id") from None
    return {"membership": membership, "team": team}


@router.get("/sales-targets", response=PageOut[TargetOut], summary="List sales targets")
def target_list(
    request: HttpRequest, page: Query[PageQuery], query: Query[TargetQuery]
) -> dict[str, Any]:
    """Monthly targets, latest month first: all of them for roles that set targets or see every
    record, otherwise the caller's own and (managers) those of their team subtree."""
    actor = request_actor(request)
    found = reports.visible_targets(actor).select_related("membership__user", "team")
    if query.month is not None:
        found = found.filter(month=query.month.replace(day=1))
    if query.membership_id is not None:
        found = found.filter(membership__public_id=query.membership_id)
    if query.team_id is not None:
        found = found.filter(team__public_id=query.team_id)
    result = paginate(found, cursor=page.cursor, limit=page.limit, ordering=TARGET_ORDERING)
    return {"items": [_target_out(actor, t) for t in result.items], "next": result.next}


@router.post("/sales-targets", response={201: TargetOut}, summary="Set a monthly target")
def target_create(request: HttpRequest, payload: TargetIn) -> Status[dict[str, Any]]:
    """A rep's (`membership_id`) or a team's (`team_id`) target for a month; a second target
    for the same month is a 409 (PATCH the one there is)."""
    actor = request_actor(request)
    actor.require("targets.manage")
    target = targets.target_create(
        actor=actor,
        month=payload.month,
        amount=payload.amount,
        currency=payload.currency,
        **_named(actor, payload),
    )
    return Status(201, _target_out(actor, target))


@router.get("/sales-targets/{target_id}", response=TargetOut, summary="Get a sales target")
def target_detail(request: HttpRequest, target_id: uuid.UUID) -> dict[str, Any]:
    actor = request_actor(request)
    return _target_out(actor, reports.access_visible_target(actor, target_id))


@router.patch("/sales-targets/{target_id}", response=TargetOut, summary="Change a sales target")
def target_update(
    request: HttpRequest, target_id: uuid.UUID, payload: TargetPatchIn
) -> dict[str, Any]:
    actor = request_actor(request)
    actor.require("targets.manage")
    target = reports.access_visible_target(actor, target_id)
    targets.target_update(
        actor=actor, target=target, amount=payload.amount, currency=payload.currency
    )
    return _target_out(actor, target)


@router.delete("/sales-targets/{target_id}", response={204: None}, summary="Delete a sales target")
def target_delete(request: HttpRequest, target_id: uuid.UUID) -> Status[None]:
    actor = request_actor(request)
    actor.require("targets.manage")
    targets.target_delete(actor=actor, target=reports.access_visible_target(actor, target_id))
    return Status(204, None)
