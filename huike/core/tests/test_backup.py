"""`huike backup` / `huike restore` round trips on the database the suite runs on.

On SQLite that is the in-memory test database (backed up through the same sqlite3 connection
Django uses); on PostgreSQL it is the test database, dumped with pg_dump.
"""

import shutil
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from huike.accounts.models import Workspace
from tests.support import skip_unless_required

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _var_dir(settings: Any, tmp_path: Path) -> None:
    # Default backup paths (and the safety copy taken before a restore) go under VAR_DIR.
    settings.VAR_DIR = tmp_path / "var"
    settings.LANGUAGE_CODE = "en"  # the commands' output is translated; we read the English
    if connection.vendor == "postgresql" and not (
        shutil.which("pg_dump") and shutil.which("pg_restore")
    ):
        skip_unless_required("pg_dump and pg_restore are needed to back up PostgreSQL")


def make_workspace(slug: str, name: str) -> None:
    # Plain rows rather than workspace_create: a transactional test ends by emptying every
    # table, and on SQLite the append-only audit trigger refuses that DELETE.
    Workspace.objects.create(slug=slug, name=name)


def workspace_names() -> list[str]:
    return list(Workspace.objects.order_by("slug").values_list("name", flat=True))


def test_restore_brings_back_the_data_of_the_backup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given data, and a backup of it
    make_workspace("acme", "Acme")
    backup = tmp_path / "backup.bin"
    call_command("backup", "--output", str(backup))
    assert f"to {backup}" in capsys.readouterr().out

    # and changes made after the backup
    Workspace.objects.filter(slug="acme").update(name="Renamed")
    make_workspace("later", "Later")
    assert workspace_names() == ["Renamed", "Later"]

    # when
    call_command("restore", str(backup), "--yes")

    # then the data is as it was at the backup
    assert workspace_names() == ["Acme"]
    output = capsys.readouterr().out
    assert f"from {backup}" in output
    # and the state before the restore was saved, so the restore can be undone
    safety = sorted((tmp_path / "var" / "backups").iterdir())
    assert len(safety) == 1
    assert safety[0].name.startswith("huike-pre-restore-")
    assert f"Saved the current database to {safety[0]}" in output


def test_backup_goes_to_var_backups_by_default(
    settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # when
    call_command("backup")

    # then
    (written,) = (Path(settings.VAR_DIR) / "backups").iterdir()
    extension = "sqlite3" if connection.vendor == "sqlite" else "dump"
    assert written.name.startswith("huike-")
    assert written.suffix == f".{extension}"
    assert written.stat().st_mode & 0o777 == 0o600
    assert f"to {written}" in capsys.readouterr().out


def test_restore_without_yes_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    # given
    make_workspace("acme", "Acme")
    backup = tmp_path / "backup.bin"
    call_command("backup", "--output", str(backup))
    Workspace.objects.filter(slug="acme").update(name="Renamed")

    # when
    with pytest.raises(CommandError, match="Run again with --yes to confirm"):
        call_command("restore", str(backup))

    # then
    assert workspace_names() == ["Renamed"]


def test_restore_of_a_file_that_is_not_a_backup_is_refused(tmp_path: Path) -> None:
    # given
    make_workspace("acme", "Acme")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a backup at all" * 100)

    # when
    with pytest.raises(CommandError):
        call_command("restore", str(junk), "--yes")

    # then
    assert workspace_names() == ["Acme"]


def test_backup_refuses_to_overwrite(tmp_path: Path) -> None:
    existing = tmp_path / "exists.bin"
    existing.write_text("keep me")

    with pytest.raises(CommandError, match="already exists"):
        call_command("backup", "--output", str(existing))

    assert existing.read_text() == "keep me"
