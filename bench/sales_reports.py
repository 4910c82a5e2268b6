"""Funnel and forecast on a million deals (issue 5: p50 ≤ 500 ms on PostgreSQL), each beside
the physical limit measured in the same run: the same aggregates written by hand in SQL and
run through a cursor (no ORM, no Python after the rows come back).

Seeds one workspace with N deals over three years in one pipeline (20 reps in 4 teams; 65 %
open, 20 % won, 15 % lost; every deal with its stage history as the services write it: the
creation, then each move), with COPY.
Then builds the funnel's roll-ups (huike.sales.funnel.funnel_refresh, timed once: days and
months, per pipeline and per owner and team) and times, over --runs runs each:

  - funnel_report for the whole three years (every deal) and for the default 90 days, from
    the roll-ups; then again after --moves deals of old days were moved through deal_move
    (their deltas not yet folded in), the time of those moves against moves with the
    roll-ups out of use, and the refresh folding the deltas in,
  - forecast_report for the coming three months per rep (and its statistical forecast over
    24 months of won deals), from its monthly roll-ups (huike.sales.forecast_rollup) and, as it
    was before them, from the deals; every run checks the two agree after the build, with
    deltas, after the fold and after a rebuild,

as the admin (a view-all role: the widest scope, no record-rule filter to help); then the
funnel and forecast of a manager of one of the four teams (record rules: from the rows per
owner and team, and from the deals as before them; the two checked to agree after the build,
with deltas, after the fold and after a rebuild). Limits: the
funnel's and the forecast's aggregates over the deals written by hand in SQL, and the bare
reads of the stored rows (SELECT of the FunnelDay / FunnelOwnerDay rows the report reads; the
ForecastMonth rows summed per key, no Python).

Usage (creates and drops its own database, huike_bench_reports):
  .venv/bin/python bench/sales_reports.py --deals 1000000 \
      --database postgres://postgres@127.0.0.1:5432/postgres
"""

import argparse
import datetime as dt
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATABASE = "huike_bench_reports"
REPS = 20
TEAMS = 4
COPY_BATCH = 100_000
STAGES = (
    ("Qualification", "open", 10),
    ("Needs analysis", "open", 30),
    ("Proposal", "open", 60),
    ("Negotiation", "open", 80),
    ("Won", "won", 100),
    ("Lost", "lost", 0),
)
CATEGORIES = ("pipeline", "pipeline", "best_case", "commit", "omitted")


def configure(database: str, *, reuse: bool = False) -> Any:
    tmp = tempfile.mkdtemp(prefix="huike-bench-reports-")
    os.environ["HUIKE_VAR_DIR"] = tmp
    os.environ["HUIKE_LOG_LEVEL"] = "WARNING"
    import psycopg

    parts = urlsplit(database)
    admin = psycopg.connect(database, autocommit=True)
    if not reuse:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{DATABASE}"))
    return admin


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return round(statistics.median(ordered) * 1000, 1), round(p99 * 1000, 1)


def timed(function: Callable[[], Any], runs: int) -> list[float]:
    function()  # warm the caches once
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True, help="a PostgreSQL URL")
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--moves", type=int, default=200, help="moves made after the build")
    parser.add_argument("--explain", action="store_true", help="print the plans")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="time a kept database again")
    args = parser.parse_args()
    admin = configure(args.database, reuse=args.reuse)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("HUIKE_MASTER_KEY", "Qm9va2tlZXBpbmctYmVuY2gtbWFzdGVyLWtleS0zMmI=")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from huike.accounts.access import Actor
    from huike.accounts.models import Membership, Role, Team, Workspace
    from huike.accounts.services import user_get_or_create, workspace_create
    from huike.accounts.visibility import team_subtree_ids
    from huike.sales import funnel, reports
    from huike.sales.deals import deal_move
    from huike.sales.models import (
        Deal,
        DealStageChange,
        FunnelDelta,
        FunnelRollup,
        Pipeline,
        Stage,
    )

    def seed() -> None:
        workspace = workspace_create(slug="bench", name="Bench", owner_email="o@bench.test")
        sales_role = Role.objects.get(workspace=workspace, key="sales")
        teams = []
        for number in range(TEAMS):
            team = Team.objects.create(workspace=workspace, name=f"Team {number}", path="/")
            team.path = f"/{team.pk}/"
            team.save(update_fields=["path"])
            teams.append(team)
        reps = [
            Membership.objects.create(
                workspace=workspace,
                user=user_get_or_create(email=f"rep{number}@bench.test", password=None),
                role=sales_role,
                team=teams[number % TEAMS],
            )
            for number in range(REPS)
        ]
        pipeline = Pipeline.objects.create(workspace=workspace, name="Sales", is_default=True)
        stages = [
            Stage.objects.create(
                workspace=workspace,
                pipeline=pipeline,
                name=name,
                kind=kind,
                probability=probability,
                position=position,
            )
            for position, (name, kind, probability) in enumerate(STAGES)
        ]
        open_stages, won, lost = stages[:4], stages[4], stages[5]

        # --- seeding (COPY) ---------------------------------------------------------------------
        rng = random.Random(5)
        now = timezone.now()
        today = now.date()
        span = 3 * 365 * 86400
        deal_fields = [field for field in Deal._meta.concrete_fields]
        change_fields = [
            field for field in DealStageChange._meta.concrete_fields if field.column != "id"
        ]

        def defaults(fields: list[Any]) -> dict[str, Any]:
            values = {}
            for field in fields:
                values[field.attname] = field.get_default()
            return values

        deal_defaults = defaults(deal_fields)
        change_defaults = defaults(change_fields)
        deal_columns = ", ".join(field.column for field in deal_fields)
        change_columns = ", ".join(field.column for field in change_fields)
        started = time.perf_counter()
        changes = 0
        with transaction.atomic():
            raw = connection.cursor().cursor
            for batch_start in range(0, args.deals, COPY_BATCH):
                deal_rows, change_rows = [], []
                for pk in range(batch_start + 1, min(args.deals, batch_start + COPY_BATCH) + 1):
                    created = now - dt.timedelta(seconds=rng.randrange(span))
                    roll = rng.random()
                    if roll < 0.65:
                        stage = rng.choices(open_stages, weights=(40, 30, 20, 10))[0]
                        closed = None
                        expected = today + dt.timedelta(days=rng.randrange(-60, 180))
                    else:
                        stage = won if roll < 0.85 else lost
                        closed = min(now, created + dt.timedelta(days=rng.randrange(1, 120)))
                        expected = closed.date()
                    rep = reps[pk % REPS]
                    values = {
                        **deal_defaults,
                        "id": pk,
                        "workspace_id": workspace.pk,
                        "owner_id": rep.pk,
                        "team_id": None,
                        "public_id": uuid.uuid4(),
                        "name": f"Deal {pk}",
                        "pipeline_id": pipeline.pk,
                        "stage_id": stage.pk,
                        "status": stage.kind,
                        "amount": Decimal(rng.randrange(1_000, 500_000)),
                        "currency": "CNY",
                        "expected_close_date": expected,
                        "forecast_category": rng.choice(CATEGORIES),
                        "stage_entered_at": created,
                        "closed_at": closed,
                        "created_at": created,
                        "updated_at": created,
                    }
                    deal_rows.append([values[field.attname] for field in deal_fields])
                    # The deal's history, as deal_create and deal_move write it: the
                    # creation (into the first stage), then each move, forward through some
                    # of the stages before the current one (for a lost deal: up to a random
                    # open stage), 20 % of the moved deals with one step back on the way.
                    last = stage.position if stage.kind != "lost" else rng.randrange(0, 4)
                    path = [stages[0]] + [
                        between for between in stages[1:last] if rng.random() < 0.5
                    ]
                    if last and stages[last] is not path[-1]:
                        path.append(stages[last])
                    if len(path) > 2 and rng.random() < 0.2:
                        path[-1:-1] = [path[-1], path[-2]]  # ..., B, C, B, C
                    if stage.kind == "lost":
                        path.append(lost)
                    elif path[-1] is not stage:
                        path.append(stage)
                    at = created
                    moves = [(None, path[0], None)] + [
                        (before, after, rng.randrange(3600, 20 * 86400))
                        for before, after in itertools.pairwise(path)
                    ]
                    for before, after, seconds in moves:
                        at += dt.timedelta(seconds=seconds or 0)
                        change = {
                            **change_defaults,
                            "workspace_id": workspace.pk,
                            "deal_id": pk,
                            "pipeline_id": pipeline.pk,
                            "from_stage_id": before.pk if before else None,
                            "to_stage_id": after.pk,
                            "seconds_in_from": seconds,
                            "changed_at": at,
                        }
                        change_rows.append([change[field.attname] for field in change_fields])
                with raw.copy(f"COPY sales_deal ({deal_columns}) FROM STDIN") as copy:
                    for row in deal_rows:
                        copy.write_row(row)
                with raw.copy(f"COPY sales_dealstagechange ({change_columns}) FROM STDIN") as copy:
                    for row in change_rows:
                        copy.write_row(row)
                changes += len(change_rows)
            raw.execute(
                "SELECT setval(pg_get_serial_sequence('sales_deal', 'id'), %s)", [args.deals]
            )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE sales_deal")
            cursor.execute("VACUUM ANALYZE sales_dealstagechange")
        print(
            f"seeded {args.deals:,} deals and {changes:,} stage changes in "
            f"{time.perf_counter() - started:.0f} s"
        )

    if not args.reuse:
        seed()
    workspace = Workspace.objects.get(slug="bench")
    owner = Membership.objects.select_related("workspace", "role", "user").get(
        workspace=workspace, user__email="o@bench.test"
    )
    actor = Actor.for_membership(owner)
    pipeline = Pipeline.objects.get(workspace=workspace, name="Sales")
    stages = list(Stage.objects.filter(pipeline=pipeline))
    now = timezone.now()
    today = now.date()

    # --- Huike --------------------------------------------------------------------------------
    zone = actor.workspace.zone
    whole = (today - dt.timedelta(days=3 * 366), today)
    recent = funnel.funnel_period(actor, None, None)
    FunnelRollup.objects.filter(pipeline=pipeline).update(built_at=None)
    started = time.perf_counter()
    days = funnel.funnel_refresh(pipeline)
    print(f"roll-ups built: {days:,} days in {time.perf_counter() - started:.1f} s")

    def funnel_whole() -> Any:
        return funnel.funnel_report(actor, pipeline, *whole)

    def funnel_recent() -> Any:
        return funnel.funnel_report(actor, pipeline, *recent)

    def forecast() -> Any:
        return reports.forecast_report(actor, group="rep")

    def figures(report: Any) -> Any:
        return (
            [(row.key, [vars(cell) for cell in row.cells]) for row in report.rows],
            report.statistical.history,
            report.statistical.forecast,
        )

    def forecast_from_the_deals() -> Any:
        """The forecast as it was before its roll-ups: read from the deals (the roll-ups set
        aside for one rolled-back transaction)."""
        with transaction.atomic():
            FunnelRollup.objects.filter(pipeline=pipeline).update(built_at=None)
            report = forecast()
            transaction.set_rollback(True)
        return report

    def check_forecast(when: str) -> None:
        assert figures(forecast()) == figures(forecast_from_the_deals()), (
            f"the forecast's roll-ups disagree with the deals {when}"
        )

    # --- the limit: the same aggregates, by hand --------------------------------------------
    def bare_funnel(date_from: dt.date, date_to: dt.date) -> Callable[[], Any]:
        start = dt.datetime.combine(date_from, dt.time.min, tzinfo=zone)
        end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
        # The same three aggregates as huike.sales.funnel.funnel_sums, by hand: deals per
        # current stage; the backward moves' furthest stage per deal; time per stage.
        funnel = [stage for stage in stages if stage.kind != "lost"]

        def position(column: str, default: str) -> str:
            whens = " ".join(f"WHEN {stage.pk} THEN {stage.position}" for stage in funnel)
            return f"CASE {column} {whens} ELSE {default} END"

        filters = ", ".join(
            f"count(*) FILTER (WHERE moved >= {stage.position} AND current < {stage.position})"
            for stage in funnel[1:]
        )
        per_stage = """
            SELECT stage_id, status, currency, count(*), sum(amount) FROM sales_deal
            WHERE workspace_id = %(ws)s AND pipeline_id = %(p)s
              AND created_at >= %(start)s AND created_at < %(end)s
            GROUP BY 1, 2, 3"""
        beyond = f"""
            SELECT {filters} FROM (
              SELECT c.deal_id, max({position("c.from_stage_id", "NULL")}) AS moved,
                     max({position("d.stage_id", "-1")}) AS current
              FROM sales_dealstagechange c JOIN sales_deal d ON d.id = c.deal_id
              WHERE c.workspace_id = %(ws)s AND c.pipeline_id = %(p)s
                AND c.changed_at >= %(start)s
                AND {position("c.from_stage_id", "NULL")} > {position("c.to_stage_id", "-1")}
                AND d.workspace_id = %(ws)s AND d.pipeline_id = %(p)s
                AND d.created_at >= %(start)s AND d.created_at < %(end)s
              GROUP BY c.deal_id
            ) per_deal"""
        average = """
            SELECT c.from_stage_id, avg(c.seconds_in_from) FROM sales_dealstagechange c
            JOIN sales_deal d ON d.id = c.deal_id
            WHERE c.workspace_id = %(ws)s AND c.pipeline_id = %(p)s AND c.changed_at >= %(start)s
              AND c.seconds_in_from IS NOT NULL
              AND d.workspace_id = %(ws)s AND d.pipeline_id = %(p)s
              AND d.created_at >= %(start)s AND d.created_at < %(end)s
            GROUP BY c.from_stage_id"""
        params = {"ws": workspace.pk, "p": pipeline.pk, "start": start, "end": end}

        def run() -> None:
            with connection.cursor() as cursor:
                for sql in (per_stage, beyond, average):
                    cursor.execute(sql, params)
                    cursor.fetchall()

        return run

    months = reports.forecast_months(None, today)
    month_start = dt.datetime.combine(months[0], dt.time.min, tzinfo=zone)
    month_end = dt.datetime.combine(reports.month_add(months[-1], 1), dt.time.min, tzinfo=zone)
    history_start = dt.datetime.combine(
        reports.month_add(months[0], -reports.HISTORY_MONTHS), dt.time.min, tzinfo=zone
    )
    forecast_sql = (
        (
            """SELECT date_trunc('month', d.expected_close_date), d.owner_id, count(*),
                      sum(d.amount), sum(d.amount * s.probability)
                        FILTER (WHERE d.forecast_category <> 'omitted'),
                      sum(d.amount) FILTER (WHERE d.forecast_category = 'commit'),
                      sum(d.amount) FILTER (WHERE d.forecast_category IN ('commit', 'best_case'))
               FROM sales_deal d JOIN sales_stage s ON s.id = d.stage_id
               WHERE d.workspace_id = %(ws)s AND d.currency = 'CNY' AND d.status = 'open'
                 AND d.expected_close_date >= %(first)s AND d.expected_close_date < %(after)s
               GROUP BY 1, 2""",
            {"ws": workspace.pk, "first": months[0], "after": reports.month_add(months[-1], 1)},
        ),
        (
            """SELECT date_trunc('month', closed_at AT TIME ZONE %(tz)s), owner_id, count(*),
                      sum(amount)
               FROM sales_deal WHERE workspace_id = %(ws)s AND currency = 'CNY'
                 AND status = 'won' AND closed_at >= %(start)s AND closed_at < %(end)s
               GROUP BY 1, 2""",
            {"ws": workspace.pk, "tz": str(zone), "start": month_start, "end": month_end},
        ),
        (
            """SELECT date_trunc('month', closed_at AT TIME ZONE %(tz)s), sum(amount)
               FROM sales_deal WHERE workspace_id = %(ws)s AND currency = 'CNY'
                 AND status = 'won' AND closed_at >= %(start)s AND closed_at < %(end)s
               GROUP BY 1""",
            {"ws": workspace.pk, "tz": str(zone), "start": history_start, "end": month_start},
        ),
    )

    def bare_forecast() -> None:
        with connection.cursor() as cursor:
            for sql, params in forecast_sql:
                cursor.execute(sql, params)
                cursor.fetchall()

    def bare_months() -> None:
        """The bare read of the forecast's month rows: the coming months and the history."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT status, month, stage_id, owner_id, team_id, category, sum(deals),"
                " sum(amount) FROM sales_forecastmonth WHERE workspace_id = %s"
                " AND currency = 'CNY' AND month >= %s AND month < %s GROUP BY 1, 2, 3, 4, 5, 6",
                [workspace.pk, history_start.date(), reports.month_add(months[-1], 1)],
            )
            cursor.fetchall()

    def stored_rows(date_from: dt.date, date_to: dt.date) -> tuple[str, list[Any]]:
        """The rows the report reads, by hand: a month's row for each month wholly inside the
        period, a day's row for each other day (huike.sales.funnel.stored_rows)."""
        first = date_from if date_from.day == 1 else reports.month_add(date_from, 1)
        end = (date_to + dt.timedelta(days=1)).replace(day=1)
        return (
            "pipeline_id = %s AND ((is_month AND day >= %s AND day < %s) OR (NOT is_month"
            " AND day >= %s AND day <= %s AND (day < %s OR day >= %s)))",
            [pipeline.pk, first, end, date_from, date_to, first, end],
        )

    def bare_days(date_from: dt.date, date_to: dt.date) -> Callable[[], Any]:
        where, params = stored_rows(date_from, date_to)

        def run() -> None:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT deals, sums FROM sales_funnelday WHERE {where}", params)
                cursor.fetchall()

        return run

    def move_old_deals(seed: int) -> list[float]:
        """--moves open deals of random old days, each one stage on (or back), as users
        would between two runs of the refresh job; the seconds of each move."""
        rng = random.Random(seed)
        by_position = sorted(
            (stage for stage in stages if stage.kind == "open"), key=lambda s: s.position
        )
        ids = list(
            Deal.objects.filter(pipeline=pipeline, status="open")
            .order_by("?")
            .values_list("pk", flat=True)[: args.moves]
        )
        seconds = []
        for pk in ids:
            deal = Deal.objects.get(pk=pk)
            index = next(i for i, s in enumerate(by_position) if s.pk == deal.stage_id)
            target = by_position[(index + rng.choice((1, -1))) % len(by_position)]
            started = time.perf_counter()
            deal_move(actor=actor, deal=deal, stage=target)
            seconds.append(time.perf_counter() - started)
        return seconds

    if args.explain:
        from django.test.utils import CaptureQueriesContext

        for function in (funnel_whole, forecast):
            with CaptureQueriesContext(connection) as captured:
                function()
            for query in captured.captured_queries:
                if "sales_deal" not in query["sql"]:
                    continue
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
                    print(query["sql"][:400])
                    print("\n".join(row[0] for row in cursor.fetchall()), "\n")

    print(f"{'what':<52} {'Huike p50/p99 ms':>18} {'limit p50/p99 ms':>18} {'ratio':>6}")

    def line(label: str, huike: Callable[[], Any], limit: Callable[[], Any]) -> None:
        ours = percentiles(timed(huike, args.runs))
        bare = percentiles(timed(limit, args.runs))
        ratio = round(ours[0] / bare[0], 2) if bare[0] else 0
        print(f"{label:<52} {ours[0]:>8} / {ours[1]:<8} {bare[0]:>8} / {bare[1]:<8} {ratio:>6}")

    line("funnel, 3 years, roll-ups / SQL over the deals", funnel_whole, bare_funnel(*whole))
    line("funnel, 3 years, roll-ups / bare read of the days", funnel_whole, bare_days(*whole))
    line("funnel, last 90 days, roll-ups / SQL over the deals", funnel_recent, bare_funnel(*recent))
    check_forecast("after the build")
    line("forecast, 3 months per rep + statistical, roll-ups / SQL", forecast, bare_forecast)
    line("forecast, roll-ups / bare read of the month rows", forecast, bare_months)
    line("forecast from the deals / SQL over the deals", forecast_from_the_deals, bare_forecast)
    # A manager of one of the TEAMS teams (about a quarter of the deals): their funnel adds up
    # the days per owner and team of their team subtree (FunnelOwnerDay).
    team = Team.objects.filter(workspace=workspace).order_by("pk").first()
    manager, _created = Membership.objects.get_or_create(
        workspace=workspace,
        user=user_get_or_create(email="manager@bench.test", password=None),
        defaults={"role": Role.objects.get(workspace=workspace, key="manager"), "team": team},
    )
    manager_actor = Actor.for_membership(
        Membership.objects.select_related("workspace", "role", "user", "team").get(pk=manager.pk)
    )

    def manager_funnel() -> Any:
        return funnel.funnel_report(manager_actor, pipeline, *whole)

    def manager_funnel_from_the_deals() -> Any:
        with transaction.atomic():
            FunnelRollup.objects.filter(pipeline=pipeline).update(built_at=None)
            report = manager_funnel()
            transaction.set_rollback(True)
        return report

    def manager_forecast() -> Any:
        return reports.forecast_report(manager_actor, group="rep")

    def manager_forecast_from_the_deals() -> Any:
        with transaction.atomic():
            FunnelRollup.objects.filter(pipeline=pipeline).update(built_at=None)
            report = manager_forecast()
            transaction.set_rollback(True)
        return report

    def check_manager(when: str) -> None:
        assert manager_funnel() == manager_funnel_from_the_deals(), (
            f"the manager's funnel from the roll-ups disagrees with the deals {when}"
        )
        assert figures(manager_forecast()) == figures(manager_forecast_from_the_deals()), (
            f"the manager's forecast from the roll-ups disagrees with the deals {when}"
        )

    subtree = team_subtree_ids(manager)
    owners = [
        manager.pk,
        *Membership.objects.filter(team_id__in=subtree).values_list("pk", flat=True),
    ]

    owner_where, owner_params = stored_rows(*whole)

    def bare_owner_days() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT deals, sums FROM sales_funnelownerday WHERE {owner_where}"
                " AND (owner_id = ANY(%s) OR team_id = ANY(%s))",
                [*owner_params, owners, subtree],
            )
            cursor.fetchall()

    check_manager("after the build")
    line(
        f"funnel, 3 years, a manager of 1 of {TEAMS} teams, roll-ups / SQL (all)",
        manager_funnel,
        bare_funnel(*whole),
    )
    line(
        f"funnel, 3 years, a manager of 1 of {TEAMS} teams, roll-ups / bare read of the rows",
        manager_funnel,
        bare_owner_days,
    )
    line(
        f"funnel, 3 years, a manager of 1 of {TEAMS} teams, from the deals / SQL (all)",
        manager_funnel_from_the_deals,
        bare_funnel(*whole),
    )
    line(
        f"forecast, a manager of 1 of {TEAMS} teams, roll-ups / SQL (all)",
        manager_forecast,
        bare_forecast,
    )
    line(
        f"forecast, a manager of 1 of {TEAMS} teams, from the deals / SQL (all)",
        manager_forecast_from_the_deals,
        bare_forecast,
    )
    expected = funnel_whole()
    tracked = percentiles(move_old_deals(11))
    deltas = FunnelDelta.objects.filter(pipeline=pipeline).count()
    line(
        f"funnel, 3 years, {deltas} deltas / SQL over the deals",
        funnel_whole,
        bare_funnel(*whole),
    )
    with_deltas = funnel_whole()
    check_forecast(f"with {deltas} moves not folded in")
    check_manager(f"with {deltas} moves not folded in")
    line(f"funnel, a manager, {deltas} deltas / SQL (all)", manager_funnel, bare_funnel(*whole))
    line(f"forecast, {deltas} moves not folded in / SQL", forecast, bare_forecast)
    started = time.perf_counter()
    folded = funnel.funnel_refresh(pipeline)
    print(f"refresh folding {deltas} deltas ({folded} days): {time.perf_counter() - started:.2f} s")
    after = funnel_whole()
    assert after == with_deltas, "the folded roll-ups disagree with the roll-ups and deltas"
    assert after.deal_count == expected.deal_count
    check_forecast("after the fold")
    check_manager("after the fold")
    FunnelRollup.objects.filter(pipeline=pipeline).update(built_at=None)
    untracked = percentiles(move_old_deals(12))
    exact = funnel_whole()  # read from the deals: the roll-ups are out of use
    started = time.perf_counter()
    funnel.funnel_refresh(pipeline)
    print(f"roll-ups rebuilt in {time.perf_counter() - started:.1f} s")
    assert funnel_whole() == exact, "the rebuilt roll-ups disagree with the deals"
    check_forecast("after the rebuild")
    check_manager("after the rebuild")
    print(
        f"deal_move p50/p99 ms: {tracked[0]} / {tracked[1]} keeping the roll-ups, "
        f"{untracked[0]} / {untracked[1]} without them"
    )
    report = funnel_whole()
    print(
        "funnel check:",
        [(row.stage.name, row.reached) for row in report.stages],
        "won",
        report.won_count,
        "lost",
        report.lost_count,
    )
    connection.close()
    if not args.keep:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")


if __name__ == "__main__":
    main()
