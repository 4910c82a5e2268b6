"""Reads behind the forecast (selectors; nothing here writes), and the helpers the funnel
(huike.sales.funnel) shares with it.

Every figure adds up the deals of `huike.sales.access.visible_deals(actor)`, so record rules
apply (a rep sees their own numbers, a manager the team subtree, view-all roles everything):
read from the forecast's monthly roll-ups (huike.sales.forecast_rollup; for record-rule roles
the rows of the owners and teams they see, plus the deals shared with them read apart) or,
while those are being rebuilt, as SQL aggregates over the deals. The number of queries does
not depend on the number of deals.

Forecast: open deals by the month of their expected close date; weighted = Σ amount *
probability / 100, commit = deals in the commit category, best case = commit + best case, the
pipeline total counts every open deal (omitted ones too, which the three forecasts leave out);
won = deals won in the month (closed_at in the workspace time zone). Amounts are never added
across currencies: each report is for one currency (the workspace's unless asked otherwise).
The statistical forecast is Holt's linear exponential smoothing of the monthly won totals
(see `statistical_forecast`).
"""

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import (
    Count,
    DateField,
    DecimalField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.utils.translation import gettext as _

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team
from huike.accounts.visibility import (
    RecordScope,
    record_scope,
    scope_of_ids,
    team_subtree_ids,
)
from huike.core.errors import InvalidInputError, NotFoundError
from huike.sales.access import access_target, shared_only_deals, visible_deals
from huike.sales.forecast_rollup import forecast_sums, usable_pipelines
from huike.sales.models import (
    Deal,
    ForecastCategory,
    Pipeline,
    SalesTarget,
    Stage,
    StageKind,
)

CENT = Decimal("0.01")
# PostgreSQL's work_mem for the transaction of a report's big aggregate (per sort or hash).
REPORT_WORK_MEM = "64MB"
# The forecast's months when none are asked for: this month and the next two.
FORECAST_DEFAULT_MONTHS = 3
# Monthly won totals the statistical forecast looks back on.
HISTORY_MONTHS = 24
# Rolling-origin back-test: each of the last BACKTEST_MONTHS complete months is forecast from
# the months before it only; every origin needs MIN_FIT_MONTHS months to fit Holt's two
# components (level and trend) on. Below MIN_HISTORY_MONTHS we say so instead of forecasting.
BACKTEST_MONTHS = 6
MIN_FIT_MONTHS = 3
MIN_HISTORY_MONTHS = MIN_FIT_MONTHS + BACKTEST_MONTHS
# The grid Holt's smoothing parameters are chosen from (least one-step-ahead squared error).
SMOOTHING_GRID = tuple(round(0.1 * step, 1) for step in range(1, 10))

Group = Literal["rep", "team", "pipeline"]
GROUPS: tuple[Group, ...] = ("rep", "team", "pipeline")


@contextmanager
def _sort_memory() -> Iterator[None]:
    """Room for PostgreSQL to sort and hash a report's rows in memory, for one transaction:
    the forecast adds up a quarter of the open deals (250,000 at a million deals), which the
    default work_mem (4 MB) sorts on disk (bench/RESULTS.md)."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
        yield


def cents(value: Decimal | int | float | None) -> Decimal:
    if value is None:
        return Decimal("0.00")
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def day_start(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone)


def _money_field() -> DecimalField:  # type: ignore[type-arg]
    return DecimalField(max_digits=20, decimal_places=2)


# ---------------------------------------------------------------------------------------------
# Forecast
# ---------------------------------------------------------------------------------------------


def month_add(month: dt.date, months: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def forecast_months(period: str | None, today: dt.date) -> list[dt.date]:
    """The months of `period`: "2026-12" (one month), "2026-Q4" (three), or empty (this month
    and the next FORECAST_DEFAULT_MONTHS - 1). InvalidInputError on anything else."""
    text = (period or "").strip().upper()
    invalid = InvalidInputError(
        _("Give the period as a month (2026-12) or a quarter (2026-Q4)."), field="period"
    )
    if not text:
        start = today.replace(day=1)
        return [month_add(start, offset) for offset in range(FORECAST_DEFAULT_MONTHS)]
    year_text, _dash, rest = text.partition("-")
    if not (year_text.isdigit() and len(year_text) == 4 and 1900 < int(year_text) < 3000):
        raise invalid
    year = int(year_text)
    if rest.startswith("Q") and rest[1:] in {"1", "2", "3", "4"}:
        first = dt.date(year, 3 * (int(rest[1:]) - 1) + 1, 1)
        return [month_add(first, offset) for offset in range(3)]
    if rest.isdigit() and len(rest) == 2 and 1 <= int(rest) <= 12:
        return [dt.date(year, int(rest), 1)]
    raise invalid


@dataclass
class ForecastCell:
    month: dt.date
    open_count: int = 0
    won_count: int = 0
    # Amounts are None for a role without amounts.view.
    pipeline: Decimal | None = Decimal("0.00")
    weighted: Decimal | None = Decimal("0.00")
    commit: Decimal | None = Decimal("0.00")
    best_case: Decimal | None = Decimal("0.00")
    won: Decimal | None = Decimal("0.00")
    target: Decimal | None = None

    @property
    def attainment(self) -> float | None:
        """Won / target (0-1 and beyond); None without a target."""
        if self.target is None or self.won is None or not self.target:
            return None
        return float(self.won / self.target)

    def add(self, other: "ForecastCell") -> None:
        self.open_count += other.open_count
        self.won_count += other.won_count
        for name in ("pipeline", "weighted", "commit", "best_case", "won"):
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, None if mine is None or theirs is None else mine + theirs)
        if other.target is not None:
            self.target = (self.target or Decimal("0.00")) + other.target


@dataclass
class ForecastRow:
    key: uuid.UUID | None  # the rep's membership, team or pipeline; None: nobody's
    label: str
    cells: list[ForecastCell]

    @property
    def total(self) -> ForecastCell:
        total = ForecastCell(month=self.cells[0].month)
        for cell in self.cells:
            total.add(cell)
        return total


@dataclass(frozen=True)
class BacktestPoint:
    month: dt.date
    actual: Decimal
    predicted: Decimal


@dataclass(frozen=True)
class StatisticalForecast:
    """Holt's linear smoothing of the monthly won totals, or why there is none."""

    history: list[tuple[dt.date, Decimal]]
    # The months forecast (this month and later months of the period) and the values.
    forecast: list[tuple[dt.date, Decimal]]
    backtest: list[BacktestPoint]
    mae: Decimal | None
    mape: float | None  # percent; None when every back-tested month was zero
    alpha: float | None = None
    beta: float | None = None
    # Why there is no forecast ("" when there is one).
    reason: str = ""

    @property
    def available(self) -> bool:
        return not self.reason


@dataclass(frozen=True)
class Forecast:
    months: list[dt.date]
    group: Group
    currency: str
    currencies: list[str]
    pipeline: Pipeline | None
    rows: list[ForecastRow]
    totals: list[ForecastCell]
    statistical: StatisticalForecast
    show_amounts: bool
    today: dt.date = field(default_factory=dt.date.today)


def _group_key(group: Group) -> Any:
    if group == "rep":
        return F("owner")
    if group == "team":
        return Coalesce(F("team"), F("owner__team"))
    return F("pipeline")


def _in_report(deals: QuerySet[Deal], pipeline: Pipeline | None, currency: str) -> QuerySet[Deal]:
    deals = deals.filter(currency=currency)
    return deals.filter(pipeline=pipeline) if pipeline is not None else deals


def _visible_target_subjects(
    actor: Actor, group: Group, scope: RecordScope | None = None
) -> Q | None:
    """Which targets the actor may see beside the numbers: their own; a manager's team
    subtree (its teams and their members); everything for view-all roles. None: no rows.
    `scope`: the actor's record rules, if worked out already."""
    if group == "pipeline":
        return None
    if actor.has("records.view_all"):
        return Q(membership__isnull=False) if group == "rep" else Q(team__isnull=False)
    membership = actor.membership
    if membership is None:
        return None
    if scope is not None:
        subtree = scope.teams
    else:
        subtree = team_subtree_ids(membership) if actor.has("records.view_team") else []
    if group == "rep":
        return Q(membership=membership) | Q(membership__team_id__in=subtree)
    return Q(team_id__in=subtree) if subtree else None


def _labels(actor: Actor, group: Group, keys: set[int]) -> dict[int, tuple[uuid.UUID, str]]:
    if group == "rep":
        members = Membership.objects.filter(workspace=actor.workspace, pk__in=keys)
        return {
            member.pk: (member.public_id, member.user.display_name)
            for member in members.select_related("user")
        }
    model: type[Team] | type[Pipeline] = Team if group == "team" else Pipeline
    return {
        obj.pk: (obj.public_id, obj.name)
        for obj in model.objects.filter(workspace=actor.workspace, pk__in=keys)
    }


def _rolled_up_pipelines(
    actor: Actor, pipeline: Pipeline | None, scope: RecordScope | None
) -> list[Pipeline] | None:
    """The pipelines whose forecast roll-ups a report of `pipeline` (None: all) reads, or None
    when it must read the deals: for an actor without records (neither view-all nor a
    member), and while a pipeline with deals has no roll-ups built for its stages and the
    workspace's time zone. `scope`: the actor's record rules (None: view-all)."""
    if not actor.has("records.view_all") and scope is None:
        return None
    pipelines = (
        [pipeline]
        if pipeline is not None
        else list(Pipeline.objects.filter(workspace=actor.workspace))
    )
    return usable_pipelines(actor.workspace.pk, pipelines, actor.workspace.zone)


def _rolled_up_rows(
    actor: Actor,
    pipelines: Sequence[Pipeline],
    currency: str,
    start: dt.date,
    end: dt.date,
    group: Group,
    where: Q | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The forecast's open and won sums per (month, group key) from the roll-ups, in the shape
    the deals' aggregates have: weighted with each stage's probability now, the team group
    falling back to the owner's team now, ids of memberships and teams deleted since mapped
    to none. `where`: the rows a role limited by record rules sees (by owner and team)."""
    sums = forecast_sums(pipelines, currency, start, end, won_only=False, where=where)
    members = dict(
        Membership.objects.filter(workspace=actor.workspace).values_list("pk", "team_id")
    )
    teams = (
        set(Team.objects.filter(workspace=actor.workspace).values_list("pk", flat=True))
        if group == "team"
        else set()
    )
    probability = dict(
        Stage.objects.filter(pipeline__in=pipelines).values_list("pk", "probability")
    )
    opened: dict[tuple[dt.date, int | None], dict[str, Any]] = {}
    won: dict[tuple[dt.date, int | None], dict[str, Any]] = {}
    zero = Decimal(0)
    for item in sums:
        key = item.key
        owner = key.owner_id if key.owner_id in members else None
        group_key: int | None
        if group == "rep":
            group_key = owner
        elif group == "team":
            team = key.team_id if key.team_id in teams else None
            group_key = team if team is not None else members.get(owner) if owner else None
        else:
            group_key = item.pipeline_id
        if key.status == StageKind.WON:
            row = won.setdefault(
                (key.month, group_key),
                {"month": key.month, "group_key": group_key, "count": 0, "won": zero},
            )
            row["count"] += item.deals
            row["won"] += item.amount
            continue
        row = opened.setdefault(
            (key.month, group_key),
            {
                "month": key.month,
                "group_key": group_key,
                "count": 0,
                "pipeline_total": zero,
                "weighted": zero,
                "commit": zero,
                "best_case": zero,
            },
        )
        row["count"] += item.deals
        row["pipeline_total"] += item.amount
        if key.category != ForecastCategory.OMITTED:
            row["weighted"] += item.amount * probability.get(key.stage_id or 0, 0)
        if key.category == ForecastCategory.COMMIT:
            row["commit"] += item.amount
        if key.category in (ForecastCategory.COMMIT, ForecastCategory.BEST_CASE):
            row["best_case"] += item.amount
    return list(opened.values()), list(won.values())


def _deal_rows(
    deals: QuerySet[Deal], months: Sequence[dt.date], end: dt.date, zone: ZoneInfo, group: Group
) -> tuple[QuerySet[Any], QuerySet[Any]]:
    """The forecast's open and won sums of `deals` per (month, group key), read from the
    deals: what the roll-ups hold, for deals they cannot be read from."""
    forecast_filter = ~Q(forecast_category=ForecastCategory.OMITTED)
    open_rows = (
        deals.filter(
            status=StageKind.OPEN,
            expected_close_date__gte=months[0],
            expected_close_date__lt=end,
        )
        .annotate(month=TruncMonth("expected_close_date"), group_key=_group_key(group))
        .values("month", "group_key")
        .annotate(
            count=Count("pk"),
            pipeline_total=Sum("amount"),
            weighted=Sum(
                ExpressionWrapper(
                    F("amount") * F("stage__probability"), output_field=_money_field()
                ),
                filter=forecast_filter,
            ),
            commit=Sum("amount", filter=Q(forecast_category=ForecastCategory.COMMIT)),
            best_case=Sum(
                "amount",
                filter=Q(
                    forecast_category__in=(ForecastCategory.COMMIT, ForecastCategory.BEST_CASE)
                ),
            ),
        )
        .order_by()
    )
    won_rows = (
        deals.filter(
            status=StageKind.WON,
            closed_at__gte=day_start(months[0], zone),
            closed_at__lt=day_start(end, zone),
        )
        .annotate(
            month=TruncMonth("closed_at", tzinfo=zone, output_field=DateField()),
            group_key=_group_key(group),
        )
        .values("month", "group_key")
        .annotate(count=Count("pk"), won=Sum("amount"))
        .order_by()
    )
    return open_rows, won_rows


def _merged(*parts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Sum rows of the same (month, group key) from several sources (the roll-ups and the
    deals seen only through a share)."""
    merged: dict[tuple[dt.date, Any], dict[str, Any]] = {}
    for rows in parts:
        for row in rows:
            month = row["month"]
            month = month.date() if isinstance(month, dt.datetime) else month
            into = merged.get((month, row["group_key"]))
            if into is None:
                merged[(month, row["group_key"])] = {**row, "month": month}
                continue
            for name, value in row.items():
                if name not in ("month", "group_key") and value is not None:
                    into[name] = (into[name] or 0) + value
    return list(merged.values())


def forecast_report(
    actor: Actor,
    *,
    pipeline: Pipeline | None = None,
    period: str | None = None,
    group: Group = "rep",
    currency: str | None = None,
    today: dt.date | None = None,
) -> Forecast:
    """The forecast of the period's months per rep, team or pipeline in one currency (the
    workspace's by default), with targets, attainment and the statistical forecast. Needs
    forecast.view; amounts only with amounts.view. A constant number of queries."""
    actor.require("forecast.view")
    if group not in GROUPS:
        raise InvalidInputError(_("Group by rep, team or pipeline."), field="group")
    zone = actor.workspace.zone
    today = today or actor.workspace.today()
    months = forecast_months(period, today)
    currency = (currency or actor.workspace.currency).upper()
    show_amounts = actor.has("amounts.view")
    end = month_add(months[-1], 1)
    cells: dict[int | None, dict[dt.date, ForecastCell]] = defaultdict(dict)

    def cell(key: int | None, month: Any) -> ForecastCell:
        month = month.date() if isinstance(month, dt.datetime) else month
        return cells[key].setdefault(month, ForecastCell(month=month))

    open_sums: Sequence[Mapping[str, Any]]
    won_sums: Sequence[Mapping[str, Any]]
    scope = record_scope(actor)
    rolled_up = _rolled_up_pipelines(actor, pipeline, scope)
    # A record-rule role reading the roll-ups: the rows it sees, and the deals shared with it.
    where = shared = None
    if rolled_up is not None and scope is not None:
        where = scope_of_ids(scope, actor.workspace.pk)
        # Shared with the actor means visible to them: no record rule to add.
        workspace_deals = Deal.objects.filter(workspace=actor.workspace)
        shared = shared_only_deals(actor, scope, _in_report(workspace_deals, pipeline, currency))
    # What the actor sees of the deals, where they are read instead of the roll-ups.
    deals = (
        _in_report(visible_deals(actor), pipeline, currency)
        if rolled_up is None
        else Deal.objects.none()
    )
    if rolled_up is not None:
        open_sums, won_sums = _rolled_up_rows(
            actor, rolled_up, currency, months[0], end, group, where
        )
        if shared is not None:
            shared_open, shared_won = _deal_rows(shared, months, end, zone, group)
            open_sums = _merged(open_sums, list(shared_open))
            won_sums = _merged(won_sums, list(shared_won))
    else:
        open_rows, won_rows = _deal_rows(deals, months, end, zone, group)
        with _sort_memory():
            open_sums = list(open_rows)
        won_sums = list(won_rows)
    for row in open_sums:
        target = cell(row["group_key"], row["month"])
        target.open_count = row["count"]
        target.pipeline = cents(row["pipeline_total"])
        target.weighted = cents((row["weighted"] or 0) / Decimal(100))
        target.commit = cents(row["commit"])
        target.best_case = cents(row["best_case"])
    for won_row in won_sums:
        target = cell(won_row["group_key"], won_row["month"])
        target.won_count = won_row["count"]
        target.won = cents(won_row["won"])
    subjects = _visible_target_subjects(actor, group, scope)
    if subjects is not None:
        subject_field = "membership_id" if group == "rep" else "team_id"
        for key, month, amount in SalesTarget.objects.filter(
            subjects,
            workspace=actor.workspace,
            currency=currency,
            month__gte=months[0],
            month__lt=end,
        ).values_list(subject_field, "month", "amount"):
            cell(key, month).target = cents(amount)
    labels = _labels(actor, group, {key for key in cells if key is not None})
    rows = []
    for key, by_month in cells.items():
        public_id, label = labels.get(key, (None, "")) if key is not None else (None, "")
        if key is None:
            label = _("Unassigned") if group == "rep" else _("No team")
        row_cells = [by_month.get(month) or ForecastCell(month=month) for month in months]
        if not show_amounts:
            for one in row_cells:
                one.pipeline = one.weighted = one.commit = one.best_case = one.won = None
                one.target = None
        rows.append(ForecastRow(key=public_id, label=label, cells=row_cells))
    rows.sort(key=lambda row: (row.key is None, row.label.casefold()))
    totals = []
    for index, month in enumerate(months):
        total = ForecastCell(month=month)
        if not show_amounts:
            total.pipeline = total.weighted = total.commit = total.best_case = total.won = None
        for forecast_row in rows:
            total.add(forecast_row.cells[index])
        totals.append(total)
    statistical = (
        statistical_forecast(
            deals,
            zone=zone,
            today=today,
            months=months,
            rolled_up=rolled_up,
            currency=currency,
            where=where,
            shared=shared,
        )
        if show_amounts
        else StatisticalForecast(
            history=[],
            forecast=[],
            backtest=[],
            mae=None,
            mape=None,
            reason=_("Your role does not show amounts."),
        )
    )
    return Forecast(
        months=months,
        group=group,
        currency=currency,
        currencies=forecast_currencies(actor, currency),
        pipeline=pipeline,
        rows=rows,
        totals=totals,
        statistical=statistical,
        show_amounts=show_amounts,
        today=today,
    )


def forecast_currencies(actor: Actor, chosen: str) -> list[str]:
    """Currencies worth offering: the workspace's, its pipelines' and the chosen one."""
    codes = set(
        Pipeline.objects.filter(workspace=actor.workspace).values_list("currency", flat=True)
    )
    return sorted(codes | {actor.workspace.currency} | ({chosen} if chosen else set()))


# ---------------------------------------------------------------------------------------------
# Statistical forecast
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HoltFit:
    alpha: float
    beta: float
    level: float
    trend: float

    def predict(self, steps: int) -> float:
        return max(0.0, self.level + steps * self.trend)


def holt_fit(series: Sequence[float]) -> HoltFit:
    """Holt's linear exponential smoothing (level + trend) of `series` (at least two values),
    with the smoothing parameters from SMOOTHING_GRID that give the least squared one-step-
    ahead error on the series itself. Initial level: the first value; initial trend: the
    first difference."""
    if len(series) < 2:
        raise ValueError("Holt's smoothing needs at least two values")
    best: tuple[float, HoltFit] | None = None
    for alpha in SMOOTHING_GRID:
        for beta in SMOOTHING_GRID:
            level, trend, squared = series[0], series[1] - series[0], 0.0
            for value in series[1:]:
                squared += (value - (level + trend)) ** 2
                new_level = alpha * value + (1 - alpha) * (level + trend)
                trend = beta * (new_level - level) + (1 - beta) * trend
                level = new_level
            if best is None or squared < best[0] - 1e-9:
                best = (squared, HoltFit(alpha=alpha, beta=beta, level=level, trend=trend))
    assert best is not None
    return best[1]


def backtest(series: Sequence[float]) -> list[tuple[int, float]]:
    """Rolling origin, one month ahead: for each of the last BACKTEST_MONTHS positions with at
    least MIN_FIT_MONTHS values before it, (position, forecast from the values before it)."""
    first = max(MIN_FIT_MONTHS, len(series) - BACKTEST_MONTHS)
    return [(index, holt_fit(series[:index]).predict(1)) for index in range(first, len(series))]


def monthly_won(
    deals: QuerySet[Deal], *, zone: ZoneInfo, start: dt.date, end: dt.date
) -> dict[dt.date, Decimal]:
    rows = (
        deals.filter(
            status=StageKind.WON,
            closed_at__gte=day_start(start, zone),
            closed_at__lt=day_start(end, zone),
        )
        .annotate(month=TruncMonth("closed_at", tzinfo=zone, output_field=DateField()))
        .values("month")
        .annotate(won=Sum("amount"))
        .order_by()
    )
    result = {}
    for row in rows:
        month = row["month"]
        month = month.date() if isinstance(month, dt.datetime) else month
        result[month] = cents(row["won"])
    return result


def rolled_up_monthly_won(
    pipelines: Sequence[Pipeline],
    currency: str,
    *,
    start: dt.date,
    end: dt.date,
    where: Q | None = None,
) -> dict[dt.date, Decimal]:
    """monthly_won from the forecast roll-ups of `pipelines` (those rows only, by owner and
    team, given `where`)."""
    totals: dict[dt.date, Decimal] = defaultdict(Decimal)
    for item in forecast_sums(pipelines, currency, start, end, won_only=True, where=where):
        totals[item.key.month] += item.amount
    return {month: cents(amount) for month, amount in totals.items()}


def statistical_forecast(
    deals: QuerySet[Deal],
    *,
    zone: ZoneInfo,
    today: dt.date,
    months: Sequence[dt.date],
    rolled_up: Sequence[Pipeline] | None = None,
    currency: str = "",
    where: Q | None = None,
    shared: QuerySet[Deal] | None = None,
) -> StatisticalForecast:
    """From the monthly won totals of `deals` over the last HISTORY_MONTHS complete months
    (from the first month with a win; months without one count as zero): the forecast of the
    months in `months` from this month on, and the rolling-origin back-test error. One query,
    over the deals or, given the `rolled_up` pipelines and the deals' `currency`, over their
    forecast roll-ups (their rows seen through `where`, plus the `shared` deals, read from
    the deals, for a role limited by record rules). With fewer than MIN_HISTORY_MONTHS months
    it says so instead."""
    current = today.replace(day=1)
    start = month_add(current, -HISTORY_MONTHS)
    if rolled_up is not None:
        won = rolled_up_monthly_won(rolled_up, currency, start=start, end=current, where=where)
        if shared is not None:
            for month, amount in monthly_won(shared, zone=zone, start=start, end=current).items():
                won[month] = won.get(month, Decimal(0)) + amount
    else:
        won = monthly_won(deals, zone=zone, start=start, end=current)
    history: list[tuple[dt.date, Decimal]] = []
    if won:
        month = min(won)
        while month < current:
            history.append((month, won.get(month, Decimal("0.00"))))
            month = month_add(month, 1)
    if len(history) < MIN_HISTORY_MONTHS:
        return StatisticalForecast(
            history=history,
            forecast=[],
            backtest=[],
            mae=None,
            mape=None,
            reason=_(
                "Too little history for a statistical forecast: it needs won deals over at "
                "least %(needed)d complete months, there are %(have)d."
            )
            % {"needed": MIN_HISTORY_MONTHS, "have": len(history)},
        )
    series = [float(amount) for _month, amount in history]
    points = [
        BacktestPoint(month=history[index][0], actual=history[index][1], predicted=cents(predicted))
        for index, predicted in backtest(series)
    ]
    errors = [abs(point.actual - point.predicted) for point in points]
    relative = [
        float(abs(point.actual - point.predicted) / point.actual)
        for point in points
        if point.actual
    ]
    fit = holt_fit(series)
    last = history[-1][0]
    ahead = [month for month in months if month >= current]
    return StatisticalForecast(
        history=history,
        forecast=[(month, cents(fit.predict(_months_between(last, month)))) for month in ahead],
        backtest=points,
        mae=cents(sum(errors, Decimal(0)) / len(errors)),
        mape=100 * sum(relative) / len(relative) if relative else None,
        alpha=fit.alpha,
        beta=fit.beta,
    )


def _months_between(earlier: dt.date, later: dt.date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


# ---------------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------------


def visible_targets(actor: Actor) -> QuerySet[SalesTarget]:
    """Targets the actor may read: all for those who set them or see every record; else
    their own and, for a manager, those of their team subtree and its members."""
    actor.require_any("forecast.view", "targets.manage")
    targets = SalesTarget.objects.filter(workspace=actor.workspace)
    if actor.has("targets.manage") or actor.has("records.view_all"):
        return targets
    condition = Q(pk__in=[])
    groups: tuple[Group, ...] = ("rep", "team")
    for group in groups:
        subjects = _visible_target_subjects(actor, group)
        if subjects is not None:
            condition |= subjects
    return targets.filter(condition)


def access_visible_target(actor: Actor, public_id: uuid.UUID | str) -> SalesTarget:
    target = access_target(actor, public_id)
    if not visible_targets(actor).filter(pk=target.pk).exists():
        raise NotFoundError(_("No such target."))
    return target
