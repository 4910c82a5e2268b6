"""`huike workspace`, `huike apikey` and `huike audit` (called as management commands)."""

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from huike.accounts.models import ApiKey, Workspace
from huike.accounts.services import api_key_authenticate
from huike.core.audit import audit_record
from huike.core.models import AuditEntry
from huike.core.tests.test_tasks_helpers import tamper_with_audit_entry

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-42"


@pytest.fixture(autouse=True)
def _english(settings: Any) -> None:
    # Command output is translated; these tests read the English text.
    settings.LANGUAGE_CODE = "en"


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_workspace_create_then_apikey_create_prints_a_key_that_authenticates() -> None:
    # given
    created = run(
        "workspace",
        "create",
        "acme",
        "--name",
        "Acme",
        "--owner",
        "Boss@Acme.test",
        "--password",
        PASSWORD,
        "--timezone",
        "Europe/Berlin",
    )
    assert created == "Created workspace acme (Acme, Europe/Berlin) with admin boss@acme.test.\n"

    # when
    output = run(
        "apikey",
        "create",
        "--workspace",
        "acme",
        "--role",
        "sales",
        "--name",
        "CRM sync",
        "--rate-limit",
        "120",
    )

    # then the key is alone on the last line, and it authenticates as that key
    key = output.splitlines()[-1]
    api_key = api_key_authenticate(key)
    assert api_key is not None
    assert (api_key.workspace.slug, api_key.role.key, api_key.name) == ("acme", "sales", "CRM sync")
    assert api_key.rate_limit_per_minute == 120
    assert f"prefix {api_key.prefix}" in output
    assert (
        AuditEntry.objects.filter(
            workspace=api_key.workspace, action="api_key.created", actor_label="system"
        ).count()
        == 1
    )


def test_workspace_create_with_a_bad_slug_fails_clearly_and_creates_nothing() -> None:
    with pytest.raises(CommandError) as raised:
        run("workspace", "create", "Not A Slug", "--name", "X", "--owner", "x@x.test")

    # the option at fault first, then the service's own explanation
    assert str(raised.value).startswith("slug: ")
    assert "lower-case letters" in str(raised.value)
    assert raised.value.returncode == 1
    assert not Workspace.objects.exists()


def test_workspace_create_with_a_taken_slug_fails(workspace: Workspace) -> None:
    with pytest.raises(CommandError, match=r"^slug: .*acme.*already exists"):
        run("workspace", "create", "acme", "--name", "Again", "--owner", "x@x.test")

    assert list(Workspace.objects.values_list("name", flat=True)) == ["Acme"]


def test_workspace_create_with_an_unknown_time_zone_fails() -> None:
    with pytest.raises(CommandError, match=r"^timezone: .*Mars/Olympus"):
        run(
            "workspace",
            "create",
            "acme",
            "--name",
            "Acme",
            "--owner",
            "x@x.test",
            "--timezone",
            "Mars/Olympus",
        )

    assert not Workspace.objects.exists()


def test_workspace_list_shows_each_workspace(workspace: Workspace, other_workspace: Any) -> None:
    lines = run("workspace", "list").splitlines()

    assert [line.split()[:2] for line in lines[1:]] == [["acme", "1"], ["globex", "1"]]


def test_apikey_create_with_an_unknown_role_fails_and_creates_nothing(
    workspace: Workspace,
) -> None:
    with pytest.raises(CommandError) as raised:
        run("apikey", "create", "--workspace", "acme", "--role", "wizard")

    assert str(raised.value) == (
        "No role 'wizard' in acme; roles: admin, analyst, finance, manager, marketing, "
        "read_only, sales, service."
    )
    assert not ApiKey.objects.exists()


def test_apikey_create_in_an_unknown_workspace_fails() -> None:
    with pytest.raises(CommandError, match="No workspace with slug 'nowhere'"):
        run("apikey", "create", "--workspace", "nowhere", "--role", "admin")


def test_apikey_create_refuses_a_zero_rate_limit(workspace: Workspace) -> None:
    with pytest.raises(CommandError, match="--rate-limit must be at least 1"):
        run("apikey", "create", "--workspace", "acme", "--role", "admin", "--rate-limit", "0")

    assert not ApiKey.objects.exists()


def test_apikey_revoke_revokes_the_key(workspace: Workspace) -> None:
    # given
    key = run("apikey", "create", "--workspace", "acme", "--role", "admin").splitlines()[-1]
    prefix = ApiKey.objects.get().prefix

    # when
    output = run("apikey", "revoke", prefix, "--workspace", "acme")

    # then
    assert output == f"Revoked API key {prefix} (Command line).\n"
    assert api_key_authenticate(key) is None
    assert AuditEntry.objects.filter(action="api_key.revoked", workspace=workspace).count() == 1


def test_apikey_revoke_cannot_reach_another_workspaces_key(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    # given a key of globex
    key = run("apikey", "create", "--workspace", "globex", "--role", "admin").splitlines()[-1]
    prefix = ApiKey.objects.get().prefix

    # when it is revoked "in acme"
    with pytest.raises(CommandError, match=f"No API key with prefix '{prefix}' in acme"):
        run("apikey", "revoke", prefix, "--workspace", "acme")

    # then it still works
    assert api_key_authenticate(key) is not None


def test_apikey_list_shows_the_workspace_keys_only(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    # given
    run("apikey", "create", "--workspace", "acme", "--role", "sales", "--name", "Mine")
    run("apikey", "create", "--workspace", "globex", "--role", "admin", "--name", "Theirs")
    mine = ApiKey.objects.get(name="Mine")

    # when
    lines = run("apikey", "list", "--workspace", "acme").splitlines()

    # then
    assert len(lines) == 2
    assert lines[1].split() == [mine.prefix, "sales", "active", "-", "Mine"]


def test_audit_verify_succeeds_on_intact_chains(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    output = run("audit", "verify")

    assert output.splitlines() == [
        f"workspace:{workspace.pk} (acme): intact, 2 entries",
        f"workspace:{other_workspace.pk} (globex): intact, 2 entries",
        "All 2 audit chains intact.",
    ]


def test_audit_verify_fails_naming_the_first_tampered_entry(workspace: Workspace) -> None:
    # given
    for n in range(3):
        audit_record(workspace_id=workspace.pk, action="test.action", data={"n": n})
    entry = AuditEntry.objects.get(workspace=workspace, action="test.action", data={"n": 1})
    tamper_with_audit_entry(entry.pk)
    out = StringIO()

    # when
    with pytest.raises(CommandError) as raised:
        call_command("audit", "verify", stdout=out)

    # then
    chain = f"workspace:{workspace.pk}"
    assert raised.value.returncode == 1
    assert str(raised.value) == (
        f"1 of 1 audit chains broken; first: chain {chain} seq {entry.seq} (entry content altered)."
    )
    assert out.getvalue() == f"{chain} (acme): BROKEN at seq {entry.seq}: entry content altered\n"


def test_audit_verify_of_one_workspace_checks_only_its_chain(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    # given the other workspace's chain is broken
    entry = AuditEntry.objects.filter(workspace=other_workspace).order_by("seq").first()
    assert entry is not None
    tamper_with_audit_entry(entry.pk)

    # when / then
    assert run("audit", "verify", "--workspace", "acme").splitlines() == [
        f"workspace:{workspace.pk} (acme): intact, 2 entries",
        "All 1 audit chains intact.",
    ]
