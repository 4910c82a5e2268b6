"""`huike backup [--output PATH]`: a consistent copy of the whole database, safe while running.

SQLite: the sqlite3 online backup API, which copies a consistent snapshot while the web
server and workers keep writing (WAL readers never block writers). PostgreSQL: `pg_dump
--format=custom` (one consistent snapshot, restorable table by table with `pg_restore`).
The copy is written beside its final name and renamed when complete, so a file with the
final name is never a partial backup.
"""

import os
import shutil
import sqlite3
import subprocess
from argparse import ArgumentParser
from contextlib import closing
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

EXTENSIONS = {"sqlite": "sqlite3", "postgresql": "dump"}


def backup_default_path(label: str = "") -> Path:
    vendor = connection.vendor
    if vendor not in EXTENSIONS:
        raise CommandError(
            _("Backups support SQLite and PostgreSQL, not %(vendor)s.") % {"vendor": vendor}
        )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    name = f"huike-{label + '-' if label else ''}{stamp}.{EXTENSIONS[vendor]}"
    return Path(settings.VAR_DIR) / "backups" / name


def postgres_environment() -> dict[str, str]:
    """libpq variables for the configured database; the password never appears in argv."""
    params = connection.settings_dict
    env = dict(os.environ)
    for variable, value in {
        "PGHOST": params.get("HOST"),
        "PGPORT": params.get("PORT"),
        "PGUSER": params.get("USER"),
        "PGPASSWORD": params.get("PASSWORD"),
        "PGDATABASE": params.get("NAME"),
        "PGSSLMODE": params.get("OPTIONS", {}).get("sslmode"),
    }.items():
        if value:
            env[variable] = str(value)
    return env


def postgres_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise CommandError(
            _(
                "%(tool)s was not found on PATH; install the PostgreSQL client tools "
                "(Debian: apt-get install postgresql-client) of the server's major version."
            )
            % {"tool": name}
        )
    return path


def run_tool(command: list[str], env: dict[str, str]) -> None:
    # Fixed tool and arguments; the only outside input is a file path given by the operator.
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise CommandError(
            _("%(tool)s failed: %(error)s")
            % {"tool": Path(command[0]).name, "error": result.stderr.strip()}
        )


def backup_sqlite(destination: Path) -> None:
    connection.ensure_connection()
    source: sqlite3.Connection = connection.connection
    partial = destination.with_name(destination.name + ".partial")
    with closing(sqlite3.connect(partial, isolation_level=None)) as target:
        source.backup(target)
        # One self-contained file: no -wal or -shm beside it.
        target.execute("PRAGMA journal_mode=DELETE")
    partial.replace(destination)


def backup_postgresql(destination: Path) -> None:
    partial = destination.with_name(destination.name + ".partial")
    run_tool(
        [postgres_tool("pg_dump"), "--format=custom", "--no-password", f"--file={partial}"],
        postgres_environment(),
    )
    partial.replace(destination)


def backup_database(destination: Path) -> Path:
    """Back the configured database up to `destination`; returns the file written."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination.exists():
        raise CommandError(
            _("%(path)s already exists; choose another --output.") % {"path": destination}
        )
    if connection.vendor == "sqlite":
        backup_sqlite(destination)
    elif connection.vendor == "postgresql":
        backup_postgresql(destination)
    else:
        raise CommandError(
            _("Backups support SQLite and PostgreSQL, not %(vendor)s.")
            % {"vendor": connection.vendor}
        )
    destination.chmod(0o600)  # the backup holds everything the database does
    return destination


class Command(BaseCommand):
    help = "Back up the database (SQLite online backup or pg_dump), safe while Huike runs."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--output",
            "-o",
            type=Path,
            help="File to write (default: var/backups/huike-<timestamp>.sqlite3 or .dump).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        destination = (options["output"] or backup_default_path()).resolve()
        backup_database(destination)
        size = destination.stat().st_size
        self.stdout.write(
            _("Backed up the %(vendor)s database %(database)s to %(path)s (%(size)s bytes).")
            % {
                "vendor": connection.vendor,
                "database": connection.settings_dict["NAME"],
                "path": destination,
                "size": f"{size:,}",
            }
        )
