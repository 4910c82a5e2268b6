"""The forecast's monthly roll-ups: what a view-all forecast reads instead of the deals.

Everything the forecast adds up is additive per deal and depends only on the deal's own row:
an open deal counts in the month of its expected close date, for its stage, owner, team,
currency and forecast category; a won deal in the month it was won (in the workspace's time
zone), for its owner, team and currency; a lost one nowhere. So the sums are kept per month and
per those keys (ForecastMonth), a few thousand rows where there are a million deals. What can
change without touching a deal is left to the report: a stage's probability (weighted =
amount * the probability the stage has now) and the team of a deal's owner (the "team" group
falls back to it, as the SQL's Coalesce did), and a membership or team that no longer exists
(its id maps to none, as SET_NULL did to the deals).

The rows live beside the funnel's FunnelDay rows, under the same FunnelRollup state, and are
kept by the same calls (huike.sales.funnel): `funnel_track` takes a deal's key before a
change, `funnel_changed` writes the difference as delta rows in the change's transaction, the
refresh job folds them in, and a rebuild (stages or time zone changed) adds them up again from
the deals. A report adds the folded rows and the deltas in one statement. Roles limited by
record rules add up the rows of the owners and teams they see (owners looked up when the
report runs, huike.accounts.visibility.scope_of_ids) and read the deals shared with them
apart (huike.sales.reports).
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, DateField, Q, Sum
from django.db.models.functions import TruncMonth

from huike.sales.models import Deal, ForecastMonth, FunnelRollup, Pipeline, Stage, StageKind

# The columns that make a row's key, in the order of ForecastKey.
KEY_FIELDS = ("status", "month", "stage_id", "owner_id", "team_id", "currency", "category")
DELETE_BATCH = 5_000


@dataclass(frozen=True)
class ForecastKey:
    status: str
    month: dt.date
    stage_id: int | None
    owner_id: int | None
    team_id: int | None
    currency: str
    category: str


def rollup_basis(stages: Iterable[Stage], zone: ZoneInfo) -> dict[str, Any]:
    """What a pipeline's roll-ups (the funnel's and the forecast's) depend on besides the
    deals: the time zone that makes the days and months, and each stage's position and kind
    (which decide what the funnel's "reached" counts). Stored in FunnelRollup.basis."""
    return {
        "zone": str(zone),
        "stages": sorted([stage.pk, stage.position, stage.kind] for stage in stages),
    }


def usable_pipelines(
    workspace_id: int, pipelines: Sequence[Pipeline], zone: ZoneInfo
) -> list[Pipeline] | None:
    """Of `pipelines`, those whose roll-ups are built for their current stages and `zone`;
    None when one that is not has deals (its figures can only be read from the deals). Three
    queries at most; two when none is built."""
    ids = [pipeline.pk for pipeline in pipelines]
    bases = dict(
        FunnelRollup.objects.filter(pipeline_id__in=ids, built_at__isnull=False).values_list(
            "pipeline_id", "basis"
        )
    )
    stages: dict[int, list[Stage]] = defaultdict(list)
    if bases:
        for stage in Stage.objects.filter(workspace_id=workspace_id, pipeline_id__in=ids):
            stages[stage.pipeline_id].append(stage)
    usable = [
        pipeline
        for pipeline in pipelines
        if bases.get(pipeline.pk) == rollup_basis(stages[pipeline.pk], zone)
    ]
    left_out = set(ids) - {pipeline.pk for pipeline in usable}
    deals = Deal.objects.filter(workspace_id=workspace_id, pipeline_id__in=left_out)
    if left_out and deals.exists():
        return None
    return usable


def deal_forecast_key(deal: Deal, zone: ZoneInfo) -> tuple[ForecastKey, Decimal] | None:
    """Where the deal counts in the forecast and with what amount; None when it counts
    nowhere (lost, or open without an expected close date)."""
    if deal.status == StageKind.OPEN and deal.expected_close_date is not None:
        return (
            ForecastKey(
                status=StageKind.OPEN,
                month=deal.expected_close_date.replace(day=1),
                stage_id=deal.stage_id,
                owner_id=deal.owner_id,
                team_id=deal.team_id,
                currency=deal.currency,
                category=deal.forecast_category,
            ),
            Decimal(deal.amount),
        )
    if deal.status == StageKind.WON and deal.closed_at is not None:
        return (
            ForecastKey(
                status=StageKind.WON,
                month=deal.closed_at.astimezone(zone).date().replace(day=1),
                stage_id=None,
                owner_id=deal.owner_id,
                team_id=deal.team_id,
                currency=deal.currency,
                category="",
            ),
            Decimal(deal.amount),
        )
    return None


def _row(pipeline: Pipeline, key: ForecastKey, deals: int, amount: Decimal, **extra: Any) -> Any:
    return ForecastMonth(
        workspace_id=pipeline.workspace_id,
        pipeline=pipeline,
        deals=deals,
        amount=amount,
        **{name: getattr(key, name) for name in KEY_FIELDS},
        **extra,
    )


def forecast_delta(
    pipeline: Pipeline,
    before: tuple[ForecastKey, Decimal] | None,
    after: tuple[ForecastKey, Decimal] | None,
) -> None:
    """Write what a change of one deal did (its contribution after less before) as delta
    rows; nothing when the change does not touch the forecast."""
    changes: dict[ForecastKey, tuple[int, Decimal]] = {}
    if after is not None:
        changes[after[0]] = (1, after[1])
    if before is not None:
        count, amount = changes.get(before[0], (0, Decimal(0)))
        changes[before[0]] = (count - 1, amount - before[1])
    rows = [
        _row(pipeline, key, count, amount, is_delta=True)
        for key, (count, amount) in changes.items()
        if count or amount
    ]
    if rows:
        ForecastMonth.objects.bulk_create(rows)


def forecast_rebuild(pipeline: Pipeline, zone: ZoneInfo) -> int:
    """Add the pipeline's rows up again from its deals (two aggregates); the caller holds the
    roll-up state exclusively. Returns the number of rows."""
    ForecastMonth.objects.filter(pipeline=pipeline).delete()
    deals = Deal.objects.filter(workspace_id=pipeline.workspace_id, pipeline=pipeline)
    opened = (
        deals.filter(status=StageKind.OPEN, expected_close_date__isnull=False)
        .annotate(month=TruncMonth("expected_close_date"))
        .values_list("month", "stage_id", "owner_id", "team_id", "currency", "forecast_category")
        .annotate(count=Count("pk"), amount=Sum("amount"))
        .order_by()
    )
    won = (
        deals.filter(status=StageKind.WON, closed_at__isnull=False)
        .annotate(month=TruncMonth("closed_at", tzinfo=zone, output_field=DateField()))
        .values_list("month", "owner_id", "team_id", "currency")
        .annotate(count=Count("pk"), amount=Sum("amount"))
        .order_by()
    )
    rows = [
        _row(
            pipeline,
            ForecastKey(StageKind.OPEN, _date(month), stage, owner, team, currency, category),
            count,
            amount or Decimal(0),
        )
        for month, stage, owner, team, currency, category, count, amount in opened
    ]
    rows += [
        _row(
            pipeline,
            ForecastKey(StageKind.WON, _date(month), None, owner, team, currency, ""),
            count,
            amount or Decimal(0),
        )
        for month, owner, team, currency, count, amount in won
    ]
    ForecastMonth.objects.bulk_create(rows, batch_size=1_000)
    return len(rows)


def forecast_fold(pipeline: Pipeline) -> int:
    """Add the pipeline's delta rows into its folded rows and remove them; the caller holds the
    roll-up state. Only the deltas read are removed: one committed meanwhile stays. Returns
    the number of keys touched."""
    deltas = list(
        ForecastMonth.objects.filter(pipeline=pipeline, is_delta=True).values_list(
            "pk", *KEY_FIELDS, "deals", "amount"
        )
    )
    if not deltas:
        return 0
    sums: dict[ForecastKey, tuple[int, Decimal]] = {}
    for _pk, *key_values, count, amount in deltas:
        key = ForecastKey(*key_values)
        before = sums.get(key, (0, Decimal(0)))
        sums[key] = (before[0] + count, before[1] + amount)
    months = {key.month for key in sums}
    stored = {
        _key_of(row): row
        for row in ForecastMonth.objects.filter(pipeline=pipeline, is_delta=False, month__in=months)
    }
    created, changed, emptied = [], [], []
    for key, (count, amount) in sums.items():
        row = stored.get(key)
        if row is None:
            if count or amount:
                created.append(_row(pipeline, key, count, amount))
            continue
        row.deals += count
        row.amount += amount
        if row.deals or row.amount:
            changed.append(row)
        else:
            emptied.append(row.pk)
    ForecastMonth.objects.bulk_create(created, batch_size=1_000)
    ForecastMonth.objects.bulk_update(changed, ["deals", "amount"], batch_size=1_000)
    ForecastMonth.objects.filter(pk__in=emptied).delete()
    ids = [row[0] for row in deltas]
    for start in range(0, len(ids), DELETE_BATCH):
        ForecastMonth.objects.filter(pk__in=ids[start : start + DELETE_BATCH]).delete()
    return len(sums)


def _key_of(row: ForecastMonth) -> ForecastKey:
    return ForecastKey(*(getattr(row, name) for name in KEY_FIELDS))


def _date(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


@dataclass(frozen=True)
class ForecastSum:
    """One key's sums over the months read, with the pipeline it belongs to."""

    pipeline_id: int
    key: ForecastKey
    deals: int
    amount: Decimal


def forecast_sums(
    pipelines: Sequence[Pipeline],
    currency: str,
    start: dt.date,
    end: dt.date,
    *,
    won_only: bool,
    where: Q | None = None,
) -> list[ForecastSum]:
    """The summed rows (folded and deltas, one statement) of `pipelines` in `currency` for the
    months in [start, end); the won ones only with `won_only`; only those `where` picks (by
    owner and team: what a role limited by record rules sees). Keys whose sums came back to
    nothing are left out."""
    if not pipelines:
        return []
    rows = ForecastMonth.objects.filter(
        workspace_id=pipelines[0].workspace_id,
        pipeline__in=[pipeline.pk for pipeline in pipelines],
        currency=currency,
        month__gte=start,
        month__lt=end,
    )
    if won_only:
        rows = rows.filter(status=StageKind.WON)
    if where is not None:
        rows = rows.filter(where)
    grouped = (
        rows.values_list("pipeline_id", *KEY_FIELDS)
        .annotate(count=Sum("deals"), total=Sum("amount"))
        .order_by()
    )
    return [
        ForecastSum(
            pipeline_id=pipeline_id, key=ForecastKey(*key_values), deals=count, amount=total
        )
        for pipeline_id, *key_values, count, total in grouped
        if count
    ]
