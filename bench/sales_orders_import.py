"""Order import benchmark, beside the physical limit measured in the same run:

  Huike's import of an order file (kind `orders`: N orders of two lines each, the customers
  known by phone; each order upserted by its number with identity resolution, its lines, the
  order.created / order.paid timeline events, the customer's derived profile and the outbox,
  in batches that end between orders, with checkpoints) vs raw COPY (PostgreSQL) /
  executemany INSERT (SQLite) of the same orders and lines into the same tables.

The customers are loaded first through the customers import, outside the timings.

Usage (creates and drops its own database):
  .venv/bin/python bench/sales_orders_import.py --database postgres://postgres@127.0.0.1:5432/postgres
  .venv/bin/python bench/sales_orders_import.py --database sqlite --orders 2000
"""

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.foundation import _configure

LINES_PER_ORDER = 2
UNIT_PRICE = "49.50"


def phone_of(n: int) -> str:
    return f"139{n:08d}"


def write_customers(path: Path, count: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "phone"])
        for n in range(count):
            writer.writerow([f"Customer {n}", phone_of(n)])


def write_orders(path: Path, count: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["order_id", "phone", "product", "quantity", "unit_price", "payment_status", "date"]
        )
        for n in range(count):
            for line in range(LINES_PER_ORDER):
                writer.writerow(
                    [f"SHOP-{n:08d}", phone_of(n), f"Item {line}", "2", UNIT_PRICE, "paid", ""]
                )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    vendor, _admin = _configure(args.database)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("HUIKE_MASTER_KEY", "Qm9va2tlZXBpbmctYmVuY2gtbWFzdGVyLWtleS0zMmI=")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from huike.accounts.access import Actor
    from huike.accounts.models import Membership
    from huike.accounts.services import workspace_create
    from huike.customers.imports.bench import import_file_now
    from huike.customers.models import Customer
    from huike.sales.models import Order, OrderLine

    workspace = workspace_create(slug="bench", name="Bench", owner_email="o@bench.test")
    owner = Membership.objects.select_related("workspace", "role", "user").get(workspace=workspace)
    actor = Actor.for_membership(owner)
    count = args.orders
    rows = count * LINES_PER_ORDER
    tmp = Path(tempfile.mkdtemp(prefix="huike-bench-orders-"))
    customers_csv, orders_csv = tmp / "customers.csv", tmp / "orders.csv"
    write_customers(customers_csv, count)
    write_orders(orders_csv, count)
    print(import_file_now(actor=actor, path=customers_csv))
    customer_ids = list(
        Customer.objects.filter(workspace=workspace).order_by("pk").values_list("pk", flat=True)
    )
    print(f"database: {vendor}; orders: {count:,}; rows: {rows:,}")

    order_columns = (
        "id, workspace_id, owner_id, public_id, external_id, source, customer_id, status, "
        "payment_status, currency, total, ordered_at, created_at, updated_at"
    )
    line_columns = "workspace_id, order_id, sku, name, quantity, unit_price, line_total"

    def raw_load() -> float:
        now = timezone.now()
        first = (Order.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        orders = [
            (
                first + n,
                workspace.pk,
                owner.pk,
                uuid.uuid4(),
                f"RAW-{n:08d}",
                "import",
                customer_ids[n],
                "pending",
                "paid",
                "CNY",
                "198.00",
                now,
                now,
                now,
            )
            for n in range(count)
        ]
        lines = [
            (workspace.pk, first + n, "", f"Item {line}", "2", UNIT_PRICE, "99.00")
            for n in range(count)
            for line in range(LINES_PER_ORDER)
        ]
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            if vendor == "postgresql":
                raw = cursor.cursor
                with raw.copy(f"COPY sales_order ({order_columns}) FROM STDIN") as copy:
                    for row in orders:
                        copy.write_row(row)
                with raw.copy(f"COPY sales_orderline ({line_columns}) FROM STDIN") as copy:
                    for row in lines:
                        copy.write_row(row)
            else:
                cursor.executemany(
                    f"INSERT INTO sales_order ({order_columns}) VALUES "
                    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (
                            *row[:3],
                            row[3].hex,
                            *row[4:11],
                            *(moment.isoformat() for moment in row[11:]),
                        )
                        for row in orders
                    ],
                )
                cursor.executemany(
                    f"INSERT INTO sales_orderline ({line_columns}) VALUES "
                    "(%s, %s, %s, %s, %s, %s, %s)",
                    lines,
                )
        seconds = time.perf_counter() - started
        OrderLine.objects.filter(order__external_id__startswith="RAW-").delete()
        Order.objects.filter(external_id__startswith="RAW-").delete()
        return seconds

    def huike_load() -> tuple[float, str]:
        started = time.perf_counter()
        report = import_file_now(actor=actor, path=orders_csv, kind="orders")
        seconds = time.perf_counter() - started
        assert Order.objects.filter(workspace=workspace).count() == count, report
        return seconds, report

    def huike_clear() -> None:
        OrderLine.objects.filter(order__workspace=workspace).delete()
        Order.objects.filter(workspace=workspace).delete()

    limits, creates = [], []
    for attempt in range(args.repeat):
        limits.append(raw_load())
        seconds, report = huike_load()
        creates.append(seconds)
        print(
            f"run {attempt + 1}: raw {limits[-1]:.2f} s, Huike {seconds:.1f} s ({report})",
            flush=True,
        )
        if attempt < args.repeat - 1:
            huike_clear()
    update, report = huike_load()
    print(f"re-import of the same file: {update:.1f} s ({report})")
    limit, huike = statistics.median(limits), statistics.median(creates)
    print(
        f"raw load of {count:,} orders + {rows:,} lines: median {limit:.2f} s, "
        f"{rows / limit:,.0f} rows/s"
    )
    print(
        f"Huike import of {rows:,} rows ({count:,} new orders): median {huike:.1f} s, "
        f"{rows / huike:,.0f} rows/s, {huike / count * 1000:.2f} ms an order; "
        f"ratio to raw load {huike / limit:.0f}x; re-import {update / count * 1000:.2f} ms an order"
    )


if __name__ == "__main__":
    main()
