"""Where the master key comes from: the system checks, and the key file of embedded mode."""

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import Tags, run_checks

from huike.core.crypto import master_key_decode
from huike.core.models import DataKey

VALID = base64.urlsafe_b64encode(b"k" * 32).decode()


def master_key_messages() -> list[tuple[str, str]]:
    messages = run_checks(include_deployment_checks=True, tags=[Tags.security])
    return [
        (message.id or "", message.msg) for message in messages if "crypto" in (message.id or "")
    ]


def test_deploy_check_warns_when_the_master_key_was_generated(settings: Any) -> None:
    settings.HUIKE_MASTER_KEYS = [VALID]
    settings.HUIKE_MASTER_KEY_SOURCE = "file"

    assert master_key_messages() == [
        (
            "huike.crypto.W001",
            "The personal-data master key was generated into var/master_key instead of "
            "coming from the environment.",
        )
    ]


def test_deploy_check_is_quiet_when_the_master_key_comes_from_the_environment(
    settings: Any,
) -> None:
    settings.HUIKE_MASTER_KEYS = [VALID]
    settings.HUIKE_MASTER_KEY_SOURCE = "environment"

    assert master_key_messages() == []


def test_the_warning_is_only_a_deployment_check(settings: Any) -> None:
    settings.HUIKE_MASTER_KEYS = [VALID]
    settings.HUIKE_MASTER_KEY_SOURCE = "file"

    messages = run_checks(tags=[Tags.security])

    assert [message.id for message in messages if "crypto" in (message.id or "")] == []


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["not-base64!"], ["HUIKE_MASTER_KEY is not 32 bytes of base64url."]),
        (
            [VALID, base64.urlsafe_b64encode(b"k" * 16).decode()],
            ["HUIKE_MASTER_KEY_PREVIOUS[0] is not 32 bytes of base64url."],
        ),
        (
            [base64.urlsafe_b64encode(b"k" * 33).decode(), VALID],
            ["HUIKE_MASTER_KEY is not 32 bytes of base64url."],
        ),
    ],
)
def test_a_malformed_master_key_is_an_error(
    settings: Any, keys: list[str], expected: list[str]
) -> None:
    settings.HUIKE_MASTER_KEYS = keys
    settings.HUIKE_MASTER_KEY_SOURCE = "environment"

    messages = run_checks(tags=[Tags.security])

    assert [(m.id, m.msg) for m in messages if "crypto" in (m.id or "")] == [
        ("huike.crypto.E002", text) for text in expected
    ]


def test_no_master_key_at_all_is_an_error(settings: Any) -> None:
    settings.HUIKE_MASTER_KEYS = []

    messages = run_checks(tags=[Tags.security])

    assert [m.id for m in messages if "crypto" in (m.id or "")] == ["huike.crypto.E001"]


def test_unpadded_base64url_is_accepted() -> None:
    assert master_key_decode(VALID.rstrip("=")) == b"k" * 32


def settings_in_subprocess(var_dir: Path, **env: str) -> list[str]:
    """HUIKE_MASTER_KEY_SOURCE and HUIKE_MASTER_KEYS as a fresh process computes them."""
    clean = {
        key: value
        for key, value in os.environ.items()
        # Embedded mode (SQLite) unless a test names another database.
        if not key.startswith("HUIKE_MASTER_KEY")
        and key not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}
    }
    clean.update(HUIKE_VAR_DIR=str(var_dir), **env)
    script = (
        "import config.settings as s; "
        "print(s.HUIKE_MASTER_KEY_SOURCE); print(*s.HUIKE_MASTER_KEYS, sep='\\n')"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=clean,
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.split()


def test_embedded_mode_generates_a_private_key_file_once(tmp_path: Path) -> None:
    # when settings load twice without HUIKE_MASTER_KEY
    first = settings_in_subprocess(tmp_path)
    second = settings_in_subprocess(tmp_path)
    # then one key was generated into var/master_key, readable by its owner only
    key_file = tmp_path / "master_key"
    assert first == second == ["file", key_file.read_text().strip()]
    assert len(master_key_decode(first[1])) == 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert sorted(path.name for path in tmp_path.iterdir() if "master_key" in path.name) == [
        "master_key"
    ]


def test_without_sqlite_no_key_is_generated_and_startup_fails_clearly(tmp_path: Path) -> None:
    # when settings load for PostgreSQL without HUIKE_MASTER_KEY
    loaded = settings_in_subprocess(
        tmp_path, DATABASE_URL="postgres://postgres@127.0.0.1:5432/huike_nothing"
    )
    # then no key file was written and no key is configured, which E001 reports at startup
    assert loaded == ["missing"]
    assert sorted(path.name for path in tmp_path.iterdir() if "master_key" in path.name) == []


def test_the_embedded_secret_key_is_private_and_shared(tmp_path: Path) -> None:
    # when settings load twice in embedded mode
    settings_in_subprocess(tmp_path)
    settings_in_subprocess(tmp_path)
    # then one secret key file exists, readable by its owner only, and no temporary file stayed
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert sorted(path.name for path in tmp_path.iterdir() if "secret_key" in path.name) == [
        "secret_key"
    ]


@pytest.mark.django_db
def test_data_keys_wrapped_by_an_unconfigured_master_are_a_startup_error(
    workspace: Any, settings: Any
) -> None:
    from huike.core.checks import check_data_key_masters
    from huike.core.crypto import master_key_id, pii_encrypt

    # given data keys wrapped by one master key
    settings.HUIKE_MASTER_KEYS = [VALID]
    pii_encrypt(workspace_id=workspace.pk, table="t", column="c", row_key="r", plaintext="x")
    assert check_data_key_masters() == []
    # when another master key is configured in its place
    other = base64.urlsafe_b64encode(b"o" * 32).decode()
    settings.HUIKE_MASTER_KEYS = [other]
    # then the startup check names the missing one
    [message] = check_data_key_masters()
    assert (message.id, message.msg) == (
        "huike.crypto.E003",
        f"Data keys are wrapped by master keys {master_key_id(b'k' * 32)}, which are neither "
        "HUIKE_MASTER_KEY nor in HUIKE_MASTER_KEY_PREVIOUS; their personal data cannot be read.",
    )
    # and it runs with every command's startup checks, not only deploy checks
    assert "huike.crypto.E003" in [message.id for message in run_checks()]


@pytest.mark.django_db
def test_the_data_key_check_is_quiet_before_migrate(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huike.core.checks import check_data_key_masters

    # given a database where the data key table does not exist yet
    settings.HUIKE_MASTER_KEYS = [VALID]
    monkeypatch.setattr(DataKey._meta, "db_table", "core_datakey_not_migrated")
    # then the check reports nothing
    assert check_data_key_masters() == []
    # and the surrounding transaction is still usable
    monkeypatch.undo()
    assert DataKey.objects.count() == 0


def test_the_environment_key_and_previous_keys_come_first_and_no_file_is_written(
    tmp_path: Path,
) -> None:
    previous = base64.urlsafe_b64encode(b"p" * 32).decode()

    loaded = settings_in_subprocess(
        tmp_path, HUIKE_MASTER_KEY=VALID, HUIKE_MASTER_KEY_PREVIOUS=f" {previous} ,"
    )

    assert loaded == ["environment", VALID, previous]
    assert not (tmp_path / "master_key").exists()


@pytest.mark.parametrize(
    ("site_url", "warned"),
    [
        ("http://127.0.0.1:8000", True),
        ("https://localhost", True),
        ("http://crm.example.com", True),
        ("https://crm.example.com", False),
    ],
)
def test_deploy_check_wants_a_public_https_site_url(
    settings: Any, site_url: str, warned: bool
) -> None:
    from huike.core.checks import check_site_url

    settings.SITE_URL = site_url
    assert [message.id for message in check_site_url()] == (["huike.W002"] if warned else [])
