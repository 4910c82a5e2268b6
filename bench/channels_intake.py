"""Webhook intake under a real load generator: wrk on loopback against uvicorn serving
config.asgi:application, as production runs it, beside the physical limits measured in the
same run.

  1. new deliveries: WeChat Official Account text messages in plain mode, each with its own
     MsgId (bench/wrk_wechat_new.lua), through /hooks/wechat_oa/<channel>: signature check,
     XML read, AES-GCM of the body, then (intake.GroupCommit) the rows of all requests waiting
     in one INSERT … ON CONFLICT into the inbound log with one processing task for them (the
     database task queue, as in production) in the same transaction, commit, "success".
     Afterwards the inbound log must hold one row per 200 response (plus at most one per
     connection for requests still in flight when wrk stopped), and one queued task per row.
  2. the duplicate path: the same message on every request (bench/wrk_wechat_dup.lua).
  3. limits: (a) wrk against bench/asgi_trivial.py under the same uvicorn (the HTTP stack);
     (b) raw INSERT … ON CONFLICT of the same rows (already encrypted) through psycopg, one
     transaction per row, from as many threads as wrk has connections (the database) — and the
     same followed by the task row in a second transaction, which is what intake commits.

No task worker runs during the measurement, so processing does not compete for the cores.

Usage (creates and drops its own database; about 15 minutes with the defaults):
  .venv/bin/python bench/channels_intake.py --database postgres://postgres@127.0.0.1:5432/postgres
  .venv/bin/python bench/channels_intake.py --database sqlite --workers 1
"""

import argparse
import hashlib
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "huike_bench_intake"
TOKEN = "benchtoken2026"
MASTER_KEY = "Qm9va2tlZXBpbmctYmVuY2gtbWFzdGVyLWtleS0zMmI="
WRK = "/usr/bin/wrk"


def configure(database: str) -> tuple[str, str | None]:
    """Environment for this process and the servers; the admin URL for PostgreSQL."""
    tmp = tempfile.mkdtemp(prefix="huike-bench-intake-")
    os.environ["HUIKE_VAR_DIR"] = tmp
    os.environ["HUIKE_MASTER_KEY"] = MASTER_KEY
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["HUIKE_TASK_ENGINE"] = "database"
    if database == "sqlite":
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
        return "sqlite", None
    import psycopg

    with psycopg.connect(database, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
        admin.execute(f"CREATE DATABASE {DB_NAME}")
    os.environ["DATABASE_URL"] = urlunsplit(urlsplit(database)._replace(path=f"/{DB_NAME}"))
    # The default, 0: a connection per request. Under ASGI each request runs in its own
    # thread, so persistent connections (CONN_MAX_AGE > 0) pile up one per thread until
    # PostgreSQL refuses more (seen here: 90 idle sessions within seconds, then 500s).
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")
    return "postgresql", database


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """uvicorn with `workers` processes on 127.0.0.1, logging to /dev/null (the request log
    line is still written: it is part of production's cost)."""

    def __init__(self, app: str, workers: int) -> None:
        self.port = free_port()
        command = [
            str(ROOT / ".venv/bin/python"),
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            "--lifespan",
            "off",
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                    if sock.recv(64).startswith(b"HTTP/1.1"):
                        return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("the server did not come up")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wrk(url: str, script: str, connections: int, seconds: int, *args: str) -> dict[str, float]:
    command = [
        WRK,
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(ROOT / "bench" / script),
        url,
    ]
    if args:
        command += ["--", *args]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = {
        name: float(value)
        for name, value in re.findall(r"^(STATUS200|STATUSOTHER|P50US|P99US) (\d+)$", output, re.M)
    }
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "rps": float(rate.group(1)) if rate else 0.0,
        "ok": found.get("STATUS200", 0.0),
        "other": found.get("STATUSOTHER", 0.0),
        "p50": found.get("P50US", 0.0) / 1000,
        "p99": found.get("P99US", 0.0) / 1000,
        "socket_errors": float(sum(int(n) for n in errors.groups())) if errors else 0.0,
    }


def signed_query() -> str:
    """A fresh plain-mode signature: sha1 of the sorted token, timestamp and nonce."""
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(8)
    signature = hashlib.sha1("".join(sorted((TOKEN, timestamp, nonce))).encode()).hexdigest()
    return f"signature={signature}&timestamp={timestamp}&nonce={nonce}&openid=oia2Tjjewbmi"


def median_row(samples: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--connections", default="32,64,128")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--app", default="config.asgi:application", help="the ASGI app serving /hooks/"
    )
    parser.add_argument(
        "--conn-max-age", default="0", help="DATABASE_CONN_MAX_AGE for the Huike server"
    )
    args = parser.parse_args()
    os.environ["DATABASE_CONN_MAX_AGE"] = args.conn_max_age
    vendor, admin_url = configure(args.database)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from django_tasks_db.models import DBTaskResult

    from huike.accounts.access import Actor
    from huike.accounts.models import Membership
    from huike.accounts.services import workspace_create
    from huike.channels.models import InboundDelivery
    from huike.channels.services import channel_create

    workspace = workspace_create(slug="bench", name="Bench", owner_email="o@bench.test")
    owner = Membership.objects.select_related("workspace", "role", "user").get(workspace=workspace)
    channel = channel_create(
        actor=Actor.for_membership(owner),
        kind="wechat_oa",
        name="Bench Official Account",
        config={"app_id": "wx0123456789abcdef", "app_secret": "s" * 32, "token": TOKEN},
    )
    path = f"/hooks/wechat_oa/{channel.public_id}"
    connection.close()
    workers_list = [int(n) for n in args.workers.split(",")]
    connection_list = [int(n) for n in args.connections.split(",")]
    if vendor == "sqlite":
        workers_list = workers_list[:1]
    results: list[tuple[str, int, int, dict[str, float], str]] = []
    run_number = 0

    def counts() -> tuple[int, int]:
        deliveries = InboundDelivery.objects.filter(channel=channel).count()
        # Deliveries queued for processing: one task per intake commit names them all
        # (process_deliveries), a lone one has its own (process_delivery).
        tasks = DBTaskResult.objects.filter(task_path__endswith="process_delivery").count()
        for (ids,) in DBTaskResult.objects.filter(
            task_path__endswith="process_deliveries"
        ).values_list("args_kwargs__args"):
            tasks += len(ids[0])
        connection.close()
        return deliveries, tasks

    def measure_huike(server: Server, workers: int) -> None:
        nonlocal run_number
        # Warm up for 2 s first (its rows are not counted): each process's intake threads,
        # writer, connections and caches start on the first requests, which cost the first
        # timed run ~0.5 s of p99 otherwise; a production server has long been up.
        wrk(
            f"http://127.0.0.1:{server.port}{path}?{signed_query()}",
            "wrk_wechat_new.lua",
            connection_list[0],
            2,
            "999",
        )
        time.sleep(1)
        for conns in connection_list:
            samples = []
            notes = []
            for _ in range(args.runs):
                run_number += 1
                before, tasks_before = counts()
                sample = wrk(
                    f"http://127.0.0.1:{server.port}{path}?{signed_query()}",
                    "wrk_wechat_new.lua",
                    conns,
                    args.seconds,
                    str(run_number),
                )
                time.sleep(1)  # requests in flight when wrk stopped
                after, tasks_after = counts()
                stored = after - before
                extra = stored - int(sample["ok"])
                notes.append(
                    f"rows {stored} = 200s {int(sample['ok'])} + {extra} in flight; "
                    f"tasks {tasks_after - tasks_before}"
                )
                if not 0 <= extra <= conns or tasks_after - tasks_before != stored:
                    print(f"MISMATCH: {notes[-1]}", flush=True)
                samples.append(sample)
            results.append(
                ("Huike, new deliveries", workers, conns, median_row(samples), " | ".join(notes))
            )
            print(results[-1], flush=True)
        # the duplicate path: one message stored beforehand, then repeated
        dup_url = f"http://127.0.0.1:{server.port}{path}?{signed_query()}"
        wrk(dup_url, "wrk_wechat_dup.lua", 1, 1)
        before, _ = counts()
        samples = [
            wrk(dup_url, "wrk_wechat_dup.lua", connection_list[0], args.seconds)
            for _ in range(args.runs)
        ]
        after, _ = counts()
        results.append(
            (
                "Huike, duplicates",
                workers,
                connection_list[0],
                median_row(samples),
                f"rows added {after - before}",
            )
        )
        print(results[-1], flush=True)

    for workers in workers_list:
        # (a) the HTTP stack: same uvicorn, trivial app
        server = Server("bench.asgi_trivial:application", workers)
        server.wait_ready("/")
        for conns in connection_list:
            samples = [
                wrk(
                    f"http://127.0.0.1:{server.port}{path}?x=1",
                    "wrk_wechat_dup.lua",
                    conns,
                    args.seconds,
                )
                for _ in range(args.runs)
            ]
            results.append(("trivial ASGI app", workers, conns, median_row(samples), ""))
            print(results[-1], flush=True)
        server.stop()

        server = Server(args.app, workers)
        server.wait_ready(f"{path}?{signed_query()}")
        try:
            measure_huike(server, workers)
        finally:
            server.stop()

    # (b) the database: raw INSERT … ON CONFLICT of the same rows, one transaction per row
    # At most 64 connections: PostgreSQL allows 100 by default, and others share it.
    for conns in sorted({min(64, n) for n in connection_list}):
        for with_task in (False, True):
            samples = [
                {"rps": raw_inserts(vendor, channel, conns, args.seconds, with_task)}
                for _ in range(args.runs)
            ]
            label = "raw INSERT + task row" if with_task else "raw INSERT"
            results.append((label, 0, conns, median_row(samples), ""))
            print(results[-1], flush=True)

    print(f"\ndatabase: {vendor}; {args.seconds} s per run, medians of {args.runs} runs")
    print(
        f"{'what':<28} {'workers':>7} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'non-200':>7} {'sock err':>8}"
    )
    for label, workers, conns, row, note in results:
        print(
            f"{label:<28} {workers or '-':>7} {conns:>5} {row['rps']:>9,.0f} "
            f"{row.get('p50', 0):>8.1f} {row.get('p99', 0):>8.1f} {row.get('other', 0):>7.0f} "
            f"{row.get('socket_errors', 0):>8.0f}  {note}"
        )
    if admin_url:
        import psycopg

        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def raw_inserts(vendor: str, channel: object, threads: int, seconds: int, with_task: bool) -> float:
    """Rows per second of INSERT … ON CONFLICT DO NOTHING RETURNING id of prepared rows (body
    encrypted beforehand), one transaction each, from `threads` connections at once; with_task
    adds the task queue's row in a second transaction, as enqueue-on-commit does."""
    import json

    from django.conf import settings
    from django.utils import timezone

    from huike.core.crypto import encrypted_column, workspace_keys

    keys = workspace_keys(channel.workspace_id)  # type: ignore[attr-defined]
    column = encrypted_column(
        type(channel)._meta.apps.get_model("channels", "InboundDelivery"), "body_token"
    )
    body = "<xml><MsgId>1</MsgId><Content><![CDATA[你好，请问还有货吗？]]></Content></xml>"
    tokens = [
        keys.encrypt(table=column.table, column=column.column, row_key=str(n), plaintext=body)
        for n in range(64)
    ]
    columns = (
        "workspace_id, channel_id, public_id, dedupe_key, received_at, content_type, "
        "body_token, meta, status, attempts, error, items"
    )
    from django_tasks_db.models import DBTaskResult

    task_sql = (
        f"INSERT INTO {DBTaskResult._meta.db_table} (id, status, enqueued_at, args_kwargs, "
        "priority, task_path, queue_name, backend_name, run_after, return_value, "
        "exception_class_path, traceback, worker_ids) VALUES (%s, 'READY', %s, %s, 0, "
        "'huike.channels.tasks.process_delivery', 'default', 'default', %s, 'null', '', '', '[]')"
    )
    stop = time.monotonic() + seconds
    done = [0] * threads
    prefix = uuid.uuid4().hex[:8]

    def args_of(delivery_id: int) -> str:
        return json.dumps({"args": [delivery_id], "kwargs": {}})

    def run(index: int) -> None:
        n = 0
        if vendor == "postgresql":
            import psycopg

            conn = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
            mark = "%s"
        else:
            import sqlite3

            conn = sqlite3.connect(
                settings.DATABASES["default"]["NAME"], timeout=20, isolation_level=None
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            mark = "?"
        sql = (
            f"INSERT INTO channels_inbounddelivery ({columns}) VALUES "
            f"({', '.join([mark] * 12)}) ON CONFLICT (workspace_id, channel_id, dedupe_key) "
            "DO NOTHING RETURNING id"
        )
        tsql = task_sql.replace("%s", mark)
        while time.monotonic() < stop:
            n += 1
            public_id = uuid.uuid4()
            values = (
                channel.workspace_id,  # type: ignore[attr-defined]
                channel.pk,  # type: ignore[attr-defined]
                public_id if vendor == "postgresql" else public_id.hex,
                f"raw-{prefix}-{index}-{n}",
                timezone.now() if vendor == "postgresql" else timezone.now().isoformat(),
                "application/xml",
                tokens[n % 64],
                json.dumps({}),
                "pending",
                0,
                "",
                0,
            )
            if vendor == "postgresql":
                with conn.transaction():
                    row = conn.execute(sql, values).fetchone()
                if with_task and row:
                    at = timezone.now()
                    conn.execute(tsql, (uuid.uuid4(), at, args_of(row[0]), at))
            else:
                conn.execute("BEGIN IMMEDIATE")
                row = conn.execute(sql, values).fetchone()
                conn.execute("COMMIT")
                if with_task and row:
                    at = timezone.now().isoformat()
                    conn.execute(tsql, (uuid.uuid4().hex, at, args_of(row[0]), at))
            done[index] += 1
        conn.close()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(done) / (time.monotonic() - started)


if __name__ == "__main__":
    main()
