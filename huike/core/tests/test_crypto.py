"""Personal data at rest: tokens bound to their slot, blind indexes, keys made on first use."""

import base64
import secrets
import threading
from typing import Any

import pytest
from django.db import close_old_connections, connection
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from huike.accounts.models import Workspace
from huike.core.crypto import (
    ENCRYPTION,
    INDEX,
    DecryptionError,
    MasterKeyError,
    PlaintextError,
    blind_index,
    datakey_unwrap,
    datakey_wrap,
    encrypted_column,
    encrypted_columns,
    master_key_id,
    master_keys,
    pii_decrypt,
    pii_encrypt,
    register_encrypted_column,
    workspace_keys,
)
from huike.core.errors import InvalidInputError
from huike.core.models import DataKey
from tests.recordapp.contacts import contact_create, contact_find, contact_read
from tests.recordapp.models import Contact

ROW = "3f2a5c1e-8a4b-4c3d-9e8f-0a1b2c3d4e5f"
OTHER_ROW = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
SLOT = {"table": "recordapp.contact", "column": "phone_token", "row_key": ROW}


def new_master_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def master(settings: Any) -> str:
    key = new_master_key()
    settings.HUIKE_MASTER_KEYS = [key]
    return key


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    plaintext=st.text(
        alphabet=st.one_of(
            st.characters(),
            # lone surrogates, which st.characters() leaves out by default
            st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"]),
        )
    )
)
def test_any_text_decrypts_to_itself(workspace: Workspace, master: str, plaintext: str) -> None:
    # given any text, lone surrogates included
    try:
        plaintext.encode()
    except UnicodeEncodeError:
        # then text UTF-8 cannot hold is refused clearly, as a ValueError
        with pytest.raises(PlaintextError) as raised:
            pii_encrypt(workspace_id=workspace.pk, plaintext=plaintext, **SLOT)
        assert isinstance(raised.value, ValueError)
        assert str(raised.value) == "the text holds a lone surrogate, which UTF-8 cannot hold"
        return
    # when
    token = pii_encrypt(workspace_id=workspace.pk, plaintext=plaintext, **SLOT)
    # then
    assert pii_decrypt(workspace_id=workspace.pk, token=token, **SLOT) == plaintext


@pytest.mark.parametrize("plaintext", ["\ud800", "a\udfffb", None, 5, b"bytes"])
def test_odd_plaintext_is_a_value_error_not_a_unicode_error(
    workspace: Workspace, master: str, plaintext: object
) -> None:
    with pytest.raises(PlaintextError) as raised:
        pii_encrypt(workspace_id=workspace.pk, plaintext=plaintext, **SLOT)  # type: ignore[arg-type]

    assert isinstance(raised.value, ValueError)
    assert not isinstance(raised.value, UnicodeError)


def test_token_layout_is_format_version_nonce_ciphertext_tag(
    workspace: Workspace, master: str
) -> None:
    token = pii_encrypt(workspace_id=workspace.pk, plaintext="+8613812345678", **SLOT)

    assert token[0] == 1
    assert int.from_bytes(token[1:5], "big") == 1
    assert len(token) == 1 + 4 + 12 + len("+8613812345678") + 16


def test_the_same_value_encrypts_differently_each_time(workspace: Workspace, master: str) -> None:
    first = pii_encrypt(workspace_id=workspace.pk, plaintext="a@b.test", **SLOT)
    second = pii_encrypt(workspace_id=workspace.pk, plaintext="a@b.test", **SLOT)

    assert first != second


@pytest.mark.parametrize(
    "moved_to",
    [
        {"row_key": OTHER_ROW},
        {"column": "email_token"},
        {"table": "customers_customer"},
    ],
)
def test_a_token_moved_to_another_row_or_column_does_not_decrypt(
    workspace: Workspace, master: str, moved_to: dict[str, str]
) -> None:
    token = pii_encrypt(workspace_id=workspace.pk, plaintext="+8613812345678", **SLOT)

    with pytest.raises(DecryptionError) as raised:
        pii_decrypt(workspace_id=workspace.pk, token=token, **{**SLOT, **moved_to})

    assert str(raised.value) == (
        "The token does not decrypt: it belongs to another row, column or workspace, "
        "or it was altered."
    )


def test_a_token_moved_to_another_workspace_does_not_decrypt(
    workspace: Workspace, other_workspace: Workspace, master: str
) -> None:
    # given both workspaces have keys (the other one's version 1 is a different key)
    pii_encrypt(workspace_id=other_workspace.pk, plaintext="x", **SLOT)
    token = pii_encrypt(workspace_id=workspace.pk, plaintext="+8613812345678", **SLOT)

    with pytest.raises(DecryptionError):
        pii_decrypt(workspace_id=other_workspace.pk, token=token, **SLOT)


def test_a_token_for_a_workspace_without_keys_does_not_decrypt(
    workspace: Workspace, other_workspace: Workspace, master: str
) -> None:
    token = pii_encrypt(workspace_id=workspace.pk, plaintext="+8613812345678", **SLOT)

    with pytest.raises(DecryptionError) as raised:
        pii_decrypt(workspace_id=other_workspace.pk, token=token, **SLOT)

    assert str(raised.value) == f"Workspace {other_workspace.pk} has no encryption key v1."
    assert not DataKey.objects.filter(workspace=other_workspace).exists()


@pytest.mark.parametrize("position", [0, 1, 4, 5, 16, 17, -1])
def test_an_altered_token_does_not_decrypt(
    workspace: Workspace, master: str, position: int
) -> None:
    token = bytearray(pii_encrypt(workspace_id=workspace.pk, plaintext="a@b.test", **SLOT))
    token[position] ^= 0x01

    with pytest.raises(DecryptionError):
        pii_decrypt(workspace_id=workspace.pk, token=bytes(token), **SLOT)


@pytest.mark.parametrize("token", [b"", b"\x01\x00\x00\x00\x01", b"hello world, not a token"])
def test_a_truncated_or_foreign_value_is_not_a_token(
    workspace: Workspace, master: str, token: bytes
) -> None:
    pii_encrypt(workspace_id=workspace.pk, plaintext="x", **SLOT)

    with pytest.raises(DecryptionError) as raised:
        pii_decrypt(workspace_id=workspace.pk, token=token, **SLOT)

    assert str(raised.value) == "This is not a personal-data token."


def test_no_plaintext_reaches_the_database(workspace: Workspace, master: str) -> None:
    # given
    contact = contact_create(workspace_id=workspace.pk, phone="13812345678", email="a@b.test")
    # when the table is read raw, as someone with a copy of the database would
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM recordapp_contact")
        rows = cursor.fetchall()
        cursor.execute("SELECT * FROM core_datakey")
        key_rows = cursor.fetchall()
    # then no column holds the phone number (in any spelling) or the email address
    assert len(rows) == 1
    secrets_as_stored = ["13812345678", "+8613812345678", "a@b.test"]
    for value in [*rows[0], *(value for row in key_rows for value in row)]:
        raw = bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()
        for secret in secrets_as_stored:
            assert secret.encode() not in raw
            assert secret.encode("utf-16-le") not in raw
    # and the values are still there for whoever holds the keys
    contact.refresh_from_db()
    assert contact_read(contact, "phone") == "+8613812345678"
    assert contact_read(contact, "email") == "a@b.test"


def test_keys_are_created_on_first_use_and_stored_only_wrapped(
    workspace: Workspace, master: str
) -> None:
    # given no keys
    assert not DataKey.objects.filter(workspace=workspace).exists()
    # when a value is encrypted and one indexed
    pii_encrypt(workspace_id=workspace.pk, plaintext="x", **SLOT)
    blind_index(workspace_id=workspace.pk, kind="email", value="a@b.test")
    # then one key per purpose, version 1, wrapped by the current master key
    keys = list(
        DataKey.objects.filter(workspace=workspace)
        .order_by("purpose")
        .values_list("purpose", "version", "master_key_id", "retired_at")
    )
    fingerprint = master_key_id(base64.urlsafe_b64decode(master))
    assert keys == [(ENCRYPTION, 1, fingerprint, None), (INDEX, 1, fingerprint, None)]
    for wrapped in DataKey.objects.filter(workspace=workspace).values_list(
        "wrapped_key", flat=True
    ):
        assert len(bytes(wrapped)) == 12 + 32 + 16


def test_blind_index_is_stable_within_a_workspace_and_kind(
    workspace: Workspace, master: str
) -> None:
    spellings = ["138 1234 5678", "+86 138-1234-5678", "13812345678", "+8613812345678"]

    indexes = {blind_index(workspace_id=workspace.pk, kind="phone", value=v) for v in spellings}

    assert len(indexes) == 1
    index = indexes.pop()
    # the index key version, then the 32-byte HMAC
    assert (len(index), index[:4]) == (36, b"\0\0\0\1")


def test_blind_index_differs_across_workspaces_and_kinds(
    workspace: Workspace, other_workspace: Workspace, master: str
) -> None:
    here = blind_index(workspace_id=workspace.pk, kind="wechat_openid", value="o123")
    elsewhere = blind_index(workspace_id=other_workspace.pk, kind="wechat_openid", value="o123")
    other_kind = blind_index(workspace_id=workspace.pk, kind="weibo_uid", value="o123")

    assert len({here, elsewhere, other_kind}) == 3


def test_blind_index_of_emails_ignores_case_and_spaces(workspace: Workspace, master: str) -> None:
    first = blind_index(workspace_id=workspace.pk, kind="email", value=" A@B.Test")
    second = blind_index(workspace_id=workspace.pk, kind="email", value="a@b.test")

    assert first == second


def test_blind_index_of_an_invalid_phone_is_refused(workspace: Workspace, master: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        blind_index(workspace_id=workspace.pk, kind="phone", value="12345")

    assert raised.value.field == "phone"


def test_contacts_are_found_by_any_spelling_of_their_phone_and_only_in_their_workspace(
    workspace: Workspace, other_workspace: Workspace, master: str
) -> None:
    # given the same number in two workspaces
    mine = contact_create(workspace_id=workspace.pk, phone="13812345678")
    contact_create(workspace_id=other_workspace.pk, phone="13812345678")
    contact_create(workspace_id=workspace.pk, phone="13987654321")
    # when
    found = contact_find(workspace_id=workspace.pk, kind="phone", value="+86 138 1234 5678")
    # then
    assert [contact.pk for contact in found] == [mine.pk]


def test_a_second_process_creating_the_first_key_meanwhile_leaves_one_key(
    workspace: Workspace, master: str
) -> None:
    # given this process loaded the workspace's keys before any existed
    keys = workspace_keys(workspace.pk)
    # and another process then created version 1
    winner = workspace_keys(workspace.pk)
    winner_token = winner.encrypt(plaintext="first", **SLOT)
    # when this process encrypts (its insert of version 1 fails on the unique constraint)
    token = keys.encrypt(plaintext="second", **SLOT)
    # then both used the one key that exists
    assert DataKey.objects.filter(workspace=workspace, purpose=ENCRYPTION).count() == 1
    assert pii_decrypt(workspace_id=workspace.pk, token=winner_token, **SLOT) == "first"
    assert pii_decrypt(workspace_id=workspace.pk, token=token, **SLOT) == "second"


def test_creating_a_version_that_exists_returns_none_and_keeps_the_first(
    workspace: Workspace, master: str
) -> None:
    first = workspace_keys(workspace.pk).create_version(INDEX, 1)
    assert first is not None

    second = workspace_keys(workspace.pk).create_version(INDEX, 1)

    assert second is None
    assert list(DataKey.objects.filter(workspace=workspace).values_list("pk", flat=True)) == [
        first.pk
    ]


@pytest.mark.django_db(transaction=True)
def test_two_threads_creating_the_first_key_at_once_end_with_one_key(settings: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions are tested on PostgreSQL")
    settings.HUIKE_MASTER_KEYS = [new_master_key()]
    workspace = Workspace.objects.create(slug="race", name="Race")
    barrier = threading.Barrier(2)
    tokens: dict[int, bytes] = {}
    errors: list[BaseException] = []

    def write(number: int) -> None:
        try:
            barrier.wait()
            tokens[number] = pii_encrypt(
                workspace_id=workspace.pk, plaintext=f"value {number}", **SLOT
            )
        except BaseException as error:  # recorded for the assertions
            errors.append(error)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=write, args=(number,)) for number in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert list(DataKey.objects.filter(workspace=workspace).values_list("version", flat=True)) == [
        1
    ]
    for number, token in tokens.items():
        assert pii_decrypt(workspace_id=workspace.pk, token=token, **SLOT) == f"value {number}"


def test_a_missing_master_key_fails_clearly(workspace: Workspace, settings: Any) -> None:
    # given data encrypted under one master key
    settings.HUIKE_MASTER_KEYS = [new_master_key()]
    token = pii_encrypt(workspace_id=workspace.pk, plaintext="a@b.test", **SLOT)
    fingerprint = DataKey.objects.get(workspace=workspace).master_key_id
    # when the process runs with another one
    settings.HUIKE_MASTER_KEYS = [new_master_key()]
    with pytest.raises(MasterKeyError) as raised:
        pii_decrypt(workspace_id=workspace.pk, token=token, **SLOT)
    # then
    assert str(raised.value) == (
        f"The encryption key v1 of workspace {workspace.pk} is wrapped by master key "
        f"{fingerprint}, which is neither HUIKE_MASTER_KEY nor in HUIKE_MASTER_KEY_PREVIOUS."
    )


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([], "No master key is configured: set HUIKE_MASTER_KEY."),
        (["too-short"], "HUIKE_MASTER_KEY is not a master key: it must be 32 bytes of base64url."),
        (
            [new_master_key(), "!" * 44],
            "HUIKE_MASTER_KEY_PREVIOUS[0] is not a master key: it must be 32 bytes of base64url.",
        ),
    ],
)
def test_a_malformed_master_key_configuration_fails_clearly(
    workspace: Workspace, settings: Any, keys: list[str], message: str
) -> None:
    settings.HUIKE_MASTER_KEYS = keys

    with pytest.raises(MasterKeyError) as raised:
        pii_encrypt(workspace_id=workspace.pk, plaintext="x", **SLOT)

    assert str(raised.value) == message
    assert not DataKey.objects.filter(workspace=workspace).exists()


def test_a_wrapped_key_copied_to_another_workspace_does_not_unwrap(
    workspace: Workspace, other_workspace: Workspace, master: str
) -> None:
    # given someone with database access copies acme's key row onto globex's
    pii_encrypt(workspace_id=workspace.pk, plaintext="x", **SLOT)
    pii_encrypt(workspace_id=other_workspace.pk, plaintext="x", **SLOT)
    stolen = DataKey.objects.get(workspace=workspace).wrapped_key
    DataKey.objects.filter(workspace=other_workspace).update(wrapped_key=stolen)
    token = pii_encrypt(workspace_id=workspace.pk, plaintext="secret", **SLOT)
    # when globex's key is used, it does not unwrap (the wrapping is bound to the workspace)
    with pytest.raises(MasterKeyError) as raised:
        pii_decrypt(workspace_id=other_workspace.pk, token=token, **SLOT)

    assert "does not unwrap" in str(raised.value)


def test_stored_contacts_round_trip_through_the_database(workspace: Workspace, master: str) -> None:
    created = contact_create(workspace_id=workspace.pk, phone="+1 415 555 2671")

    loaded = Contact.objects.get(pk=created.pk)

    assert contact_read(loaded, "phone") == "+14155552671"
    assert contact_read(loaded, "email") is None


def test_an_empty_row_key_is_refused(workspace: Workspace, master: str) -> None:
    with pytest.raises(ValueError, match="row_key must be a non-empty string"):
        pii_encrypt(workspace_id=workspace.pk, plaintext="x", **{**SLOT, "row_key": ""})


def test_registering_a_column_again_identically_is_harmless() -> None:
    again = register_encrypted_column(
        Contact, "phone_token", "public_id", index_field="phone_index", kind="phone"
    )

    assert again == encrypted_column(Contact, "phone_token")
    assert [
        column.label for column in encrypted_columns() if column.label.startswith("recordapp.")
    ] == [
        "recordapp.contact.email_token",
        "recordapp.contact.phone_token",
        "recordapp.identityrecord.value_token",
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"ciphertext_field": "phone_token", "index_field": "phone_index", "kind": "email"},
            "recordapp.contact.phone_token registered twice differently",
        ),
        ({"ciphertext_field": "public_id"}, "Contact.public_id must be a BinaryField"),
        (
            {"ciphertext_field": "email_token", "index_field": "email_index"},
            "an indexed column needs exactly one of kind= and kind_field=",
        ),
    ],
)
def test_registering_a_column_wrongly_is_refused(arguments: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        register_encrypted_column(Contact, row_key_field="public_id", **arguments)


def test_blind_index_reads_local_numbers_in_the_given_region(
    workspace: Workspace, master: str
) -> None:
    keys = workspace_keys(workspace.pk)

    us_local = keys.blind_index(kind="phone", value="(650) 253-0000", default_region="US")
    candidates = keys.blind_index_candidates(
        kind="phone", value="650 253 0000", default_region="US"
    )

    assert us_local == keys.blind_index(kind="phone", value="+1 650 253 0000")
    assert candidates == [us_local]
    assert (
        blind_index(
            workspace_id=workspace.pk, kind="phone", value="6502530000", default_region="US"
        )
        == us_local
    )


def test_the_same_key_material_in_another_workspace_does_not_decrypt(
    workspace: Workspace, other_workspace: Workspace, master: str
) -> None:
    # given the other workspace's encryption key v1 is the very same key as this one's
    token = pii_encrypt(workspace_id=workspace.pk, plaintext="+8613812345678", **SLOT)
    keys = workspace_keys(workspace.pk)
    material = keys.unwrap(keys.versions(ENCRYPTION)[0])
    DataKey.objects.create(
        workspace=other_workspace,
        purpose=ENCRYPTION,
        version=1,
        master_key_id=master_key_id(base64.urlsafe_b64decode(master)),
        wrapped_key=datakey_wrap(
            workspace_id=other_workspace.pk,
            purpose=ENCRYPTION,
            version=1,
            key=material,
            masters=master_keys(),
        ),
    )
    assert (
        pii_decrypt(
            workspace_id=other_workspace.pk,
            token=pii_encrypt(workspace_id=other_workspace.pk, plaintext="x", **SLOT),
            **SLOT,
        )
        == "x"
    )
    # then only the workspace id in the associated data tells them apart, and it does
    with pytest.raises(DecryptionError):
        pii_decrypt(workspace_id=other_workspace.pk, token=token, **SLOT)


@pytest.mark.parametrize(("purpose", "version"), [(ENCRYPTION, 2), (INDEX, 1), (INDEX, 2)])
def test_a_wrapped_key_copied_to_another_version_or_purpose_does_not_unwrap(
    workspace: Workspace, master: str, purpose: str, version: int
) -> None:
    # given encryption key v1, its wrapped bytes copied into another (purpose, version) slot
    pii_encrypt(workspace_id=workspace.pk, plaintext="x", **SLOT)
    original = DataKey.objects.get(workspace=workspace, purpose=ENCRYPTION, version=1)
    DataKey.objects.filter(workspace=workspace, purpose=INDEX).delete()
    copy = DataKey.objects.create(
        workspace=workspace,
        purpose=purpose,
        version=version,
        master_key_id=original.master_key_id,
        wrapped_key=bytes(original.wrapped_key),
    )
    # then the copy does not unwrap, while the original does
    assert len(datakey_unwrap(original)) == 32
    with pytest.raises(MasterKeyError) as raised:
        datakey_unwrap(copy)
    assert str(raised.value) == (
        f"The {purpose} key v{version} of workspace {workspace.pk} does not unwrap with master "
        f"key {original.master_key_id}: the key row was altered or copied."
    )


def test_associated_data_uses_logical_names_that_survive_a_table_rename() -> None:
    # given the registered phone column of the test model
    from tests.recordapp.models import Contact

    column = encrypted_column(Contact, "phone_token")
    db_table = Contact._meta.db_table
    try:
        # when a migration renames the table
        Contact._meta.db_table = "renamed_contacts"
        # then the names bound into tokens stay the same
        assert (column.table, column.column) == ("recordapp.contact", "phone_token")
    finally:
        Contact._meta.db_table = db_table
