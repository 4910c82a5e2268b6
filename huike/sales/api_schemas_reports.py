"""Request and response schemas of the funnel, forecast and sales-target endpoints.

Amounts are decimal strings in the report's currency (one currency per report: amounts in
different currencies are never added) and null for a role without amounts.view. Rates are
fractions (0.5 = 50 %); MAPE is a percentage.
"""

import datetime as dt
import uuid
from decimal import Decimal
from typing import Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from huike.accounts.api_schemas import MemberRef, TeamRef

AMOUNT = "Decimal string; null without amounts.view."


# --- funnel ---------------------------------------------------------------------------------
class FunnelQuery(Schema):
    model_config = ConfigDict(populate_by_name=True)

    pipeline: uuid.UUID | None = Field(
        default=None, description="The pipeline's id; omitted: the default pipeline."
    )
    date_from: dt.date | None = Field(
        default=None,
        alias="from",
        description="First day of the period (deals created on or after it, workspace time "
        "zone); omitted: 90 days before `to`.",
    )
    date_to: dt.date | None = Field(
        default=None, alias="to", description="Last day of the period; omitted: today."
    )


class FunnelStageOut(Schema):
    id: uuid.UUID
    name: str
    type: str
    probability: int
    reached: int = Field(description="Deals of the period that got at least this far.")
    conversion_rate: float | None = Field(
        description="reached / reached at the previous stage; null for the first stage."
    )
    average_seconds: int | None = Field(
        description="Average time deals spent in the stage before moving on; null: none left."
    )


class MoneyTotalOut(Schema):
    currency: str
    count: int
    amount: Decimal | None = Field(description=AMOUNT)


class ClosedOut(Schema):
    count: int
    amounts: list[MoneyTotalOut] = Field(description="Per currency.")


class FunnelOut(Schema):
    pipeline_id: uuid.UUID
    date_from: dt.date = Field(serialization_alias="from")
    date_to: dt.date = Field(serialization_alias="to")
    deal_count: int
    stages: list[FunnelStageOut] = Field(description="Open and won stages in order.")
    won: ClosedOut
    lost: ClosedOut
    win_rate: float | None = Field(description="won / (won + lost); null when none closed.")


# --- forecast -------------------------------------------------------------------------------
class ForecastQuery(Schema):
    pipeline: uuid.UUID | None = Field(default=None, description="Omitted: every pipeline.")
    period: str | None = Field(
        default=None,
        max_length=7,
        description="A month (2026-12) or a quarter (2026-Q4); omitted: this month and the "
        "next two.",
    )
    group: Literal["rep", "team", "pipeline"] = "rep"
    currency: str | None = Field(
        default=None, min_length=3, max_length=3, description="Omitted: the workspace's."
    )


class ForecastCellOut(Schema):
    month: dt.date
    open_count: int
    won_count: int
    pipeline: Decimal | None = Field(description="All open deals expected to close. " + AMOUNT)
    weighted: Decimal | None = Field(description="Σ amount × probability / 100. " + AMOUNT)
    commit: Decimal | None = Field(description=AMOUNT)
    best_case: Decimal | None = Field(description="Commit + best case. " + AMOUNT)
    won: Decimal | None = Field(description="Won in the month. " + AMOUNT)
    target: Decimal | None = Field(description="The month's target, if one is set.")
    attainment: float | None = Field(description="won / target; null without a target.")


class ForecastRowOut(Schema):
    id: uuid.UUID | None = Field(description="The rep's member id, team id or pipeline id.")
    label: str
    cells: list[ForecastCellOut]
    total: ForecastCellOut


class MonthAmountOut(Schema):
    month: dt.date
    amount: Decimal


class BacktestPointOut(Schema):
    month: dt.date
    actual: Decimal
    predicted: Decimal


class StatisticalForecastOut(Schema):
    available: bool
    reason: str = Field(description="Why there is no forecast; empty when there is one.")
    method: str
    alpha: float | None
    beta: float | None
    history: list[MonthAmountOut] = Field(description="Won per complete month.")
    forecast: list[MonthAmountOut] = Field(description="The period's months from this one on.")
    backtest: list[BacktestPointOut] = Field(
        description="Rolling origin: each month forecast from the months before it only."
    )
    mae: Decimal | None = Field(description="Mean absolute error of the back-test.")
    mape: float | None = Field(description="Mean absolute percentage error of the back-test.")


class ForecastOut(Schema):
    currency: str
    group: str
    pipeline_id: uuid.UUID | None
    months: list[dt.date]
    rows: list[ForecastRowOut]
    totals: list[ForecastCellOut]
    statistical: StatisticalForecastOut


# --- sales targets --------------------------------------------------------------------------
class TargetQuery(Schema):
    month: dt.date | None = Field(default=None, description="Any day of the month.")
    membership_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None


class TargetIn(Schema):
    month: dt.date = Field(description="Any day of the month (stored as its first day).")
    membership_id: uuid.UUID | None = Field(default=None, description="The rep; or team_id.")
    team_id: uuid.UUID | None = None
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    currency: str | None = Field(
        default=None, min_length=3, max_length=3, description="Omitted: the workspace's."
    )


class TargetPatchIn(Schema):
    amount: Decimal | None = Field(default=None, gt=0, max_digits=14, decimal_places=2)
    currency: str | None = Field(default=None, min_length=3, max_length=3)


class TargetOut(Schema):
    id: uuid.UUID
    month: dt.date
    membership: MemberRef | None
    team: TeamRef | None
    amount: Decimal | None = Field(description=AMOUNT)
    currency: str
    created_at: dt.datetime
    updated_at: dt.datetime
