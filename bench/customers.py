"""Customer 360 benchmarks, each beside the physical limit measured in the same run:

  1. loading customers: Huike's CSV import (normalization, dedup, encryption, blind indexes,
     batches with checkpoints) of N rows vs raw COPY (PostgreSQL) / executemany INSERT (SQLite)
     of the same rows, already encrypted, into the same tables;
  2. events through POST /api/v1/events in batches of 1,000 (API key, JSON, identity
     resolution, timeline, derived profile, outbox) vs raw COPY of the same event rows;
  3. exact phone lookup (blind index) and the first page of the customer list with two
     filters (stage + tag, masked contacts and tags of the page) vs the raw SQL of the same.

Usage (creates and drops its own database):
  .venv/bin/python bench/customers.py --database postgres://postgres@127.0.0.1:5432/postgres
  .venv/bin/python bench/customers.py --database sqlite --customers 200000
"""

import argparse
import csv
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.foundation import _configure

EVENT_BATCH = 1000
LOOKUPS = 300
PAGES = 200
STAGES = ("visitor", "lead", "customer", "loyal", "churned")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"


def phone_of(n: int) -> str:
    return f"139{n:08d}"


def email_of(n: int) -> str:
    return f"customer{n}@example.cn"


def write_csv(path: Path, count: int) -> None:
    rng = random.Random(7)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["姓名", "手机", "邮箱", "生命周期"])
        for n in range(count):
            writer.writerow(
                [rng.choice(SURNAMES) + "先生", phone_of(n), email_of(n), rng.choice(STAGES)]
            )


class RssSampler:
    """The process's resident memory, sampled every 50 ms while the block runs (tracemalloc
    would slow the import threefold): `growth` is the peak above the memory at the start."""

    def __init__(self) -> None:
        self.growth = 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")

    def _rss(self) -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * self._page

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.growth = max(self.growth, self._rss() - self._start)

    def __enter__(self) -> "RssSampler":
        self._start = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    vendor, admin = _configure(args.database)
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
    from huike.accounts.access import Actor
    from huike.accounts.models import Membership, Role
    from huike.accounts.services import api_key_create, workspace_create
    from huike.core.crypto import encrypted_column, workspace_keys
    from huike.core.pagination import paginate
    from huike.customers import selectors
    from huike.customers.models import Customer, CustomerTag, Event, Identity, Tag

    workspace = workspace_create(slug="bench", name="Bench", owner_email="o@bench.test")
    owner = Membership.objects.select_related("workspace", "role", "user").get(workspace=workspace)
    actor = Actor.for_membership(owner)
    keys = workspace_keys(workspace.pk)
    count = args.customers
    tmp = Path(tempfile.mkdtemp(prefix="huike-bench-csv-"))
    csv_path = tmp / "customers.csv"
    write_csv(csv_path, count)
    print(f"database: {vendor}; customers: {count:,}; csv: {csv_path.stat().st_size / 1e6:.0f} MB")

    # 1a. the limit: the same rows, encrypted and indexed beforehand, straight into the tables
    column = encrypted_column(Identity, "value_token")
    now = timezone.now()
    customer_rows, identity_rows = [], []

    for n in range(count):
        customer_uuid = uuid.uuid4()
        customer_rows.append((n + 1, customer_uuid, STAGES[n % 5], f"{SURNAMES[n % 20]}先生"))
        for kind, value in (("phone", "+86" + phone_of(n)), ("email", email_of(n))):
            identity_uuid = uuid.uuid4()
            token = keys.encrypt(
                table=column.table,
                column=column.column,
                row_key=str(identity_uuid),
                plaintext=value,
            )
            index = keys.blind_index(kind=kind, value=value, is_normalized=True)
            identity_rows.append((identity_uuid, n + 1, kind, token, index))
    customer_sql_columns = (
        "id, workspace_id, public_id, status, name, gender, locale, lifecycle_stage, "
        "source_channel, custom_fields, order_count, total_spent, created_at, updated_at"
    )
    identity_sql_columns = (
        "workspace_id, public_id, customer_id, kind, value_token, value_index, is_verified, "
        "source, first_seen_at, last_seen_at, created_at"
    )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if vendor == "postgresql":
            raw = cursor.cursor
            with raw.copy(f"COPY customers_customer ({customer_sql_columns}) FROM STDIN") as copy:
                for pk, public_id, stage, name in customer_rows:
                    copy.write_row(
                        (
                            pk,
                            workspace.pk,
                            public_id,
                            "active",
                            name,
                            "",
                            "",
                            stage,
                            "",
                            "{}",
                            0,
                            0,
                            now,
                            now,
                        )
                    )
            with raw.copy(f"COPY customers_identity ({identity_sql_columns}) FROM STDIN") as copy:
                for public_id, customer_id, kind, token, index in identity_rows:
                    copy.write_row(
                        (
                            workspace.pk,
                            public_id,
                            customer_id,
                            kind,
                            token,
                            index,
                            False,
                            "import",
                            now,
                            now,
                            now,
                        )
                    )
        else:
            cursor.executemany(
                f"INSERT INTO customers_customer ({customer_sql_columns}) VALUES "
                "(%s, %s, %s, 'active', %s, '', '', %s, '', '{}', 0, 0, %s, %s)",
                [
                    (pk, workspace.pk, public_id.hex, name, stage, now.isoformat(), now.isoformat())
                    for pk, public_id, stage, name in customer_rows
                ],
            )
            cursor.executemany(
                f"INSERT INTO customers_identity ({identity_sql_columns}) VALUES "
                "(%s, %s, %s, %s, %s, %s, 0, 'import', %s, %s, %s)",
                [
                    (
                        workspace.pk,
                        public_id.hex,
                        customer_id,
                        kind,
                        token,
                        index,
                        now.isoformat(),
                        now.isoformat(),
                        now.isoformat(),
                    )
                    for public_id, customer_id, kind, token, index in identity_rows
                ],
            )
    limit_seconds = time.perf_counter() - started
    del customer_rows, identity_rows
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM customers_identity")
        cursor.execute("DELETE FROM customers_customer")
    limit_rate = count / limit_seconds
    print(
        f"raw load of {count:,} customers + {2 * count:,} identities: "
        f"{limit_seconds:.1f} s, {limit_rate:,.0f} rows/s"
    )

    # 1b. Huike's import of the CSV
    import_rate = None
    try:
        from huike.customers.imports.bench import import_file_now  # provided by the import part
    except ImportError:
        import_file_now = None
    if import_file_now is not None:
        sampler = RssSampler()
        started = time.perf_counter()
        with sampler:
            report = import_file_now(actor=actor, path=csv_path)
        import_seconds = time.perf_counter() - started
        peak = sampler.growth
        import_rate = count / import_seconds
        print(
            f"Huike import of {count:,} rows: {import_seconds:.1f} s, {import_rate:,.0f} rows/s "
            f"({report}); memory grew by at most {peak / 1e6:.0f} MB; ratio to raw load "
            f"{limit_rate / import_rate:.1f}x"
        )
    else:
        # Without the import part, load the customers through the event path instead.
        from huike.customers.ingest import events_ingest

        started = time.perf_counter()
        for start in range(0, count, EVENT_BATCH):
            events_ingest(
                actor=actor,
                items=[
                    {
                        "kind": "customer.imported",
                        "identities": {"phone": phone_of(n), "email": email_of(n)},
                    }
                    for n in range(start, min(start + EVENT_BATCH, count))
                ],
            )
        load_seconds = time.perf_counter() - started
        print(
            "(no import part) loaded through events_ingest: "
            f"{count / load_seconds:,.0f} customers/s"
        )
        with connection.cursor() as cursor:
            for position, stage in enumerate(STAGES):
                cursor.execute(
                    "UPDATE customers_customer SET lifecycle_stage = %s WHERE id %% 5 = %s",
                    [stage, position],
                )
    assert Customer.objects.filter(workspace=workspace).count() == count
    # Tag one customer in ten, for the two-filter list page.
    tag = Tag.objects.create(workspace=workspace, name="VIP")
    ids = list(Customer.objects.filter(workspace=workspace).values_list("pk", flat=True)[::10])
    for start in range(0, len(ids), 10_000):
        CustomerTag.objects.bulk_create(
            CustomerTag(workspace=workspace, customer_id=pk, tag=tag)
            for pk in ids[start : start + 10_000]
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    # 2. events through the API vs raw COPY of the same rows
    api_key = api_key_create(
        actor=None,
        workspace=workspace,
        name="bench",
        role=Role.objects.get(workspace=workspace, key="admin"),
        rate_limit_per_minute=10**7,
    ).plaintext
    client = Client(headers={"Authorization": f"Bearer {api_key}"})
    rng = random.Random(11)
    events_before = Event.objects.count()
    batches = []
    for start in range(0, args.events, EVENT_BATCH):
        items = []
        for n in range(start, min(start + EVENT_BATCH, args.events)):
            if n % 2:  # half for known customers by phone, half for new web visitors
                identities = {"phone": phone_of(rng.randrange(count))}
            else:
                identities = {"web_visitor_id": f"v-{n}"}
            items.append(
                {
                    "id": f"bench-{n}",
                    "kind": "page.viewed",
                    "identities": identities,
                    "properties": {"path": "/pricing"},
                }
            )
        batches.append(items)
    started = time.perf_counter()
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        for items in batches:
            response = client.post(
                "/api/v1/events", {"events": items}, content_type="application/json"
            )
            assert response.status_code == 200, response.content[:300]
    api_seconds = time.perf_counter() - started
    recorded = Event.objects.count() - events_before
    assert recorded == args.events, recorded
    api_rate = args.events / api_seconds
    event_ids = list(
        Event.objects.order_by("-pk").values_list("customer_id", flat=True)[: args.events]
    )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        event_columns = (
            "workspace_id, public_id, customer_id, kind, occurred_at, channel, properties, "
            "source, created_at"
        )
        if vendor == "postgresql":
            with cursor.cursor.copy(f"COPY customers_event ({event_columns}) FROM STDIN") as copy:
                for customer_id in event_ids:
                    copy.write_row(
                        (
                            workspace.pk,
                            uuid.uuid4(),
                            customer_id,
                            "page.viewed",
                            now,
                            "",
                            '{"path": "/pricing"}',
                            "raw",
                            now,
                        )
                    )
        else:
            cursor.executemany(
                f"INSERT INTO customers_event ({event_columns}) VALUES "
                "(%s, %s, %s, 'page.viewed', %s, '', '{\"path\": \"/pricing\"}', 'raw', %s)",
                [
                    (workspace.pk, uuid.uuid4().hex, customer_id, now.isoformat(), now.isoformat())
                    for customer_id in event_ids
                ],
            )
    raw_event_rate = args.events / (time.perf_counter() - started)
    print(
        f"POST /api/v1/events ({EVENT_BATCH} per request, half new visitors): "
        f"{api_rate:,.0f} events/s; raw load of the same rows: {raw_event_rate:,.0f} rows/s; "
        f"ratio {raw_event_rate / api_rate:.1f}x"
    )

    # 3. exact lookup and the list's first page
    lookup_samples, raw_lookup_samples = [], []
    for _ in range(LOOKUPS):
        n = rng.randrange(count)
        started = time.perf_counter()
        found = list(
            selectors.customer_search(actor, selectors.CustomerFilters(phone=phone_of(n)))[:2]
        )
        lookup_samples.append(time.perf_counter() - started)
        assert len(found) == 1
        index = keys.blind_index(kind="phone", value="+86" + phone_of(n), is_normalized=True)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.id FROM customers_customer c "
                "JOIN customers_identity i ON i.customer_id = c.id "
                "WHERE i.workspace_id = %s AND i.kind = 'phone' AND i.value_index = %s",
                [workspace.pk, index],
            )
            cursor.fetchall()
        raw_lookup_samples.append(time.perf_counter() - started)
    print(
        f"exact phone lookup p50: {median_ms(lookup_samples)} ms; "
        f"raw SQL {median_ms(raw_lookup_samples)} ms"
    )
    page_samples, api_samples, raw_page_samples = [], [], []
    filters = selectors.CustomerFilters(lifecycle_stage="lead", tags=[tag.public_id])
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        for _ in range(PAGES):
            started = time.perf_counter()
            page = paginate(
                selectors.customer_search(actor, filters),
                cursor=None,
                limit=50,
                ordering=("-created_at", "-id"),
            )
            selectors.customer_contacts(page.items)
            selectors.customer_tags(page.items)
            page_samples.append(time.perf_counter() - started)
            assert len(page.items) == 50
            started = time.perf_counter()
            response = client.get(
                f"/api/v1/customers?lifecycle_stage=lead&tag={tag.public_id}&limit=50"
            )
            api_samples.append(time.perf_counter() - started)
            assert response.status_code == 200, response.content[:300]
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT c.id, c.name FROM customers_customer c "
                    "WHERE c.workspace_id = %s AND c.status = 'active' "
                    "AND c.lifecycle_stage = 'lead' AND EXISTS "
                    "(SELECT 1 FROM customers_customertag t "
                    "WHERE t.workspace_id = %s AND t.customer_id = c.id AND t.tag_id = %s) "
                    "ORDER BY c.created_at DESC, c.id DESC LIMIT 51",
                    [workspace.pk, workspace.pk, tag.pk],
                )
                rows = cursor.fetchall()
                cursor.execute(
                    "SELECT customer_id, kind, value_token FROM customers_identity "
                    "WHERE customer_id = ANY(%s)"
                    if vendor == "postgresql"
                    else "SELECT customer_id, kind, value_token FROM customers_identity "
                    "WHERE customer_id IN (SELECT value FROM json_each(%s))",
                    [[row[0] for row in rows]]
                    if vendor == "postgresql"
                    else [json.dumps([row[0] for row in rows])],
                )
                cursor.fetchall()
            raw_page_samples.append(time.perf_counter() - started)
    print(
        f"customer list, stage + tag, first page of 50 p50: selector {median_ms(page_samples)} ms, "
        f"GET /api/v1/customers {median_ms(api_samples)} ms; "
        f"raw SQL {median_ms(raw_page_samples)} ms"
    )
    connection.close()
    if admin is not None:
        admin.execute("DROP DATABASE IF EXISTS huike_bench")


if __name__ == "__main__":
    main()
