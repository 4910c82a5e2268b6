"""The kanban board of a pipeline with 100,000 open deals (issue 5: first paint p50 ≤ 150 ms,
paginated per column), beside the physical limit measured in the same run.

Seeds one workspace on PostgreSQL with N open deals in the default pipeline's four open stages
(20 reps in 4 teams, 2,000 customers, a year of creation dates), written with COPY through
huike.core.bulk. Then times, over --runs runs each:

  - the full HTML response of GET /sales/board/?pipeline=… through Django's test client
    (session, middleware, record rules, the totals of every column, the first 20 cards of each
    column, the template): as the admin (view-all, all N deals) and as one rep (own deals);
  - the physical limit: the same SQL written by hand (the per-stage totals, then the first
    page of each column joined to its customer and owner) through a cursor, no ORM or template.

Usage (creates and drops its own database, huike_bench_kanban):
  .venv/bin/python bench/sales_kanban.py --database postgres://postgres@127.0.0.1:5432/postgres
"""

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATABASE = "huike_bench_kanban"
REPS = 20
TEAMS = 4
CUSTOMERS = 2_000
INSERT_BATCH = 10_000
# Share of the open deals in each open stage: a real funnel narrows.
STAGE_WEIGHTS = (45, 30, 15, 10)


def configure(database: str) -> Any:
    tmp = tempfile.mkdtemp(prefix="huike-bench-kanban-")
    os.environ["HUIKE_VAR_DIR"] = tmp
    os.environ["HUIKE_LOG_LEVEL"] = "WARNING"
    import psycopg

    parts = urlsplit(database)
    admin = psycopg.connect(database, autocommit=True)
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


RAW_TOTALS = (
    "SELECT stage_id, currency, COUNT(id), SUM(amount) FROM sales_deal "
    "WHERE workspace_id = %s AND pipeline_id = %s {owner} GROUP BY stage_id, currency"
)
RAW_COLUMN = (
    "SELECT d.id, d.public_id, d.name, d.amount, d.currency, d.expected_close_date, "
    "d.created_at, c.name, u.full_name, u.email FROM sales_deal d "
    "LEFT JOIN customers_customer c ON c.id = d.customer_id "
    "LEFT JOIN accounts_membership m ON m.id = d.owner_id "
    "LEFT JOIN accounts_user u ON u.id = m.user_id "
    "WHERE d.workspace_id = %s AND d.stage_id = %s {owner} "
    "ORDER BY d.created_at DESC, d.id DESC LIMIT 21"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True, help="a PostgreSQL URL")
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    admin = configure(args.database)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("HUIKE_MASTER_KEY", "Qm9va2tlZXBpbmctYmVuY2gtbWFzdGVyLWtleS0zMmI=")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import override_settings
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from huike.accounts.models import Membership, Role, Team
    from huike.accounts.services import user_get_or_create, workspace_create
    from huike.core.bulk import bulk_insert
    from huike.customers.models import Customer
    from huike.sales.deals import pipeline_default
    from huike.sales.models import Deal, Stage, StageKind

    rng = random.Random(5)
    started = time.perf_counter()
    with transaction.atomic():
        workspace = workspace_create(
            slug="bench", name="Bench", owner_email="o@bench.test", owner_password="bench-pass-1"
        )
        owner = Membership.objects.get(workspace=workspace, user__email="o@bench.test")
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
                user=user_get_or_create(email=f"rep{number}@bench.test", password="bench-pass-1"),
                role=sales_role,
                team=teams[number % TEAMS],
            )
            for number in range(REPS)
        ]
        customers = [
            Customer(workspace=workspace, name=f"客户 {number}", owner=reps[number % REPS])
            for number in range(CUSTOMERS)
        ]
        bulk_insert(Customer, customers)
        pipeline = pipeline_default(workspace)
        open_stages = list(
            Stage.objects.filter(pipeline=pipeline, kind=StageKind.OPEN).order_by("position")
        )
    now = timezone.now()
    for offset in range(0, args.deals, INSERT_BATCH):
        batch = []
        for number in range(offset, min(offset + INSERT_BATCH, args.deals)):
            stage = rng.choices(open_stages, weights=STAGE_WEIGHTS)[0]
            rep = reps[number % REPS]
            created = now - dt.timedelta(seconds=rng.randrange(365 * 86400))
            batch.append(
                Deal(
                    workspace=workspace,
                    name=f"商机 Deal {number}",
                    pipeline=pipeline,
                    stage=stage,
                    status=StageKind.OPEN,
                    amount=Decimal(rng.randrange(1_000, 500_000)),
                    currency="CNY",
                    customer=customers[number % CUSTOMERS],
                    owner=rep,
                    team_id=rep.team_id,
                    expected_close_date=(created + dt.timedelta(days=90)).date(),
                    stage_entered_at=created,
                    created_at=created,
                )
            )
        with transaction.atomic():
            bulk_insert(Deal, batch)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(
        f"seeded {args.deals:,} open deals in {len(open_stages)} open stages "
        f"in {time.perf_counter() - started:.1f} s"
    )

    def board(client: Client, cards: int) -> Callable[[], None]:
        url = f"/sales/board/?pipeline={pipeline.public_id}"

        def run() -> None:
            response = client.get(url)
            assert response.status_code == 200, response.content[:300]
            assert response.content.count(b'data-testid="deal-card"') == cards

        return run

    stages = list(Stage.objects.filter(pipeline=pipeline).order_by("position"))

    def raw(owner_id: int | None) -> Callable[[], None]:
        clause = "AND owner_id = %s" if owner_id else ""
        column_clause = "AND d.owner_id = %s" if owner_id else ""
        extra = [owner_id] if owner_id else []

        def run() -> None:
            with connection.cursor() as cursor:
                cursor.execute(RAW_TOTALS.format(owner=clause), [workspace.pk, pipeline.pk, *extra])
                cursor.fetchall()
                for stage in stages:
                    cursor.execute(
                        RAW_COLUMN.format(owner=column_clause), [workspace.pk, stage.pk, *extra]
                    )
                    cursor.fetchall()

        return run

    results = []
    # Static URLs without the collectstatic manifest (the bench does not run collectstatic).
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(ALLOWED_HOSTS=["testserver"], STORAGES=storages):
        for label, membership in (("admin (all deals)", owner), ("one rep (own deals)", reps[0])):
            client = Client()
            client.force_login(membership.user)
            visible = Deal.objects.filter(workspace=workspace)
            if membership is not owner:
                visible = visible.filter(owner=membership)
            cards = sum(min(20, visible.filter(stage=stage).count()) for stage in open_stages)
            page = percentiles(timed(board(client, cards), args.runs))
            owner_filter = None if membership is owner else membership.pk
            limit = percentiles(timed(raw(owner_filter), args.runs))
            results.append((label, page, limit))
    print(f"\nkanban board first paint, {args.deals:,} open deals, {args.runs} runs each")
    for label, (page_p50, page_p99), (raw_p50, raw_p99) in results:
        ratio = page_p50 / raw_p50 if raw_p50 else float("inf")
        print(
            f"  {label:22s} page p50 {page_p50:7.1f} ms  p99 {page_p99:7.1f} ms | "
            f"raw SQL p50 {raw_p50:6.1f} ms  p99 {raw_p99:6.1f} ms | ratio {ratio:4.1f}x"
        )
    print("  target: page p50 <= 150 ms")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"  load average during the run (1/5/15 min): {load} on {os.cpu_count()} CPUs")
    if not args.keep:
        connection.close()
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    main()
