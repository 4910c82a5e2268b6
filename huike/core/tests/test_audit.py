import pytest
from django.db import DatabaseError, connection, transaction

from huike.accounts.models import Workspace
from huike.core.audit import AuditAction, audit_record, audit_verify
from huike.core.models import AuditChain, AuditEntry


def _drop_append_only_triggers() -> None:
    # The triggers stop accidental edits; a tamper test must get past them like an attacker
    # with database access would. The test transaction rolls this back.
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("DROP TRIGGER core_auditentry_no_update")
            cursor.execute("DROP TRIGGER core_auditentry_no_delete")
        else:
            cursor.execute("DROP TRIGGER core_auditentry_append_only ON core_auditentry")


def _chain_report(workspace: Workspace):  # type: ignore[no-untyped-def]
    (report,) = audit_verify(workspace_id=workspace.pk)
    return report


def test_entries_form_an_intact_chain_per_workspace(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    # given entries in two workspaces, interleaved
    for index in range(3):
        audit_record(
            workspace_id=workspace.pk, action=AuditAction.EXPORT_PERFORMED, data={"i": index}
        )
        audit_record(workspace_id=other_workspace.pk, action=AuditAction.EXPORT_PERFORMED)
    # then each workspace has its own consecutive sequence, linked by hashes
    seqs = list(
        AuditEntry.objects.filter(workspace=workspace).order_by("seq").values_list("seq", flat=True)
    )
    assert seqs == list(range(1, len(seqs) + 1))
    assert all(report.is_intact for report in audit_verify())


def test_database_refuses_update_and_delete(workspace: Workspace) -> None:
    entry = audit_record(workspace_id=workspace.pk, action=AuditAction.EXPORT_PERFORMED)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="changed")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).action == AuditAction.EXPORT_PERFORMED


def test_verify_finds_altered_content(workspace: Workspace) -> None:
    # given
    entries = [
        audit_record(
            workspace_id=workspace.pk, action=AuditAction.EXPORT_PERFORMED, data={"rows": n}
        )
        for n in range(4)
    ]
    _drop_append_only_triggers()
    # when someone edits the third entry's data
    AuditEntry.objects.filter(pk=entries[-2].pk).update(data={"rows": 0})
    # then
    report = _chain_report(workspace)
    assert (report.first_broken_seq, report.reason) == (entries[-2].seq, "entry content altered")


def test_verify_finds_a_removed_entry(workspace: Workspace) -> None:
    entries = [
        audit_record(workspace_id=workspace.pk, action=AuditAction.EXPORT_PERFORMED)
        for _ in range(3)
    ]
    _drop_append_only_triggers()
    AuditEntry.objects.filter(pk=entries[1].pk).delete()
    report = _chain_report(workspace)
    assert (report.first_broken_seq, report.reason) == (entries[1].seq, "entry missing")


def test_verify_finds_truncated_tail(workspace: Workspace) -> None:
    entries = [
        audit_record(workspace_id=workspace.pk, action=AuditAction.EXPORT_PERFORMED)
        for _ in range(3)
    ]
    _drop_append_only_triggers()
    AuditEntry.objects.filter(pk=entries[-1].pk).delete()
    report = _chain_report(workspace)
    assert (report.first_broken_seq, report.reason) == (
        entries[-1].seq,
        "entries after this one removed",
    )


def test_verify_finds_a_rewritten_chain_link(workspace: Workspace) -> None:
    entries = [
        audit_record(workspace_id=workspace.pk, action=AuditAction.EXPORT_PERFORMED)
        for _ in range(3)
    ]
    _drop_append_only_triggers()
    AuditEntry.objects.filter(pk=entries[1].pk).update(prev_hash="f" * 64)
    report = _chain_report(workspace)
    assert (report.first_broken_seq, report.reason) == (
        entries[1].seq,
        "link to previous entry broken",
    )


def test_system_chain_holds_sign_in_failures_of_strangers(db: None) -> None:
    audit_record(workspace_id=None, action=AuditAction.LOGIN_FAILED, actor_label="nobody@x.test")
    chain = AuditChain.objects.get(key="system")
    assert chain.last_seq == 1
    assert all(report.is_intact for report in audit_verify())


@pytest.mark.parametrize("address", ["", "2001:0DB8:0000::1", "192.0.2.1", None])
def test_addresses_are_hashed_as_stored(workspace: Workspace, address: str | None) -> None:
    audit_record(workspace_id=workspace.pk, action=AuditAction.LOGIN_SUCCEEDED, ip_address=address)
    assert all(report.is_intact for report in audit_verify(workspace_id=workspace.pk))


def test_entries_appended_during_verification_are_not_reported_as_tampering(
    workspace: Workspace,
) -> None:
    # given the head as a verifier read it, then two more entries appended meanwhile
    audit_record(workspace_id=workspace.pk, action=AuditAction.EXPORT_PERFORMED)
    stale_head = AuditChain.objects.get(workspace=workspace)
    audit_record(workspace_id=workspace.pk, action=AuditAction.EXPORT_PERFORMED)
    # when the verifier walks with its stale head
    from huike.core.audit import audit_verify_chain

    report = audit_verify_chain(stale_head)
    # then the chain is intact
    assert report.is_intact
