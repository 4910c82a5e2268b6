"""The sales funnel: what it counts, and the daily roll-ups that keep it fast over years.

The funnel of a pipeline and period counts the deals of the pipeline *created* in the period
(dates in the workspace time zone, both ends included). Of those, a deal has "reached" every
open or won stage up to the furthest one it has ever been in — its current stage or any stage
its history (DealStageChange) moved it to — so a deal that jumped from Qualification straight
to Proposal counts for Needs analysis too, and a deal moved back keeps what it reached. A deal
lost without any history counts for the first stage only. Conversion is reached(stage) /
reached(previous stage); average time in a stage is the mean of DealStageChange.seconds_in_from
over the moves out of it. Every figure is an aggregate over
`huike.sales.access.visible_deals(actor)`, so record rules apply.

Roll-ups. Everything the funnel adds up is additive per deal, so it is added up per day of
creation (`FunnelSums`, stored as FunnelDay rows) and per month: a view-all role's funnel over
three years reads a row for each whole month and a row for each day of the months the period
only cuts into (`stored_rows`: ~100 rows instead of a million deals and their moves). The same
sums are kept per owner and team (FunnelOwnerDay) for roles limited by record rules: a rep adds
up their own rows, a manager those of the members of their team subtree and of the deals filed
under its teams (who is in which team resolved when the report runs, as the record rules
resolve it: a member moved to another team brings their deals into the new team's funnel, and
the deals filed under the old team stay in its funnel too), and the deals seen only through a
share are read from the deals apart. Every write that changes what a deal contributes (create,
move, a change of a field the roll-ups add up or of the owner, delete) computes the deal's sums
before and after (`funnel_track`, `funnel_changed`, with the same queries as a day's deals) and
writes the difference as a FunnelDelta (per day, owner and team) in the same transaction; a
report adds the stored rows and the deltas in one statement, so it is exact whether or not the
refresh has run. The `sales.refresh_funnels` job folds the deltas into the days and months of
both kinds of rows every minute. The rows are only used while the pipeline's stages (order and
kinds) and the workspace time zone are the ones they were built for (FunnelRollup.basis);
otherwise reports read the deals and the job rebuilds the rows. The same calls, state and job
keep the forecast's monthly roll-ups (huike.sales.forecast_rollup).
"""

import datetime as dt
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate
from django.utils.timezone import now
from django.utils.translation import gettext as _

from huike.accounts.access import Actor
from huike.accounts.visibility import (
    RecordScope,
    record_scope,
    scope_of_ids,
)
from huike.core.errors import InvalidInputError
from huike.sales.access import shared_only_deals, visible_deals
from huike.sales.forecast_rollup import (
    ForecastKey,
    deal_forecast_key,
    forecast_delta,
    forecast_fold,
    forecast_rebuild,
    rollup_basis,
)
from huike.sales.models import (
    Deal,
    DealStageChange,
    ForecastMonth,
    FunnelDay,
    FunnelDelta,
    FunnelOwnerDay,
    FunnelRollup,
    Pipeline,
    Stage,
    StageKind,
)
from huike.sales.reports import cents, day_start, month_add

# The funnel's period when none is asked for: the last 90 days, today included.
FUNNEL_DEFAULT_DAYS = 90
# A funnel longer than this is refused: beyond a few years the counts say nothing about a
# period any more.
FUNNEL_MAX_DAYS = 5 * 366
# The roll-up state as a change of a deal reads it: on PostgreSQL with a lock that the refresh's
# fold (FOR NO KEY UPDATE) does not wait for, and its rebuild (FOR UPDATE) does. SQLite
# writes one transaction at a time (IMMEDIATE) and needs none.
STATE_READ = "SELECT basis, built_at FROM sales_funnelrollup WHERE pipeline_id = %s"
STATE_SHARED = STATE_READ + " FOR KEY SHARE"
# Deltas are removed this many at a time (an import of many deals leaves many).
DELETE_BATCH = 5_000


# ---------------------------------------------------------------------------------------------
# Sums
# ---------------------------------------------------------------------------------------------


@dataclass
class FunnelSums:
    """What a set of deals adds to the funnel: their number, per stage after the first how
    many reached it, per stage the seconds spent in it and the moves out of it, and the won
    and lost deals per (status, currency) with their amounts."""

    deals: int = 0
    reached: Counter[int] = field(default_factory=Counter)
    seconds: dict[int, tuple[int, int]] = field(default_factory=dict)
    closed: dict[tuple[str, str], tuple[int, Decimal]] = field(default_factory=dict)

    def add(self, other: "FunnelSums") -> None:
        self.deals += other.deals
        self.reached.update(other.reached)
        for stage_id, (total, moves) in other.seconds.items():
            mine = self.seconds.get(stage_id, (0, 0))
            self.seconds[stage_id] = (mine[0] + total, mine[1] + moves)
        for key, (count, amount) in other.closed.items():
            mine_closed = self.closed.get(key, (0, Decimal(0)))
            self.closed[key] = (mine_closed[0] + count, mine_closed[1] + amount)

    def subtract(self, other: "FunnelSums") -> None:
        self.add(other.negated())

    def negated(self) -> "FunnelSums":
        return FunnelSums(
            deals=-self.deals,
            reached=Counter({key: -value for key, value in self.reached.items()}),
            seconds={key: (-total, -moves) for key, (total, moves) in self.seconds.items()},
            closed={key: (-count, -amount) for key, (count, amount) in self.closed.items()},
        )

    def drop_zeros(self) -> None:
        """Forget the stages and currencies a delta took back to nothing."""
        self.reached = Counter({key: value for key, value in self.reached.items() if value})
        self.seconds = {key: pair for key, pair in self.seconds.items() if pair != (0, 0)}
        self.closed = {key: pair for key, pair in self.closed.items() if pair[0] or pair[1]}

    def is_zero(self) -> bool:
        return not (
            self.deals
            or any(self.reached.values())
            or any(pair != (0, 0) for pair in self.seconds.values())
            or any(count or amount for count, amount in self.closed.values())
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "reached": {str(stage_id): count for stage_id, count in self.reached.items()},
            "seconds": {str(stage_id): list(pair) for stage_id, pair in self.seconds.items()},
            "closed": [
                [status, currency, count, str(amount)]
                for (status, currency), (count, amount) in sorted(self.closed.items())
            ],
        }

    @classmethod
    def from_row(cls, deals: int, data: Mapping[str, Any]) -> "FunnelSums":
        return cls(
            deals=deals,
            reached=Counter({int(key): value for key, value in data.get("reached", {}).items()}),
            seconds={
                int(key): (int(pair[0]), int(pair[1]))
                for key, pair in data.get("seconds", {}).items()
            },
            closed={
                (status, currency): (int(count), Decimal(amount))
                for status, currency, count, amount in data.get("closed", [])
            },
        )


def _position_of(field_name: str, positions: Mapping[int, int], default: int | None) -> Case:
    """The funnel position of the stage `field_name` names (a CASE over the pipeline's few
    stages, so the big tables are read without joining the stage table)."""
    return Case(
        *(
            When(**{field_name: stage_id}, then=Value(position))
            for stage_id, position in positions.items()
        ),
        default=Value(default),
        output_field=IntegerField(),
    )


def _funnel_stages(stages: Iterable[Stage]) -> list[Stage]:
    """The stages a funnel shows: the open and won ones, in order."""
    return sorted(
        (stage for stage in stages if stage.kind != StageKind.LOST),
        key=lambda stage: (stage.position, stage.pk),
    )


class FunnelKey(NamedTuple):
    """What the funnel's sums are kept per: the day the deals were created on (in the
    workspace's time zone) and, where they are cut by it, their owner and team."""

    day: dt.date
    owner_id: int | None = None
    team_id: int | None = None


def funnel_sums(
    deals: QuerySet[Deal],
    pipeline: Pipeline,
    stages: Sequence[Stage],
    zone: ZoneInfo,
    since: dt.datetime,
    *,
    by_owner: bool = False,
) -> dict[FunnelKey, FunnelSums]:
    """What the `deals` (of `pipeline`, whose funnel stages are `stages`; none created before
    `since`) add to the funnel, per day of creation in `zone` and, `by_owner`, per owner and
    team. Three queries:

    1. the deals per day, current stage, status and currency (count, amount): a deal counts
       for its current stage and every open or won stage before it;
    2. the deals whose history went further than their current stage (moved back, or lost),
       from their backward moves only: a deal got further than where it stands only if it
       later left its furthest stage backwards or for a lost stage (leaving it forwards would
       have taken it further), so its furthest is the furthest stage such a move left;
    3. the seconds in each stage and the moves out of it.

    Moves are read from `since` on: they come after the deal's creation, so this leaves out
    nothing and lets an index skip the older history.
    """
    positions = {stage.pk: stage.position for stage in stages}
    later = stages[1:]
    day = TruncDate("created_at", tzinfo=zone)
    owned = ("owner_id", "team_id") if by_owner else ()
    result: dict[FunnelKey, FunnelSums] = {}

    def of(key: dt.date, *owner_and_team: int | None) -> FunnelSums:
        funnel_key = FunnelKey(key, *owner_and_team)
        sums = result.get(funnel_key)
        if sums is None:
            sums = result[funnel_key] = FunnelSums()
        return sums

    rows = (
        deals.annotate(day=day)
        .values_list("day", *owned, "stage_id", "status", "currency")
        .annotate(count=Count("pk"), amount=Sum("amount"))
        .order_by()
    )
    for key, *group, stage_id, status, currency, count, amount in rows:
        sums = of(key, *group)
        sums.deals += count
        position = positions.get(stage_id, -1)
        for stage in later:
            if stage.position <= position:
                sums.reached[stage.pk] += count
        if status in (StageKind.WON, StageKind.LOST):
            before = sums.closed.get((status, currency), (0, Decimal(0)))
            sums.closed[(status, currency)] = (before[0] + count, before[1] + (amount or 0))
    if later:
        backward = (
            deals.filter(
                stage_changes__workspace_id=pipeline.workspace_id,
                stage_changes__pipeline=pipeline,
                stage_changes__changed_at__gte=since,
            )
            .annotate(
                left=_position_of("stage_changes__from_stage_id", positions, None),
                entered=_position_of("stage_changes__to_stage_id", positions, -1),
            )
            .filter(left__gt=F("entered"))
            .annotate(day=day, current=_position_of("stage_id", positions, -1))
            .values_list("pk", "day", *owned, "current")
            .annotate(moved=Max("left"))
            .order_by()
        )
        for _pk, key, *group, current, moved in backward:
            sums = of(key, *group)
            for stage in later:
                if current < stage.position <= moved:
                    sums.reached[stage.pk] += 1
    seconds = (
        DealStageChange.objects.filter(
            workspace_id=pipeline.workspace_id,
            pipeline=pipeline,
            changed_at__gte=since,
            deal__in=deals.values("pk"),
            from_stage__in=list(positions),
            seconds_in_from__isnull=False,
        )
        .annotate(day=TruncDate("deal__created_at", tzinfo=zone))
        .values_list("day", *(f"deal__{name}" for name in owned), "from_stage")
        .annotate(total=Sum("seconds_in_from"), moves=Count("pk"))
        .order_by()
    )
    for key, *group, stage_id, total, moves in seconds:
        of(key, *group).seconds[stage_id] = (int(total), moves)
    return result


# ---------------------------------------------------------------------------------------------
# Deltas and roll-ups (writes)
# ---------------------------------------------------------------------------------------------


def _deal_sums(
    deal: Deal, pipeline: Pipeline, stages: Sequence[Stage], zone: ZoneInfo
) -> tuple[FunnelKey, FunnelSums]:
    """The deal's key (day, owner, team) and what it adds there: funnel_sums' rules for one deal,
    worked out here from the deal as it is in memory and its moves (one query; compiling
    funnel_sums' three would cost a change of a deal more than the change itself). The
    roll-up tests hold the two to the same figures."""
    day = deal.created_at.astimezone(zone).date()
    positions = {stage.pk: stage.position for stage in stages}
    later = stages[1:]
    sums = FunnelSums(deals=1)
    current = positions.get(deal.stage_id, -1)
    if deal.status in (StageKind.WON, StageKind.LOST):
        sums.closed[(deal.status, deal.currency)] = (1, deal.amount)
    moves = DealStageChange.objects.filter(
        workspace_id=pipeline.workspace_id,
        pipeline=pipeline,
        deal_id=deal.pk,
        changed_at__gte=day_start(day, zone),
    ).values_list("from_stage_id", "to_stage_id", "seconds_in_from")
    furthest = current
    for from_stage, to_stage, seconds in moves:
        left = positions.get(from_stage) if from_stage is not None else None
        if left is not None and left > positions.get(to_stage, -1):
            furthest = max(furthest, left)
        if left is not None and seconds is not None:
            total, count = sums.seconds.get(from_stage, (0, 0))
            sums.seconds[from_stage] = (total + seconds, count + 1)
    for stage in later:
        if stage.position <= furthest:
            sums.reached[stage.pk] += 1
    return FunnelKey(day, deal.owner_id, deal.team_id), sums


@dataclass
class FunnelTrack:
    """A deal's contribution before a change, for funnel_changed to write the difference."""

    pipeline: Pipeline
    stages: list[Stage]
    zone: ZoneInfo
    before: tuple[FunnelKey, FunnelSums] | None
    # Where the deal counted in the forecast's roll-ups (huike.sales.forecast_rollup).
    forecast_before: tuple[ForecastKey, Decimal] | None = None


def _state_shared(pipeline: Pipeline) -> tuple[Any, Any] | None:
    with connection.cursor() as cursor:
        cursor.execute(
            STATE_SHARED if connection.vendor == "postgresql" else STATE_READ, [pipeline.pk]
        )
        row: tuple[Any, Any] | None = cursor.fetchone()
    return row


def funnel_track(pipeline: Pipeline, deal: Deal | None) -> FunnelTrack | None:
    """Call in the transaction that changes `deal` (locked) of `pipeline` — or, for a deal
    about to be created, with None — before changing it. Takes a share lock on the
    pipeline's roll-up state, so a rebuild (which takes it exclusively) never adds up a day
    while a change of it is half written. None when the roll-ups are not in use (never
    built, or built for other stages or another time zone): the rebuild reads everything."""
    row = _state_shared(pipeline)
    if row is None:
        # Made here if need be, so the lock has a row: a refresh starting now waits for us.
        FunnelRollup.objects.get_or_create(
            pipeline=pipeline, defaults={"workspace_id": pipeline.workspace_id}
        )
        row = _state_shared(pipeline)
    if row is None or row[1] is None:
        return None
    basis = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    all_stages = list(Stage.objects.filter(pipeline=pipeline))
    zone = ZoneInfo(basis["zone"])
    if rollup_basis(all_stages, zone) != basis:
        return None
    stages = _funnel_stages(all_stages)
    if deal is None:
        return FunnelTrack(pipeline=pipeline, stages=stages, zone=zone, before=None)
    return FunnelTrack(
        pipeline=pipeline,
        stages=stages,
        zone=zone,
        before=_deal_sums(deal, pipeline, stages, zone),
        forecast_before=deal_forecast_key(deal, zone),
    )


def funnel_changed(track: FunnelTrack | None, deal: Deal | None) -> None:
    """Write what the change did to the funnel and the forecast: the deal's sums now (none
    once deleted) less its sums at funnel_track, per day and per forecast key touched.
    Nothing when nothing changed."""
    if track is None:
        return
    forecast_delta(
        track.pipeline,
        track.forecast_before,
        deal_forecast_key(deal, track.zone) if deal is not None else None,
    )
    changes: dict[FunnelKey, FunnelSums] = {}
    if deal is not None:
        key, after = _deal_sums(deal, track.pipeline, track.stages, track.zone)
        changes[key] = after
    if track.before is not None:
        key, before = track.before
        changes.setdefault(key, FunnelSums()).subtract(before)
    FunnelDelta.objects.bulk_create(
        FunnelDelta(
            workspace_id=track.pipeline.workspace_id,
            pipeline=track.pipeline,
            day=key.day,
            owner_id=key.owner_id,
            team_id=key.team_id,
            deals=delta.deals,
            sums=delta.as_json(),
        )
        for key, delta in changes.items()
        if not delta.is_zero()
    )


def _per_day(sums: Mapping[FunnelKey, FunnelSums]) -> dict[FunnelKey, FunnelSums]:
    """The sums per owner and team added up per day (keys without owner and team)."""
    days: dict[FunnelKey, FunnelSums] = {}
    for key, value in sums.items():
        days.setdefault(FunnelKey(key.day), FunnelSums()).add(value)
    return days


def _per_month(sums: Mapping[FunnelKey, FunnelSums]) -> dict[FunnelKey, FunnelSums]:
    """The sums added up per month (keyed by its first day), owner and team kept."""
    months: dict[FunnelKey, FunnelSums] = {}
    for key, value in sums.items():
        month = key._replace(day=key.day.replace(day=1))
        months.setdefault(month, FunnelSums()).add(value)
    return months


# The four kinds of stored rows: (model, is_month).
STORED = (
    (FunnelDay, False),
    (FunnelDay, True),
    (FunnelOwnerDay, False),
    (FunnelOwnerDay, True),
)


def _stored_sums(
    model: type[FunnelDay] | type[FunnelOwnerDay],
    is_month: bool,
    per_owner: Mapping[FunnelKey, FunnelSums],
) -> dict[FunnelKey, FunnelSums]:
    """What the `model`'s rows of one kind hold, from the sums per day, owner and team."""
    sums = dict(per_owner) if model is FunnelOwnerDay else _per_day(per_owner)
    return _per_month(sums) if is_month else sums


def _rebuild(pipeline: Pipeline, state: FunnelRollup) -> int:
    all_stages, stages, zone = _stages_and_zone(pipeline)
    deals = Deal.objects.filter(workspace_id=pipeline.workspace_id, pipeline=pipeline)
    first = deals.order_by("created_at").values_list("created_at", flat=True).first()
    sums = (
        funnel_sums(deals, pipeline, stages, zone, first, by_owner=True)
        if first is not None
        else {}
    )
    FunnelDay.objects.filter(pipeline=pipeline).delete()
    FunnelOwnerDay.objects.filter(pipeline=pipeline).delete()
    FunnelDelta.objects.filter(pipeline=pipeline).delete()
    for model, is_month in STORED:
        rows = _stored_sums(model, is_month, sums)
        model.objects.bulk_create(
            [
                _stored(model, pipeline, key, value, is_month)
                for key, value in rows.items()
                if value.deals
            ],
            batch_size=1_000,
        )
    forecast_rebuild(pipeline, zone)
    state.basis = rollup_basis(all_stages, zone)
    state.built_at = now()
    state.save(update_fields=["basis", "built_at"])
    return len({key.day for key in sums})


def _stored(
    model: type[FunnelDay] | type[FunnelOwnerDay],
    pipeline: Pipeline,
    key: FunnelKey,
    value: FunnelSums,
    is_month: bool,
) -> Any:
    extra = {} if model is FunnelDay else {"owner_id": key.owner_id, "team_id": key.team_id}
    return model(
        workspace_id=pipeline.workspace_id,
        pipeline=pipeline,
        day=key.day,
        is_month=is_month,
        deals=value.deals,
        sums=value.as_json(),
        **extra,
    )


def _key_of(row: FunnelDay | FunnelOwnerDay) -> FunnelKey:
    if isinstance(row, FunnelDay):
        return FunnelKey(row.day)
    return FunnelKey(row.day, row.owner_id, row.team_id)


def _fold_into(
    model: type[FunnelDay] | type[FunnelOwnerDay],
    is_month: bool,
    pipeline: Pipeline,
    deltas: Mapping[FunnelKey, FunnelSums],
) -> None:
    """Add the summed deltas into the model's stored rows of one kind (days or months): new
    keys get a row, keys taken back to nothing lose theirs."""
    days = {key.day for key in deltas}
    stored: dict[FunnelKey, Any] = {
        _key_of(row): row
        for row in model.objects.filter(pipeline=pipeline, is_month=is_month, day__in=days)
    }
    created: list[Any] = []
    changed: list[Any] = []
    emptied: list[int] = []
    for key, delta in deltas.items():
        row = stored.get(key)
        if row is None:
            row = _stored(model, pipeline, key, FunnelSums(), is_month)
        total = FunnelSums.from_row(row.deals, row.sums)
        total.add(delta)
        total.drop_zeros()
        if total.is_zero():
            if row.pk is not None:
                emptied.append(row.pk)
            continue
        row.deals, row.sums = total.deals, total.as_json()
        (changed if row.pk is not None else created).append(row)
    model.objects.bulk_create(created, batch_size=1_000)
    model.objects.bulk_update(changed, ["deals", "sums"], batch_size=1_000)
    model.objects.filter(pk__in=emptied).delete()


def _fold(pipeline: Pipeline) -> int:
    """Add the deltas written so far into their days and months (FunnelDay) and their days
    and months per owner and team (FunnelOwnerDay) and remove them; the caller holds the
    roll-up state. Only the deltas read are removed: one committed meanwhile stays. Returns
    the number of days."""
    deltas = list(
        FunnelDelta.objects.filter(pipeline=pipeline).values_list(
            "pk", "day", "owner_id", "team_id", "deals", "sums"
        )
    )
    if not deltas:
        return 0
    by_key: dict[FunnelKey, FunnelSums] = {}
    for _pk, day, owner_id, team_id, deals, data in deltas:
        key = FunnelKey(day, owner_id, team_id)
        by_key.setdefault(key, FunnelSums()).add(FunnelSums.from_row(deals, data))
    for model, is_month in STORED:
        _fold_into(model, is_month, pipeline, _stored_sums(model, is_month, by_key))
    ids = [pk for pk, *_rest in deltas]
    for start in range(0, len(ids), DELETE_BATCH):
        FunnelDelta.objects.filter(pk__in=ids[start : start + DELETE_BATCH]).delete()
    return len({key.day for key in by_key})


def _stages_and_zone(pipeline: Pipeline) -> tuple[list[Stage], list[Stage], ZoneInfo]:
    all_stages = list(Stage.objects.filter(pipeline=pipeline))
    zone = pipeline.workspace.zone
    return all_stages, _funnel_stages(all_stages), zone


def funnel_refresh(pipeline: Pipeline) -> int:
    """Bring the pipeline's FunnelDay and ForecastMonth rows up to date and return the
    number of days (and forecast keys, when folding) touched.

    Rows built for the current stages and time zone get the deltas written since folded in,
    under the state's row lock in a mode writers' share locks do not wait for. Otherwise
    (never built, or stages or time zone changed) every day is added up again from the deals
    under the state's exclusive lock: changes of the pipeline's deals wait for it, so none is
    half in the new rows and half in a delta."""
    FunnelRollup.objects.get_or_create(
        pipeline=pipeline, defaults={"workspace_id": pipeline.workspace_id}
    )
    with transaction.atomic():
        state = FunnelRollup.objects.select_for_update(no_key=True).get(pipeline=pipeline)
        all_stages, _stages, zone = _stages_and_zone(pipeline)
        basis = rollup_basis(all_stages, zone)
        if state.built_at is not None and state.basis == basis:
            return _fold(pipeline) + forecast_fold(pipeline)
    with transaction.atomic():
        state = FunnelRollup.objects.select_for_update().get(pipeline=pipeline)
        return _rebuild(pipeline, state)


def funnel_stages_changed(pipeline: Pipeline) -> None:
    """The pipeline's stages were added, removed, reordered or changed kind: its roll-ups are
    no longer used and the next refresh rebuilds them."""
    FunnelRollup.objects.filter(pipeline=pipeline).update(built_at=None)


def funnels_to_refresh() -> list[Pipeline]:
    """Pipelines with deltas to fold; pipelines with deals whose roll-ups are not built (deals
    from before roll-ups existed, stages changed); and pipelines whose workspace changed its
    time zone since their roll-ups were built."""
    has_deals = Deal.objects.filter(
        workspace_id=OuterRef("workspace_id"), pipeline_id=OuterRef("pk")
    )
    built = FunnelRollup.objects.filter(built_at__isnull=False)
    pipelines = Pipeline.objects.select_related("workspace")
    wanted = list(
        pipelines.filter(
            Q(pk__in=FunnelDelta.objects.values("pipeline_id"))
            | Q(pk__in=ForecastMonth.objects.filter(is_delta=True).values("pipeline_id"))
            | (Exists(has_deals) & ~Q(pk__in=built.values("pipeline_id")))
        )
    )
    seen = {pipeline.pk for pipeline in wanted}
    moved = [
        pipeline_id
        for pipeline_id, basis, timezone in built.values_list(
            "pipeline_id", "basis", "workspace__timezone"
        )
        if pipeline_id not in seen and basis.get("zone") != timezone
    ]
    return wanted + list(pipelines.filter(pk__in=moved))


# ---------------------------------------------------------------------------------------------
# The report (reads)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MoneyTotal:
    currency: str
    count: int
    amount: Decimal | None  # None: the role may not see amounts


@dataclass(frozen=True)
class FunnelStage:
    stage: Stage
    reached: int
    # reached / reached at the previous stage (0-1); None for the first stage or after zero.
    conversion_rate: float | None
    average_seconds: int | None
    # Share of the first stage's deals that got this far (0-1): the bar's width.
    share_of_top: float

    @property
    def public_id(self) -> uuid.UUID:
        return self.stage.public_id


@dataclass(frozen=True)
class Funnel:
    pipeline: Pipeline
    date_from: dt.date
    date_to: dt.date
    deal_count: int
    stages: list[FunnelStage]
    won: list[MoneyTotal]
    lost: list[MoneyTotal]
    won_count: int
    lost_count: int
    show_amounts: bool

    @property
    def win_rate(self) -> float | None:
        closed = self.won_count + self.lost_count
        return self.won_count / closed if closed else None


def funnel_period(
    actor: Actor, date_from: dt.date | None, date_to: dt.date | None
) -> tuple[dt.date, dt.date]:
    """The period asked for, completed with the defaults; InvalidInputError when backwards or
    too long."""
    date_to = date_to or actor.workspace.today()
    date_from = date_from or date_to - dt.timedelta(days=FUNNEL_DEFAULT_DAYS - 1)
    if date_from > date_to:
        raise InvalidInputError(_("The period ends before it starts."), field="from")
    if (date_to - date_from).days >= FUNNEL_MAX_DAYS:
        raise InvalidInputError(
            _("Choose a period of at most %(days)d days.") % {"days": FUNNEL_MAX_DAYS},
            field="from",
        )
    return date_from, date_to


def _created_in(
    deals: QuerySet[Deal], pipeline: Pipeline, zone: ZoneInfo, date_from: dt.date, date_to: dt.date
) -> QuerySet[Deal]:
    """Of `deals`, those of `pipeline` created in the period (days in `zone`)."""
    return deals.filter(
        pipeline=pipeline,
        created_at__gte=day_start(date_from, zone),
        created_at__lt=day_start(date_to + dt.timedelta(days=1), zone),
    )


def _period_sums(
    deals: QuerySet[Deal],
    pipeline: Pipeline,
    stages: Sequence[Stage],
    zone: ZoneInfo,
    date_from: dt.date,
) -> FunnelSums:
    """funnel_sums of `deals` (created from `date_from` on) added up over their days."""
    total = FunnelSums()
    for value in funnel_sums(deals, pipeline, stages, zone, day_start(date_from, zone)).values():
        total.add(value)
    return total


def stored_rows(date_from: dt.date, date_to: dt.date) -> Q:
    """The stored rows that add up the period: a month's row for each month wholly inside
    it, a day's row for each day of the months it only cuts into."""
    first = date_from if date_from.day == 1 else month_add(date_from.replace(day=1), 1)
    end = (date_to + dt.timedelta(days=1)).replace(day=1)
    days = Q(is_month=False, day__gte=date_from, day__lte=date_to)
    if first >= end:
        return days
    return Q(is_month=True, day__gte=first, day__lt=end) | (
        days & (Q(day__lt=first) | Q(day__gte=end))
    )


def _rolled_up(
    actor: Actor,
    pipeline: Pipeline,
    all_stages: Sequence[Stage],
    date_from: dt.date,
    date_to: dt.date,
) -> FunnelSums | None:
    """The period's sums from the stored days and the deltas written since (one statement,
    so one snapshot: a refresh folding deltas in meanwhile is seen wholly or not at all);
    None when the roll-ups cannot be used (never built, or built for other stages or
    another time zone). A view-all role reads the days (FunnelDay); a role limited by record
    rules the days per owner and team (FunnelOwnerDay) of the owners and teams it sees, and
    the deals shared with it apart (`_shared_only`)."""
    state = FunnelRollup.objects.filter(pipeline=pipeline, built_at__isnull=False).first()
    if state is None or state.basis != rollup_basis(all_stages, actor.workspace.zone):
        return None
    period = Q(pipeline=pipeline, day__gte=date_from, day__lte=date_to)
    stored = Q(pipeline=pipeline) & stored_rows(date_from, date_to)
    total = FunnelSums()
    days: QuerySet[Any]
    if actor.has("records.view_all"):
        days = FunnelDay.objects.filter(stored)
        deltas = FunnelDelta.objects.filter(period)
    else:
        scope = record_scope(actor)
        if scope is None:
            return total
        seen = scope_of_ids(scope, actor.workspace.pk)
        days = FunnelOwnerDay.objects.filter(stored, seen)
        deltas = FunnelDelta.objects.filter(period, seen)
        total.add(_shared_only(actor, scope, pipeline, all_stages, date_from, date_to))
    for deals, data in days.values_list("deals", "sums").union(
        deltas.values_list("deals", "sums"), all=True
    ):
        total.add(FunnelSums.from_row(deals, data))
    total.drop_zeros()
    return total


def _shared_only(
    actor: Actor,
    scope: RecordScope,
    pipeline: Pipeline,
    all_stages: Sequence[Stage],
    date_from: dt.date,
    date_to: dt.date,
) -> FunnelSums:
    """What the deals the actor sees only because they were shared add to the period's
    funnel (the others are in the rows of the owners and teams they see). One query when
    nothing is shared with them; four otherwise."""
    zone = actor.workspace.zone
    # Shared with the actor means visible to them: no record rule to add.
    workspace_deals = Deal.objects.filter(workspace=actor.workspace)
    deals = shared_only_deals(
        actor, scope, _created_in(workspace_deals, pipeline, zone, date_from, date_to)
    )
    if deals is None:
        return FunnelSums()
    return _period_sums(deals, pipeline, _funnel_stages(all_stages), zone, date_from)


def _money_totals(sums: FunnelSums, status: str, show_amounts: bool) -> list[MoneyTotal]:
    return [
        MoneyTotal(currency=currency, count=count, amount=cents(amount) if show_amounts else None)
        for (kind, currency), (count, amount) in sorted(sums.closed.items())
        if kind == status
    ]


def funnel_report(
    actor: Actor,
    pipeline: Pipeline,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> Funnel:
    """The funnel of `pipeline` for the deals created in the period (see the module's doc).
    Needs forecast.view; amounts only with amounts.view. Read from the roll-ups whatever the
    period (three queries for a view-all role; for a manager seven, ten when deals were
    shared with them); while the roll-ups are being rebuilt, from the visible deals."""
    actor.require("forecast.view")
    actor.require("deals.view")
    date_from, date_to = funnel_period(actor, date_from, date_to)
    show_amounts = actor.has("amounts.view")
    all_stages = list(Stage.objects.filter(workspace=actor.workspace, pipeline=pipeline))
    stages = _funnel_stages(all_stages)
    sums = _rolled_up(actor, pipeline, all_stages, date_from, date_to)
    if sums is None:
        zone = actor.workspace.zone
        deals = _created_in(visible_deals(actor), pipeline, zone, date_from, date_to)
        sums = _period_sums(deals, pipeline, stages, zone, date_from)
    won, lost = (
        _money_totals(sums, StageKind.WON, show_amounts),
        _money_totals(sums, StageKind.LOST, show_amounts),
    )
    rows: list[FunnelStage] = []
    for index, stage in enumerate(stages):
        reached = sums.deals if index == 0 else sums.reached.get(stage.pk, 0)
        previous = rows[-1].reached if rows else None
        total_seconds, moves = sums.seconds.get(stage.pk, (0, 0))
        rows.append(
            FunnelStage(
                stage=stage,
                reached=reached,
                conversion_rate=reached / previous if previous else None,
                average_seconds=round(total_seconds / moves) if moves else None,
                share_of_top=reached / sums.deals if sums.deals else 0.0,
            )
        )
    return Funnel(
        pipeline=pipeline,
        date_from=date_from,
        date_to=date_to,
        deal_count=sums.deals,
        stages=rows,
        won=won,
        lost=lost,
        won_count=sum(total.count for total in won),
        lost_count=sum(total.count for total in lost),
        show_amounts=show_amounts,
    )
