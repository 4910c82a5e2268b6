"""`huike restore PATH --yes`: replace the whole database with a backup made by `huike backup`.

Before anything is replaced the backup is checked (SQLite: integrity check and a Django
migrations table; PostgreSQL: `pg_restore --list`), and the current database is backed up to
var/backups/huike-pre-restore-<timestamp>, so a restore of the wrong file can be undone.

SQLite: the backup is copied into the live database with the sqlite3 backup API, under the
database's write lock: other connections see the old data or the new, never a mix, and no
file is swapped underneath them. PostgreSQL: `pg_restore --clean --if-exists --no-owner` in a
single transaction; stop the web server and workers first, since their open transactions
would hold the locks the restore needs.
"""

import sqlite3
from argparse import ArgumentParser
from contextlib import closing
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils.translation import gettext as _

from huike.core.management.commands.backup import (
    backup_database,
    backup_default_path,
    postgres_environment,
    postgres_tool,
    run_tool,
)


def _check_sqlite_backup(path: Path) -> None:
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as source:
            (verdict,) = source.execute("PRAGMA quick_check").fetchone()
            has_migrations = source.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'django_migrations'"
            ).fetchone()
    except sqlite3.DatabaseError as error:
        raise CommandError(
            _("%(path)s is not a SQLite backup: %(error)s") % {"path": path, "error": error}
        ) from None
    if verdict != "ok":
        raise CommandError(
            _("%(path)s is damaged: %(verdict)s") % {"path": path, "verdict": verdict}
        )
    if not has_migrations:
        raise CommandError(
            _("%(path)s is a SQLite database but not a Huike backup.") % {"path": path}
        )


def restore_sqlite(path: Path) -> None:
    _check_sqlite_backup(path)
    connection.ensure_connection()
    if connection.in_atomic_block:
        raise CommandError(_("Cannot restore inside a transaction."))
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as source:
        source.backup(connection.connection)
    connection.close()


def restore_postgresql(path: Path) -> None:
    env = postgres_environment()
    pg_restore = postgres_tool("pg_restore")
    run_tool([pg_restore, "--list", str(path)], env)
    # Our own idle connection must not hold locks on the tables being dropped.
    connection.close()
    run_tool(
        [
            pg_restore,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            "--no-password",
            f"--dbname={env['PGDATABASE']}",
            str(path),
        ],
        env,
    )


class Command(BaseCommand):
    help = "Replace the database with a backup made by `huike backup` (asks for --yes)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("path", type=Path, help="Backup file to restore.")
        parser.add_argument(
            "--yes",
            action="store_true",
            help="Confirm that every change made since the backup is to be lost.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"].resolve()
        if not path.is_file():
            raise CommandError(_("No backup file at %(path)s.") % {"path": path})
        database = connection.settings_dict["NAME"]
        if not options["yes"]:
            raise CommandError(
                _(
                    "This replaces everything in the %(vendor)s database %(database)s with "
                    "%(path)s. Run again with --yes to confirm."
                )
                % {"vendor": connection.vendor, "database": database, "path": path}
            )
        if connection.vendor == "sqlite":
            _check_sqlite_backup(path)
        elif connection.vendor != "postgresql":
            raise CommandError(
                _("Restore supports SQLite and PostgreSQL, not %(vendor)s.")
                % {"vendor": connection.vendor}
            )
        safety = backup_database(backup_default_path("pre-restore"))
        self.stdout.write(_("Saved the current database to %(path)s first.") % {"path": safety})
        if connection.vendor == "sqlite":
            restore_sqlite(path)
        else:
            restore_postgresql(path)
        self.stdout.write(
            _(
                "Restored the %(vendor)s database %(database)s from %(path)s. "
                "If the backup comes from an older Huike, run `huike migrate` next."
            )
            % {"vendor": connection.vendor, "database": database, "path": path}
        )
