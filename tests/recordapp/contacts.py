"""Writes and reads of the test Contact the way a real part (customers) would do them: one
`workspace_keys()` per unit of work, values normalized, tokens bound to the row's public_id."""

from django.db import transaction

from huike.core.crypto import WorkspaceKeys, encrypted_column, workspace_keys
from huike.core.normalize import normalize_identity
from tests.recordapp.models import Contact, IdentityRecord

# (identity kind, token field, index field)
FIELDS = (("phone", "phone_token", "phone_index"), ("email", "email_token", "email_index"))


def contact_create(
    *,
    workspace_id: int,
    phone: str | None = None,
    email: str | None = None,
    keys: WorkspaceKeys | None = None,
) -> Contact:
    """`keys` stands for a writer still holding keys it loaded earlier (before a rotation)."""
    values = {"phone": phone, "email": email}
    with transaction.atomic():
        keys = keys or workspace_keys(workspace_id)
        contact = Contact(workspace_id=workspace_id)
        for kind, token_field, index_field in FIELDS:
            value = values[kind]
            if value is None:
                continue
            normalized = normalize_identity(kind, value)
            column = encrypted_column(Contact, token_field)
            token = keys.encrypt(
                table=column.table,
                column=column.column,
                row_key=str(contact.public_id),
                plaintext=normalized,
            )
            setattr(contact, token_field, token)
            index = keys.blind_index(kind=kind, value=normalized, is_normalized=True)
            setattr(contact, index_field, index)
        contact.save()
    return contact


def contact_read(contact: Contact, kind: str, keys: WorkspaceKeys | None = None) -> str | None:
    """The decrypted phone or email of a contact (None when it has none)."""
    token_field = {kind: token for kind, token, _index in FIELDS}[kind]
    token = getattr(contact, token_field)
    if token is None:
        return None
    column = encrypted_column(Contact, token_field)
    keys = keys or workspace_keys(contact.workspace_id)
    return keys.decrypt(
        table=column.table, column=column.column, row_key=str(contact.public_id), token=token
    )


def contact_find(*, workspace_id: int, kind: str, value: str) -> list[Contact]:
    """Exact match through the blind index, under every index key still in use."""
    index_field = {kind: index for kind, _token, index in FIELDS}[kind]
    candidates = workspace_keys(workspace_id).blind_index_candidates(kind=kind, value=value)
    return list(
        Contact.objects.filter(
            workspace_id=workspace_id, **{f"{index_field}__in": candidates}
        ).order_by("pk")
    )


def identity_create(*, workspace_id: int, kind: str, value: str) -> IdentityRecord:
    keys = workspace_keys(workspace_id)
    normalized = normalize_identity(kind, value)
    column = encrypted_column(IdentityRecord, "value_token")
    identity = IdentityRecord(workspace_id=workspace_id, kind=kind)
    identity.value_token = keys.encrypt(
        table=column.table,
        column=column.column,
        row_key=str(identity.public_id),
        plaintext=normalized,
    )
    identity.value_index = keys.blind_index(kind=kind, value=normalized)
    identity.save()
    return identity
