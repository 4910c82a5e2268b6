"""The `huike` console script: Django's management commands under the project's name, with
the exit codes an operator's script relies on."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HUIKE = str(Path(sys.executable).with_name("huike"))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    clean["HUIKE_VAR_DIR"] = str(tmp_path)
    clean["HUIKE_DEFAULT_LANGUAGE"] = "en"  # output is translated; these tests read English
    return clean


def huike(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HUIKE, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_huike_runs_the_project_commands(env: dict[str, str]) -> None:
    result = huike(env, "worker", "--help")

    assert result.returncode == 0, result.stderr
    assert "--no-scheduler" in result.stdout


def test_a_bad_slug_exits_1_with_a_clear_message(env: dict[str, str]) -> None:
    result = huike(
        env, "workspace", "create", "Bad Slug", "--name", "Bad", "--owner", "x@example.test"
    )

    assert result.returncode == 1
    assert result.stderr.startswith("CommandError: slug: ")
    assert "lower-case letters" in result.stderr


def test_a_missing_action_exits_2_with_usage(env: dict[str, str]) -> None:
    result = huike(env, "apikey")

    assert result.returncode == 2
    assert "usage: huike apikey" in result.stderr


def test_restore_without_yes_exits_1_and_names_the_database(
    env: dict[str, str], tmp_path: Path
) -> None:
    backup = tmp_path / "some.sqlite3"
    backup.write_bytes(b"")

    result = huike(env, "restore", str(backup))

    assert result.returncode == 1
    assert "Run again with --yes to confirm" in result.stderr
    assert str(tmp_path / "huike.sqlite3") in result.stderr
