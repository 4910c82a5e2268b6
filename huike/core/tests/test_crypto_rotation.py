"""Key rotation: data keys re-encrypted without downtime and resumably; master keys re-wrapped."""

import base64
import secrets
from typing import Any

import pytest

from huike.accounts.models import Workspace
from huike.core.audit import AuditAction
from huike.core.crypto import (
    ENCRYPTION,
    INDEX,
    MasterKeyError,
    encrypted_column,
    index_version,
    master_key_id,
    workspace_keys,
)
from huike.core.key_rotation import RotationProgress, keys_rewrap, keys_rotate, keys_status
from huike.core.models import AuditEntry, DataKey
from tests.recordapp.contacts import (
    contact_create,
    contact_find,
    contact_read,
    identity_create,
)
from tests.recordapp.models import Contact, IdentityRecord

PHONE_COLUMN = "recordapp.contact.phone_token"


def is_test_column(label: str) -> bool:
    """The test app's columns; the parts' own (customers…) are tested with them."""
    return label.startswith("recordapp.")


def of_test_app(counts: dict[str, int]) -> dict[str, int]:
    return {label: count for label, count in counts.items() if is_test_column(label)}


EMAIL_COLUMN = "recordapp.contact.email_token"
IDENTITY_COLUMN = "recordapp.identityrecord.value_token"


def new_master_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def master(settings: Any) -> str:
    key = new_master_key()
    settings.HUIKE_MASTER_KEYS = [key]
    return key


def make_contacts(workspace: Workspace, count: int) -> list[Contact]:
    return [
        contact_create(
            workspace_id=workspace.pk, phone=f"1381234{number:04d}", email=f"c{number}@b.test"
        )
        for number in range(count)
    ]


def token_versions(workspace: Workspace, field: str) -> list[int]:
    tokens = (
        Contact.objects.filter(workspace=workspace).order_by("pk").values_list(field, flat=True)
    )
    return [int.from_bytes(bytes(token)[1:5], "big") for token in tokens]


def key_versions(workspace: Workspace, purpose: str) -> list[tuple[int, bool]]:
    """(version, retired?) of the workspace's keys of one purpose."""
    return [
        (version, retired_at is not None)
        for version, retired_at in DataKey.objects.filter(workspace=workspace, purpose=purpose)
        .order_by("version")
        .values_list("version", "retired_at")
    ]


def readable_values(workspace: Workspace) -> list[tuple[str | None, str | None]]:
    keys = workspace_keys(workspace.pk)
    return [
        (contact_read(contact, "phone", keys), contact_read(contact, "email", keys))
        for contact in Contact.objects.filter(workspace=workspace).order_by("pk")
    ]


def test_rotation_moves_every_row_to_a_new_key_and_retires_the_old_one(
    workspace: Workspace, master: str
) -> None:
    # given five contacts under encryption key v1
    make_contacts(workspace, 5)
    before = readable_values(workspace)
    indexes_before = list(Contact.objects.order_by("pk").values_list("phone_index", flat=True))
    # when
    report = keys_rotate(workspace_id=workspace.pk, batch_size=2)
    # then every token is on v2 and still decrypts to the same value
    assert token_versions(workspace, "phone_token") == [2, 2, 2, 2, 2]
    assert token_versions(workspace, "email_token") == [2, 2, 2, 2, 2]
    assert readable_values(workspace) == before
    assert key_versions(workspace, ENCRYPTION) == [(1, True), (2, False)]
    # and the index key is untouched, so lookups are unchanged
    assert key_versions(workspace, INDEX) == [(1, False)]
    indexes_after = list(Contact.objects.order_by("pk").values_list("phone_index", flat=True))
    assert [bytes(index) for index in indexes_after] == [bytes(index) for index in indexes_before]
    # and the report says so
    [rotation] = report.workspaces
    assert (rotation.encryption_version, rotation.resumed, rotation.reindexed) == (2, False, False)
    assert of_test_app(rotation.reencrypted) == {
        EMAIL_COLUMN: 5,
        PHONE_COLUMN: 5,
        IDENTITY_COLUMN: 0,
    }
    assert (rotation.finished, rotation.retired, rotation.failed) == (True, [(ENCRYPTION, 1)], 0)


def test_rotation_is_audited_as_the_system(workspace: Workspace, master: str) -> None:
    make_contacts(workspace, 1)

    keys_rotate(workspace_id=workspace.pk)

    entry = AuditEntry.objects.get(workspace=workspace, action=AuditAction.KEYS_ROTATED)
    assert (entry.actor_id, entry.actor_label, entry.target_type, entry.target_id) == (
        None,
        "system",
        "workspace",
        str(workspace.pk),
    )
    assert entry.data == {
        "encryption_version": 2,
        "index_version": 1,
        "reindexed": False,
        "resumed": False,
        "reencrypted": 2,
        "failed": 0,
        "finished": True,
        "retired": ["encryption v1"],
    }


def test_writers_use_the_newest_key_and_readers_any_version(
    workspace: Workspace, master: str
) -> None:
    # given a contact written before the rotation and read with a snapshot taken before it
    old = contact_create(workspace_id=workspace.pk, phone="13812345678")
    keys_before = workspace_keys(workspace.pk)
    keys_rotate(workspace_id=workspace.pk)
    # when a new contact is written after it
    new = contact_create(workspace_id=workspace.pk, phone="13987654321")
    # then it uses v2, and the old snapshot still reads both rows
    assert token_versions(workspace, "phone_token") == [2, 2]
    old.refresh_from_db()
    assert contact_read(old, "phone", keys_before) == "+8613812345678"
    assert contact_read(new, "phone", keys_before) == "+8613987654321"


def test_only_the_chosen_workspace_is_rotated(
    workspace: Workspace, other_workspace: Workspace, master: str
) -> None:
    make_contacts(workspace, 1)
    make_contacts(other_workspace, 1)

    keys_rotate(workspace_id=workspace.pk)

    assert token_versions(workspace, "phone_token") == [2]
    assert token_versions(other_workspace, "phone_token") == [1]
    assert key_versions(other_workspace, ENCRYPTION) == [(1, False)]


def test_rotating_everything_covers_each_workspace_with_keys(
    workspace: Workspace, other_workspace: Workspace, master: str
) -> None:
    make_contacts(workspace, 2)
    make_contacts(other_workspace, 1)
    keyless = Workspace.objects.create(slug="keyless", name="Keyless")

    report = keys_rotate()

    assert sorted(rotation.workspace_id for rotation in report.workspaces) == sorted(
        [workspace.pk, other_workspace.pk]
    )
    assert token_versions(workspace, "phone_token") == [2, 2]
    assert token_versions(other_workspace, "phone_token") == [2]
    assert not DataKey.objects.filter(workspace=keyless).exists()


class Interrupted(Exception):
    pass


def stop_after_first_batch(progress: RotationProgress) -> None:
    raise Interrupted(progress.column)


def test_an_interrupted_rotation_resumes_and_finishes(workspace: Workspace, master: str) -> None:
    # given five contacts and a rotation that crashed after its first batch of two
    make_contacts(workspace, 5)
    before = readable_values(workspace)
    with pytest.raises(Interrupted):
        keys_rotate(workspace_id=workspace.pk, batch_size=2, on_batch=stop_after_first_batch)
    assert token_versions(workspace, "email_token") == [2, 2, 1, 1, 1]
    assert token_versions(workspace, "phone_token") == [1, 1, 1, 1, 1]
    assert key_versions(workspace, ENCRYPTION) == [(1, False), (2, False)]
    # when it runs again
    report = keys_rotate(workspace_id=workspace.pk, batch_size=2)
    # then it finished the same rotation (no v3), moving only the rows still on v1
    assert key_versions(workspace, ENCRYPTION) == [(1, True), (2, False)]
    assert token_versions(workspace, "email_token") == [2, 2, 2, 2, 2]
    assert token_versions(workspace, "phone_token") == [2, 2, 2, 2, 2]
    assert readable_values(workspace) == before
    [rotation] = report.workspaces
    assert (rotation.resumed, rotation.finished) == (True, True)
    assert of_test_app(rotation.reencrypted) == {
        EMAIL_COLUMN: 3,
        PHONE_COLUMN: 5,
        IDENTITY_COLUMN: 0,
    }


def test_a_finished_rotation_run_again_starts_the_next_one(
    workspace: Workspace, master: str
) -> None:
    make_contacts(workspace, 2)
    keys_rotate(workspace_id=workspace.pk)

    keys_rotate(workspace_id=workspace.pk)

    assert key_versions(workspace, ENCRYPTION) == [(1, True), (2, True), (3, False)]
    assert token_versions(workspace, "phone_token") == [3, 3]


def test_rotation_with_the_index_recomputes_every_index(workspace: Workspace, master: str) -> None:
    # given
    contacts = make_contacts(workspace, 3)
    old_index = bytes(contacts[1].phone_index)
    # when
    report = keys_rotate(workspace_id=workspace.pk, include_index=True, batch_size=2)
    # then the index key is v2 and every index is the v2 index of the decrypted value
    assert key_versions(workspace, INDEX) == [(1, True), (2, False)]
    assert key_versions(workspace, ENCRYPTION) == [(1, True), (2, False)]
    keys = workspace_keys(workspace.pk)
    for contact in Contact.objects.filter(workspace=workspace):
        phone, email = contact_read(contact, "phone"), contact_read(contact, "email")
        assert bytes(contact.phone_index) == keys.blind_index(kind="phone", value=str(phone))
        assert bytes(contact.email_index) == keys.blind_index(kind="email", value=str(email))
    assert bytes(Contact.objects.get(pk=contacts[1].pk).phone_index) != old_index
    # and lookups find the same rows as before
    found = contact_find(workspace_id=workspace.pk, kind="phone", value="138 1234 0001")
    assert [contact.pk for contact in found] == [contacts[1].pk]
    assert report.workspaces[0].reindexed is True


def test_index_rotation_uses_each_rows_own_kind(workspace: Workspace, master: str) -> None:
    # given one table holding identities of several kinds
    phone = identity_create(workspace_id=workspace.pk, kind="phone", value="138 1234 5678")
    openid = identity_create(workspace_id=workspace.pk, kind="wechat_openid", value="oAbC-1")
    # when
    keys_rotate(workspace_id=workspace.pk, include_index=True)
    # then each index was recomputed for its row's kind and still decrypts
    keys = workspace_keys(workspace.pk)
    column = encrypted_column(IdentityRecord, "value_token")
    for identity, kind, value in (
        (phone, "phone", "+8613812345678"),
        (openid, "wechat_openid", "oAbC-1"),
    ):
        identity.refresh_from_db()
        assert bytes(identity.value_index) == keys.blind_index(kind=kind, value=value)
        assert int.from_bytes(bytes(identity.value_token)[1:5], "big") == 2
        assert (
            keys.decrypt(
                table=column.table,
                column=column.column,
                row_key=str(identity.public_id),
                token=identity.value_token,
            )
            == value
        )


def test_lookups_keep_working_while_an_index_rotation_is_unfinished(
    workspace: Workspace, master: str
) -> None:
    # given an index rotation interrupted after one batch: some rows on the new index key
    contacts = make_contacts(workspace, 4)
    with pytest.raises(Interrupted):
        keys_rotate(
            workspace_id=workspace.pk,
            include_index=True,
            batch_size=2,
            on_batch=stop_after_first_batch,
        )
    # then every row is still found, whichever index key its index was computed with
    for number, contact in enumerate(contacts):
        found = contact_find(workspace_id=workspace.pk, kind="email", value=f"C{number}@b.test")
        assert [row.pk for row in found] == [contact.pk]
    # and a plain rotation run next still finishes the index rotation
    keys_rotate(workspace_id=workspace.pk)
    assert key_versions(workspace, INDEX) == [(1, True), (2, False)]
    keys = workspace_keys(workspace.pk)
    for contact in Contact.objects.filter(workspace=workspace):
        assert bytes(contact.email_index) == keys.blind_index(
            kind="email", value=str(contact_read(contact, "email"))
        )


def test_index_rotation_after_an_unfinished_plain_rotation_reindexes_every_row(
    workspace: Workspace, master: str
) -> None:
    # given a plain rotation interrupted after moving two emails to v2
    make_contacts(workspace, 4)
    with pytest.raises(Interrupted):
        keys_rotate(workspace_id=workspace.pk, batch_size=2, on_batch=stop_after_first_batch)
    # when an index rotation runs
    keys_rotate(workspace_id=workspace.pk, include_index=True)
    # then it started over on a new encryption version, so no row kept an old index
    assert key_versions(workspace, ENCRYPTION) == [(1, True), (2, True), (3, False)]
    assert token_versions(workspace, "email_token") == [3, 3, 3, 3]
    keys = workspace_keys(workspace.pk)
    for contact in Contact.objects.filter(workspace=workspace):
        assert bytes(contact.email_index) == keys.blind_index(
            kind="email", value=str(contact_read(contact, "email"))
        )


def test_a_row_that_does_not_decrypt_is_reported_and_keeps_the_old_key(
    workspace: Workspace, master: str
) -> None:
    # given a row whose token was copied from another row
    first, second, _third = make_contacts(workspace, 3)
    Contact.objects.filter(pk=second.pk).update(phone_token=first.phone_token)
    # when
    report = keys_rotate(workspace_id=workspace.pk)
    # then the others moved, the broken one is reported, and v1 is not retired
    [rotation] = report.workspaces
    assert (rotation.failed, rotation.finished, report.failed) == (1, False, 1)
    [failure] = rotation.failures
    assert (failure.column, failure.pk) == (PHONE_COLUMN, str(second.pk))
    assert failure.reason.startswith("The token does not decrypt")
    assert token_versions(workspace, "phone_token") == [2, 1, 2]
    assert key_versions(workspace, ENCRYPTION) == [(1, False), (2, False)]


def test_a_workspace_without_keys_has_nothing_to_rotate(workspace: Workspace, master: str) -> None:
    report = keys_rotate(workspace_id=workspace.pk)

    [rotation] = report.workspaces
    assert (rotation.has_keys, rotation.finished) == (False, False)
    assert not DataKey.objects.filter(workspace=workspace).exists()


def test_status_counts_rows_per_key_version_and_column(
    workspace: Workspace, other_workspace: Workspace, master: str
) -> None:
    # given acme half-way through a rotation, and globex with one contact without email
    make_contacts(workspace, 3)
    with pytest.raises(Interrupted):
        keys_rotate(workspace_id=workspace.pk, batch_size=2, on_batch=stop_after_first_batch)
    contact_create(workspace_id=other_workspace.pk, phone="13812345678")
    # when
    acme, globex = keys_status(workspace_ids=[workspace.pk, other_workspace.pk])
    # then
    assert [(key.purpose, key.version) for key in acme.keys] == [
        (ENCRYPTION, 1),
        (ENCRYPTION, 2),
        (INDEX, 1),
    ]
    assert [
        (column.label, column.rows_by_version)
        for column in acme.columns
        if is_test_column(column.label)
    ] == [
        (EMAIL_COLUMN, {1: 1, 2: 2}),
        (PHONE_COLUMN, {1: 3}),
        (IDENTITY_COLUMN, {}),
    ]
    assert [
        (column.label, column.rows_by_version)
        for column in globex.columns
        if is_test_column(column.label)
    ] == [
        (EMAIL_COLUMN, {}),
        (PHONE_COLUMN, {1: 1}),
        (IDENTITY_COLUMN, {}),
    ]


def test_rewrap_moves_every_key_to_the_new_master_and_keeps_values_readable(
    workspace: Workspace, other_workspace: Workspace, settings: Any
) -> None:
    # given data under master key A
    old_master = new_master_key()
    settings.HUIKE_MASTER_KEYS = [old_master]
    make_contacts(workspace, 2)
    make_contacts(other_workspace, 1)
    before = readable_values(workspace), readable_values(other_workspace)
    # when B becomes the master key, A moves to the previous list, and rewrap runs
    new_master = new_master_key()
    settings.HUIKE_MASTER_KEYS = [new_master, old_master]
    count = keys_rewrap()
    # then every key is wrapped by B and the data reads the same with B alone
    assert count == 4
    new_id = master_key_id(base64.urlsafe_b64decode(new_master))
    assert set(DataKey.objects.values_list("master_key_id", flat=True)) == {new_id}
    settings.HUIKE_MASTER_KEYS = [new_master]
    assert (readable_values(workspace), readable_values(other_workspace)) == before
    # and it is audited on the system chain
    entry = AuditEntry.objects.get(action=AuditAction.KEYS_REWRAPPED)
    assert (entry.workspace_id, entry.actor_label, entry.data) == (
        None,
        "system",
        {"rewrapped": 4, "master_key_id": new_id},
    )


def test_rewrap_run_again_changes_nothing(workspace: Workspace, settings: Any) -> None:
    old_master, new_master = new_master_key(), new_master_key()
    settings.HUIKE_MASTER_KEYS = [old_master]
    make_contacts(workspace, 1)
    settings.HUIKE_MASTER_KEYS = [new_master, old_master]
    keys_rewrap()
    wrapped = sorted(bytes(key) for key in DataKey.objects.values_list("wrapped_key", flat=True))

    assert keys_rewrap() == 0

    assert sorted(bytes(k) for k in DataKey.objects.values_list("wrapped_key", flat=True)) == (
        wrapped
    )


def test_rewrap_without_the_old_master_fails_before_changing_anything(
    workspace: Workspace, settings: Any
) -> None:
    # given data under master key A
    old_master = new_master_key()
    settings.HUIKE_MASTER_KEYS = [old_master]
    make_contacts(workspace, 1)
    old_id = master_key_id(base64.urlsafe_b64decode(old_master))
    # when B is configured but A was forgotten
    settings.HUIKE_MASTER_KEYS = [new_master_key()]
    with pytest.raises(MasterKeyError) as raised:
        keys_rewrap()
    # then
    assert str(raised.value) == (
        f"Some data keys are wrapped by master keys {old_id}, which are neither "
        "HUIKE_MASTER_KEY nor in HUIKE_MASTER_KEY_PREVIOUS; nothing was re-wrapped."
    )
    assert set(DataKey.objects.values_list("master_key_id", flat=True)) == {old_id}
    assert not AuditEntry.objects.filter(action=AuditAction.KEYS_REWRAPPED).exists()


def test_rotation_under_a_new_master_wraps_new_versions_with_it(
    workspace: Workspace, settings: Any
) -> None:
    # given data under A, and B now current with A still accepted
    old_master, new_master = new_master_key(), new_master_key()
    settings.HUIKE_MASTER_KEYS = [old_master]
    make_contacts(workspace, 2)
    before = readable_values(workspace)
    settings.HUIKE_MASTER_KEYS = [new_master, old_master]
    # when
    keys_rotate(workspace_id=workspace.pk)
    # then the new version is wrapped by B, and the values are the same
    newest = DataKey.objects.get(workspace=workspace, purpose=ENCRYPTION, version=2)
    assert newest.master_key_id == master_key_id(base64.urlsafe_b64decode(new_master))
    assert readable_values(workspace) == before


def test_rotation_without_the_master_of_the_old_keys_fails_before_changing_anything(
    workspace: Workspace, settings: Any
) -> None:
    # given data under master key A, then a process configured with B only
    settings.HUIKE_MASTER_KEYS = [new_master_key()]
    make_contacts(workspace, 2)
    settings.HUIKE_MASTER_KEYS = [new_master_key()]
    # when
    with pytest.raises(MasterKeyError):
        keys_rotate(workspace_id=workspace.pk)
    # then no new key version was created and no row changed
    assert key_versions(workspace, ENCRYPTION) == [(1, False)]
    assert token_versions(workspace, "phone_token") == [1, 1]


def index_versions(workspace: Workspace, field: str) -> list[int | None]:
    indexes = (
        Contact.objects.filter(workspace=workspace).order_by("pk").values_list(field, flat=True)
    )
    return [index_version(index) for index in indexes]


def test_a_stale_writer_during_a_rotation_is_found_and_brought_to_the_current_index(
    workspace: Workspace, master: str
) -> None:
    # given a writer that loaded its keys before an index rotation (index key v1)
    make_contacts(workspace, 2)
    stale_keys = workspace_keys(workspace.pk)
    keys_rotate(workspace_id=workspace.pk, include_index=True)
    written: list[Contact] = []

    def stale_write(_batch: RotationProgress) -> None:
        if not written:
            written.append(
                contact_create(workspace_id=workspace.pk, email="late@b.test", keys=stale_keys)
            )

    # when it stores a row while the next (plain) rotation runs
    keys_rotate(workspace_id=workspace.pk, on_batch=stale_write)
    # then the row is found, and its token and index are on the newest versions
    [late] = written
    found = contact_find(workspace_id=workspace.pk, kind="email", value="LATE@b.test")
    assert [row.pk for row in found] == [late.pk]
    assert index_versions(workspace, "email_index") == [2, 2, 2]
    assert token_versions(workspace, "email_token") == [3, 3, 3]
    assert key_versions(workspace, INDEX) == [(1, True), (2, False)]


def test_a_stale_writer_after_an_index_rotation_is_found_and_moved_by_the_next_rotation(
    workspace: Workspace, master: str
) -> None:
    # given a writer that loaded its keys before an index rotation finished
    make_contacts(workspace, 2)
    stale_keys = workspace_keys(workspace.pk)
    keys_rotate(workspace_id=workspace.pk, include_index=True)
    # when it stores a row afterwards, under the retired index key v1
    late = contact_create(workspace_id=workspace.pk, email="late@b.test", keys=stale_keys)
    # then the row is still found by exact search
    found = contact_find(workspace_id=workspace.pk, kind="email", value="late@b.test")
    assert [row.pk for row in found] == [late.pk]
    # and status counts it on the old index version
    [status] = keys_status(workspace_ids=[workspace.pk])
    assert [
        (column.label, column.index_rows_by_version)
        for column in status.columns
        if is_test_column(column.label)
    ] == [
        (EMAIL_COLUMN, {1: 1, 2: 2}),
        (PHONE_COLUMN, {2: 2}),
        (IDENTITY_COLUMN, {}),
    ]
    # and the next plain rotation brings it to the current index version
    keys_rotate(workspace_id=workspace.pk)
    assert index_versions(workspace, "email_index") == [2, 2, 2]
    assert bytes(Contact.objects.get(pk=late.pk).email_index) == workspace_keys(
        workspace.pk
    ).blind_index(kind="email", value="late@b.test")
    found = contact_find(workspace_id=workspace.pk, kind="email", value="late@b.test")
    assert [row.pk for row in found] == [late.pk]


def test_rotation_recomputes_an_index_without_normalizing_the_stored_value_again(
    workspace: Workspace, master: str
) -> None:
    # given a stored phone that the phone rules of today would refuse (rules changed since)
    [contact] = make_contacts(workspace, 1)
    keys = workspace_keys(workspace.pk)
    column = encrypted_column(Contact, "phone_token")
    Contact.objects.filter(pk=contact.pk).update(
        phone_token=keys.encrypt(
            table=column.table,
            column=column.column,
            row_key=str(contact.public_id),
            plaintext="+999000",
        ),
        phone_index=b"\0" * 32,  # an index from before indexes carried their version
    )
    # when
    report = keys_rotate(workspace_id=workspace.pk)
    # then the index was recomputed from the stored value as it is
    assert report.failed == 0
    stored = Contact.objects.get(pk=contact.pk)
    assert bytes(stored.phone_index) == keys.blind_index(
        kind="phone", value="+999000", is_normalized=True
    )
    assert index_version(stored.phone_index) == 1
