"""`huike keys status|rotate|rewrap` (called as a management command)."""

import base64
import secrets
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError

from huike.accounts.models import Workspace
from huike.core.audit import AuditAction
from huike.core.crypto import ENCRYPTION, master_key_id
from huike.core.models import AuditEntry, DataKey
from tests.recordapp.contacts import contact_create, contact_read
from tests.recordapp.models import Contact

pytestmark = pytest.mark.django_db


def new_master_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def fingerprint(key: str) -> str:
    return master_key_id(base64.urlsafe_b64decode(key))


@pytest.fixture
def master(settings: Any) -> str:
    key = new_master_key()
    settings.HUIKE_MASTER_KEYS = [key]
    settings.HUIKE_MASTER_KEY_SOURCE = "environment"
    return key


def run(*args: str) -> str:
    """The command's output without the lines about the parts' own columns (customers.…,
    channels.…): these tests cover the command with the test app's columns, whatever parts
    are installed."""
    parts = tuple(
        f"{config.label}." for config in apps.get_app_configs() if config.name.startswith("huike.")
    )
    out = StringIO()
    call_command("keys", *args, stdout=out)
    return "".join(
        line
        for line in out.getvalue().splitlines(keepends=True)
        if not line.lstrip().startswith(parts)
    )


def test_status_shows_keys_and_rows_per_version(
    workspace: Workspace, other_workspace: Workspace, master: str
) -> None:
    # given acme has two contacts, globex none
    contact_create(workspace_id=workspace.pk, phone="13812345678", email="a@b.test")
    contact_create(workspace_id=workspace.pk, phone="13987654321")
    # when
    output = run("status")
    # then
    key = fingerprint(master)
    assert output == (
        f"Master key {key} (from the environment); 0 previous key(s) accepted.\n"
        "acme\n"
        f"  encryption key v1, in use, wrapped by master key {key}\n"
        f"  index key v1, in use, wrapped by master key {key}\n"
        "  recordapp.contact.email_token rows per key version: v1: 1\n"
        "  recordapp.contact.email_token rows per index key version: v1: 1\n"
        "  recordapp.contact.phone_token rows per key version: v1: 2\n"
        "  recordapp.contact.phone_token rows per index key version: v1: 2\n"
        "  recordapp.identityrecord.value_token rows per key version: none\n"
        "globex\n"
        "  no keys yet (created when personal data is first written)\n"
    )


def test_status_of_one_workspace(
    workspace: Workspace, other_workspace: Workspace, master: str
) -> None:
    contact_create(workspace_id=other_workspace.pk, email="a@b.test")

    output = run("status", "--workspace", "globex")

    assert output.splitlines()[1:] == [
        "globex",
        f"  encryption key v1, in use, wrapped by master key {fingerprint(master)}",
        f"  index key v1, in use, wrapped by master key {fingerprint(master)}",
        "  recordapp.contact.email_token rows per key version: v1: 1",
        "  recordapp.contact.email_token rows per index key version: v1: 1",
        "  recordapp.contact.phone_token rows per key version: none",
        "  recordapp.identityrecord.value_token rows per key version: none",
    ]


def test_rotate_reencrypts_and_reports(workspace: Workspace, master: str) -> None:
    # given
    contact = contact_create(workspace_id=workspace.pk, phone="13812345678", email="a@b.test")
    # when
    output = run("rotate", "--workspace", "acme")
    # then
    assert output == (
        "acme: encryption key v2\n"
        "  recordapp.contact.email_token: 1 rows re-encrypted\n"
        "  recordapp.contact.phone_token: 1 rows re-encrypted\n"
        "  recordapp.identityrecord.value_token: 0 rows re-encrypted\n"
        "  finished; retired encryption key v1\n"
    )
    contact.refresh_from_db()
    assert int.from_bytes(bytes(contact.phone_token)[1:5], "big") == 2
    assert contact_read(contact, "phone") == "+8613812345678"
    assert (
        AuditEntry.objects.filter(workspace=workspace, action=AuditAction.KEYS_ROTATED).count() == 1
    )
    # and status shows the new state
    status = run("status", "--workspace", "acme")
    assert "  recordapp.contact.phone_token rows per key version: v2: 1\n" in status
    assert "  encryption key v1, retired " in status


def test_rotate_with_the_index(workspace: Workspace, master: str) -> None:
    contact_create(workspace_id=workspace.pk, phone="13812345678")

    output = run("rotate", "--include-index")

    assert output.splitlines()[0] == (
        "acme: encryption key v2, index key v2 (index columns recomputed)"
    )
    assert output.splitlines()[-1] == "  finished; retired encryption key v1, index key v1"


def test_rotate_with_no_keys_anywhere_says_so(workspace: Workspace, master: str) -> None:
    assert run("rotate") == "No workspace has personal-data keys yet; nothing to rotate.\n"
    assert run("rotate", "--workspace", "acme") == (
        "acme: no personal-data keys yet; nothing to rotate.\n"
    )


def test_rotate_with_rows_that_do_not_decrypt_fails_after_reporting_them(
    workspace: Workspace, master: str
) -> None:
    first = contact_create(workspace_id=workspace.pk, phone="13812345678")
    second = contact_create(workspace_id=workspace.pk, phone="13987654321")
    Contact.objects.filter(pk=second.pk).update(phone_token=first.phone_token)
    out = StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("keys", "rotate", stdout=out)

    assert str(raised.value) == (
        "1 rows could not be re-encrypted; their old key versions stay in use. "
        "Fix or erase those rows, then run `huike keys rotate` again."
    )
    assert f"  FAILED recordapp.contact.phone_token row {second.pk}: " in out.getvalue()
    assert out.getvalue().endswith("  not finished; older key versions stay in use\n")


def test_rewrap_moves_keys_to_the_new_master(
    workspace: Workspace, master: str, settings: Any
) -> None:
    # given
    contact = contact_create(workspace_id=workspace.pk, phone="13812345678")
    new_master = new_master_key()
    settings.HUIKE_MASTER_KEYS = [new_master, master]
    # when
    output = run("rewrap")
    # then
    assert output == f"Re-wrapped 2 data keys under master key {fingerprint(new_master)}.\n"
    settings.HUIKE_MASTER_KEYS = [new_master]
    assert contact_read(contact, "phone") == "+8613812345678"


def test_rewrap_without_the_old_master_is_a_command_error(
    workspace: Workspace, master: str, settings: Any
) -> None:
    contact_create(workspace_id=workspace.pk, phone="13812345678")
    settings.HUIKE_MASTER_KEYS = [new_master_key()]

    with pytest.raises(CommandError) as raised:
        run("rewrap")

    assert str(raised.value).startswith(
        f"Some data keys are wrapped by master keys {fingerprint(master)}, "
    )
    assert set(DataKey.objects.values_list("master_key_id", flat=True)) == {fingerprint(master)}


@pytest.mark.parametrize("action", ["status", "rotate"])
def test_a_bad_slug_is_a_command_error(workspace: Workspace, master: str, action: str) -> None:
    with pytest.raises(CommandError) as raised:
        run(action, "--workspace", "nope")

    assert str(raised.value) == "No workspace with slug 'nope'."


# run_from_argv closes the database connections when it ends, as a real command does, which a
# test inside one transaction would not survive.
@pytest.mark.django_db(transaction=True)
def test_a_bad_slug_exits_1_without_rotating_anything(
    workspace: Workspace, master: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # given
    contact_create(workspace_id=workspace.pk, phone="13812345678")
    command = load_command_class("huike.core", "keys")
    # when run as `huike keys rotate --workspace nope`
    with pytest.raises(SystemExit) as exited:
        command.run_from_argv(["huike", "keys", "--skip-checks", "rotate", "--workspace", "nope"])
    # then
    assert exited.value.code == 1
    assert capsys.readouterr().err == "CommandError: No workspace with slug 'nope'.\n"
    assert list(
        DataKey.objects.filter(workspace=workspace, purpose=ENCRYPTION).values_list(
            "version", flat=True
        )
    ) == [1]


def test_status_flags_keys_whose_master_is_not_configured(
    workspace: Workspace, master: str, settings: Any
) -> None:
    contact_create(workspace_id=workspace.pk, email="a@b.test")
    settings.HUIKE_MASTER_KEYS = [new_master_key()]

    output = run("status")

    assert output.splitlines()[2] == (
        f"  encryption key v1, in use, wrapped by master key {fingerprint(master)} -- NOT "
        "CONFIGURED: set this master key in HUIKE_MASTER_KEY_PREVIOUS or its values cannot be read"
    )


def test_rotate_without_the_old_master_is_a_command_error(
    workspace: Workspace, master: str, settings: Any
) -> None:
    contact_create(workspace_id=workspace.pk, email="a@b.test")
    settings.HUIKE_MASTER_KEYS = [new_master_key()]

    with pytest.raises(CommandError) as raised:
        run("rotate")

    assert str(raised.value) == (
        f"The encryption key v1 of workspace {workspace.pk} is wrapped by master key "
        f"{fingerprint(master)}, which is neither HUIKE_MASTER_KEY nor in "
        "HUIKE_MASTER_KEY_PREVIOUS."
    )
