"""Foundation benchmarks: the price of the audit chain and of the API gateway.

Each figure is measured beside the physical limit in the same run, on the same database:
  1. audit_record (hash chain, chain-head lock, one transaction per entry) vs a raw INSERT of
     the same rows in one transaction per row, through the same driver;
  2. GET /api/v1/members?limit=50 through the whole stack (API key lookup, rate limit, ninja,
     serialization; in-process WSGI, no network) vs the raw SQL of the same page.

Usage (creates and drops its own database):
  .venv/bin/python bench/foundation.py --database sqlite
  .venv/bin/python bench/foundation.py --database postgres://postgres@127.0.0.1:5432/postgres
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AUDIT_ENTRIES = 2000
API_REQUESTS = 300
MEMBERS = 200


def _configure(database: str) -> tuple[str, object]:
    tmp = tempfile.mkdtemp(prefix="huike-bench-")
    os.environ["HUIKE_VAR_DIR"] = tmp
    os.environ["HUIKE_LOG_LEVEL"] = "WARNING"
    if database == "sqlite":
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
        return "sqlite", None
    import psycopg

    parts = urlsplit(database)
    admin = psycopg.connect(database, autocommit=True)
    admin.execute("DROP DATABASE IF EXISTS huike_bench")
    admin.execute("CREATE DATABASE huike_bench")
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path="/huike_bench"))
    return "postgresql", admin


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="sqlite")
    args = parser.parse_args()
    vendor, admin = _configure(args.database)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import override_settings

    call_command("migrate", verbosity=0)
    from huike.accounts.models import Membership, Role
    from huike.accounts.services import api_key_create, workspace_create
    from huike.core.audit import AuditAction, audit_record

    workspace = workspace_create(slug="bench", name="Bench", owner_email="o@bench.test")
    role = Role.objects.get(workspace=workspace, key="sales")
    users = []
    from huike.accounts.models import User

    for n in range(MEMBERS):
        users.append(User(email=f"m{n}@members.bench.test"))
    User.objects.bulk_create(users)
    Membership.objects.bulk_create(
        Membership(workspace=workspace, user=user, role=role)
        for user in User.objects.filter(email__endswith="@members.bench.test")
    )

    # 1. audit chain vs raw insert --------------------------------------------------------
    started = time.perf_counter()
    for n in range(AUDIT_ENTRIES):
        audit_record(workspace_id=workspace.pk, action=AuditAction.EXPORT_PERFORMED, data={"n": n})
    audit_seconds = time.perf_counter() - started
    placeholder = "%s"
    sql = (
        "INSERT INTO core_auditentry (chain_id, workspace_id, seq, created_at, actor_label, "
        "action, target_type, target_id, data, prev_hash, hash) VALUES "
        f"({', '.join([placeholder] * 11)})"
    )
    from django.utils import timezone

    chain_id = connection.cursor().execute("SELECT id FROM core_auditchain LIMIT 1").fetchone()[0]
    started = time.perf_counter()
    for n in range(AUDIT_ENTRIES):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                sql,
                [
                    chain_id,
                    workspace.pk,
                    10_000_000 + n,
                    timezone.now(),
                    "",
                    "raw",
                    "",
                    "",
                    '{"n": 1}',
                    "0" * 64,
                    "0" * 64,
                ],
            )
    raw_seconds = time.perf_counter() - started

    # 2. API page vs raw SQL ---------------------------------------------------------------
    key = api_key_create(
        actor=None,
        workspace=workspace,
        name="bench",
        role=Role.objects.get(workspace=workspace, key="admin"),
        rate_limit_per_minute=10**6,
    ).plaintext
    client = Client(headers={"Authorization": f"Bearer {key}"})
    api_samples = []
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        for _ in range(API_REQUESTS):
            started = time.perf_counter()
            response = client.get("/api/v1/members?limit=50")
            api_samples.append(time.perf_counter() - started)
            assert response.status_code == 200, response.content[:200]
    raw_samples = []
    page_sql = (
        "SELECT m.public_id, u.email, u.full_name, r.key, m.is_active, m.created_at "
        "FROM accounts_membership m JOIN accounts_user u ON u.id = m.user_id "
        "JOIN accounts_role r ON r.id = m.role_id WHERE m.workspace_id = %s "
        "ORDER BY m.created_at, m.id LIMIT 51"
    )
    for _ in range(API_REQUESTS):
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM accounts_apikey WHERE prefix = %s", [key[3:11]])
            cursor.execute(page_sql, [workspace.pk])
            cursor.fetchall()
        raw_samples.append(time.perf_counter() - started)

    audit_rate = AUDIT_ENTRIES / audit_seconds
    raw_rate = AUDIT_ENTRIES / raw_seconds
    print(f"database: {vendor}")
    print(
        f"audit append: {audit_rate:,.0f} entries/s; raw insert, one transaction per row: "
        f"{raw_rate:,.0f} rows/s; ratio {raw_rate / audit_rate:.2f}x"
    )
    api_ms, raw_ms = _median_ms(api_samples), _median_ms(raw_samples)
    print(
        f"GET /api/v1/members?limit=50 p50: {api_ms} ms; raw SQL of the same page: {raw_ms} ms; "
        f"ratio {api_ms / raw_ms:.1f}x"
    )
    connection.close()
    if admin is not None:
        admin.execute("DROP DATABASE IF EXISTS huike_bench")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
