"""Test data of the funnel and forecast tests, written straight with the ORM (pipelines,
stages, deals and their stage history), so the reports are tested on exactly the history they
are given. No tests here."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from huike.accounts.models import Membership, Team, Workspace
from huike.sales.models import Deal, DealStageChange, ForecastCategory, Pipeline, Stage, StageKind

SHANGHAI = ZoneInfo("Asia/Shanghai")
STANDARD_STAGES = (
    ("Qualification", StageKind.OPEN, 10),
    ("Needs analysis", StageKind.OPEN, 30),
    ("Proposal", StageKind.OPEN, 60),
    ("Negotiation", StageKind.OPEN, 80),
    ("Won", StageKind.WON, 100),
    ("Lost", StageKind.LOST, 0),
)


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    """A moment in the workspace's time zone (Asia/Shanghai, the default)."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def make_pipeline(
    workspace: Workspace, name: str = "Sales pipeline", currency: str = "CNY"
) -> tuple[Pipeline, dict[str, Stage]]:
    pipeline = Pipeline.objects.create(workspace=workspace, name=name, currency=currency)
    stages = {
        stage_name: Stage.objects.create(
            workspace=workspace,
            pipeline=pipeline,
            name=stage_name,
            kind=kind,
            probability=probability,
            position=position,
        )
        for position, (stage_name, kind, probability) in enumerate(STANDARD_STAGES)
    }
    return pipeline, stages


def make_deal(
    stage: Stage,
    *,
    owner: Membership | None = None,
    team: Team | None = None,
    amount: str = "0",
    currency: str = "CNY",
    created_at: dt.datetime | None = None,
    expected_close_date: dt.date | None = None,
    category: str = ForecastCategory.PIPELINE,
    closed_at: dt.datetime | None = None,
    name: str = "Deal",
) -> Deal:
    created_at = created_at or at(2026, 11, 2)
    if stage.kind != StageKind.OPEN and closed_at is None:
        closed_at = created_at
    return Deal.objects.create(
        workspace_id=stage.workspace_id,
        pipeline_id=stage.pipeline_id,
        stage=stage,
        status=stage.kind,
        name=name,
        owner=owner,
        team=team,
        amount=Decimal(amount),
        currency=currency,
        created_at=created_at,
        stage_entered_at=created_at,
        expected_close_date=expected_close_date,
        forecast_category=category,
        closed_at=closed_at,
    )


def move(deal: Deal, to_stage: Stage, seconds_in_from: int) -> DealStageChange:
    """Record a move of `deal` out of its current stage after `seconds_in_from` there."""
    changed_at = deal.stage_entered_at + dt.timedelta(seconds=seconds_in_from)
    change = DealStageChange.objects.create(
        workspace_id=deal.workspace_id,
        deal=deal,
        pipeline_id=deal.pipeline_id,
        from_stage=deal.stage,
        to_stage=to_stage,
        seconds_in_from=seconds_in_from,
        changed_at=changed_at,
    )
    deal.stage = to_stage
    deal.status = to_stage.kind
    deal.stage_entered_at = changed_at
    deal.closed_at = changed_at if to_stage.kind != StageKind.OPEN else None
    deal.save(update_fields=["stage", "status", "stage_entered_at", "closed_at"])
    return change
