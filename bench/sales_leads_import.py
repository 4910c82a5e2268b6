"""Lead import benchmark (PostgreSQL), beside the physical limit measured in the same run:

  Huike's import of a lead file (kind `leads`: N new people with a name, a phone, an e-mail,
  a company and a region; each row captured like any lead: identity resolution with the
  encrypted identities, a customer at lifecycle `lead`, the lead and its history, the
  timeline event with the customer's derived profile and the outbox, scoring and the
  assignment rules, in batches with checkpoints) vs raw COPY of the rows that import inserted
  (every table's rows above its id before the run, as the import left them; its updates of
  rows that were there before are not in the limit), into the same tables, in one
  transaction with foreign-key triggers off (`session_replication_role`, which needs a
  superuser): the bare cost of getting those bytes into those tables and their indexes.

Each run starts without the leads, people and rows the run before inserted (deleted); what it
updated (the assignment rules' turns) carries over. A scoring rule
and a round-robin assignment rule over two reps are in place, so every lead is scored and
assigned as it would be in a workspace in use.

Usage (creates and drops its own database):
  .venv/bin/python bench/sales_leads_import.py --database postgres://postgres@127.0.0.1:5432/postgres
"""

import argparse
import csv
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.foundation import _configure

REGIONS = ("Shanghai", "Beijing", "Shenzhen", "Hangzhou")


def write_leads(path: Path, count: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["姓名", "手机", "邮箱", "公司", "地区"])
        for n in range(count):
            writer.writerow(
                [
                    f"客户 {n}",
                    f"139{n:08d}",
                    f"lead{n}@example.com",
                    f"公司 {n % 500}",
                    REGIONS[n % len(REGIONS)],
                ]
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True, help="a PostgreSQL URL")
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    vendor, admin = _configure(args.database)
    assert vendor == "postgresql", "the limit is PostgreSQL's COPY"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("HUIKE_MASTER_KEY", "Qm9va2tlZXBpbmctYmVuY2gtbWFzdGVyLWtleS0zMmI=")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    call_command("migrate", verbosity=0)
    from huike.accounts.access import Actor
    from huike.accounts.models import Membership, Role
    from huike.accounts.services import user_get_or_create, workspace_create
    from huike.customers.imports.bench import import_file_now
    from huike.sales.assignment import AssignmentRuleData, assignment_rule_create
    from huike.sales.models import Lead
    from huike.sales.scoring import ScoringRuleData, scoring_rule_create

    workspace = workspace_create(slug="bench", name="Bench", owner_email="o@bench.test")
    owner = Membership.objects.select_related("workspace", "role", "user").get(workspace=workspace)
    actor = Actor.for_membership(owner)
    sales = Role.objects.get(workspace=workspace, key="sales")
    reps = [
        Membership.objects.create(
            workspace=workspace,
            user=user_get_or_create(email=f"rep{n}@bench.test", password=None),
            role=sales,
            accepted_at=owner.accepted_at,
        )
        for n in range(2)
    ]
    scoring_rule_create(
        actor=actor,
        data=ScoringRuleData(
            name="Shanghai",
            kind="attribute",
            field="region",
            operator="eq",
            value="Shanghai",
            points=10,
        ),
    )
    assignment_rule_create(
        actor=actor,
        data=AssignmentRuleData(name="Everyone", strategy="round_robin", members=reps),
    )
    count = args.leads
    tmp = Path(tempfile.mkdtemp(prefix="huike-bench-leads-"))
    leads_csv = tmp / "leads.csv"
    write_leads(leads_csv, count)
    print(f"database: {vendor}; leads: {count:,}")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'id'"
            " AND table_schema = 'public' AND table_name NOT LIKE 'django_%'"
        )
        tables = sorted(row[0] for row in cursor.fetchall())

    def high_marks() -> dict[str, int]:
        marks = {}
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
                marks[table] = cursor.fetchone()[0]
        return marks

    def written_since(marks: dict[str, int]) -> dict[str, bytes]:
        """The rows each table gained since `marks`, as COPY text."""
        out = {}
        raw: Any = connection.cursor().cursor
        for table in tables:
            buffer = io.BytesIO()
            query = f"COPY (SELECT * FROM {table} WHERE id > {marks[table]}) TO STDOUT"
            with raw.copy(query) as copy:
                for chunk in copy:
                    buffer.write(chunk)
            if buffer.tell():
                out[table] = buffer.getvalue()
        return out

    def delete_since(marks: dict[str, int], which: list[str]) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            for table in which:
                cursor.execute(f"DELETE FROM {table} WHERE id > %s", [marks[table]])

    def raw_load(rows: dict[str, bytes]) -> float:
        started = time.perf_counter()
        with transaction.atomic():
            raw: Any = connection.cursor().cursor
            raw.execute("SET LOCAL session_replication_role = replica")
            for table, data in rows.items():
                with raw.copy(f"COPY {table} FROM STDIN") as copy:
                    copy.write(data)
        return time.perf_counter() - started

    limits, runs = [], []
    for attempt in range(args.repeat):
        marks = high_marks()
        started = time.perf_counter()
        report = import_file_now(actor=actor, path=leads_csv, kind="leads")
        seconds = time.perf_counter() - started
        assert Lead.objects.filter(workspace=workspace).count() == count, report
        runs.append(seconds)
        rows = written_since(marks)
        delete_since(marks, list(rows))
        limits.append(raw_load(rows))
        written = ", ".join(f"{table} {data.count(b'\n'):,}" for table, data in rows.items())
        print(
            f"run {attempt + 1}: Huike {seconds:.1f} s ({report}); raw COPY of the same rows "
            f"{limits[-1]:.2f} s [{written}]",
            flush=True,
        )
        delete_since(marks, list(rows))
    huike, limit = statistics.median(runs), statistics.median(limits)
    print(
        f"Huike import of {count:,} new leads: median {huike:.1f} s, {huike / count * 1000:.2f} "
        f"ms a lead, {count / huike:,.0f} leads/s; raw COPY of the rows it wrote: median "
        f"{limit:.2f} s; ratio {huike / limit:.0f}x"
    )
    connection.close()
    admin.execute("DROP DATABASE IF EXISTS huike_bench")  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
