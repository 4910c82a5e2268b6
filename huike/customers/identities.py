"""Identity values and personal fields through huike.core.crypto: normalizing, encrypting,
decrypting and finding them by blind index. Every part that writes an identity or a personal
field of a customer goes through here, so all of them find the same customer."""

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils import timezone

from huike.core.bulk import ModelBuilder
from huike.core.crypto import INDEX, WorkspaceKeys, encrypted_column
from huike.core.normalize import normalize_identity
from huike.customers.models import Customer, CustomerSettings, Identity
from huike.customers.rules import (
    DEFAULT_JUNK_VALUES,
    WorkspaceRules,
    identity_kind_parse,
)

# Personal fields of Customer held as tokens: field name -> token field.
PERSONAL_FIELDS: dict[str, str] = {
    "birthday": "birthday_token",
    "address": "address_token",
    "id_number": "id_number_token",
}


@dataclass(frozen=True)
class IdentityKey:
    """A normalized identity value as it is looked up: `kind` is the full (possibly scoped)
    kind, which is also what the blind index is computed over."""

    kind: str
    value: str
    base_kind: str
    is_verified: bool = False

    @property
    def slot(self) -> tuple[str, str]:
        return (self.kind, self.value)


def identity_key(
    kind: str, value: object, *, default_region: str = "CN", is_verified: bool = False
) -> IdentityKey:
    """Normalize one (kind, value). Raises InvalidInputError naming the kind for an unknown kind
    or a value its kind rejects (a phone that is no phone)."""
    base = identity_kind_parse(kind)
    kind = kind.strip()
    normalized = normalize_identity(base, value, default_region)  # type: ignore[arg-type]
    return IdentityKey(kind=kind, value=normalized, base_kind=base, is_verified=is_verified)


def workspace_rules(workspace_id: int) -> WorkspaceRules:
    """The workspace's resolution rules: its CustomerSettings over the defaults."""
    row = CustomerSettings.objects.filter(workspace_id=workspace_id).first()
    if row is None:
        return WorkspaceRules()
    defaults = WorkspaceRules()
    junk = dict(defaults.junk)
    for kind, values in (row.junk_values or {}).items():
        junk[kind] = DEFAULT_JUNK_VALUES.get(kind, frozenset()) | frozenset(values)
    return WorkspaceRules(
        default_region=row.default_region or "CN",
        strength={**defaults.strength, **(row.identity_strength or {})},
        caps={**defaults.caps, **(row.identity_caps or {})},
        junk=junk,
        survivorship={**defaults.survivorship, **(row.survivorship or {})},
        auto_merge_strong=row.auto_merge_strong,
    )


@functools.cache
def _identity_column() -> tuple[str, str]:
    column = encrypted_column(Identity, "value_token")
    return column.table, column.column


_NEW_IDENTITY = ModelBuilder(Identity)


def identity_build(
    *,
    keys: WorkspaceKeys,
    customer: Customer,
    key: IdentityKey,
    source: str = "",
    seen_at: dt.datetime | None = None,
) -> Identity:
    """An unsaved Identity of `customer` holding `key`, encrypted and indexed. Built
    positionally (ModelBuilder): imports and batch ingest build a million of them."""
    now = timezone.now()
    seen_at = seen_at or now
    identity = _NEW_IDENTITY(
        workspace_id=keys.workspace_id,
        kind=key.kind,
        is_verified=key.is_verified,
        source=source[:40],
        first_seen_at=seen_at,
        last_seen_at=seen_at,
        created_at=now,
    )
    identity.customer = customer
    table, column = _identity_column()
    identity.value_token = keys.encrypt(
        table=table, column=column, row_key=str(identity.public_id), plaintext=key.value
    )
    identity.value_index = keys.blind_index(kind=key.kind, value=key.value, is_normalized=True)
    return identity


def identity_value(identity: Identity, keys: WorkspaceKeys) -> str:
    table, column = _identity_column()
    return keys.decrypt(
        table=table, column=column, row_key=str(identity.public_id), token=identity.value_token
    )


def index_candidates(keys: WorkspaceKeys, key: IdentityKey) -> list[bytes]:
    """The blind indexes `key` may be stored under (one per index key version)."""
    if not keys.versions(INDEX):
        return [keys.blind_index(kind=key.kind, value=key.value, is_normalized=True)]
    return keys.blind_index_candidates(kind=key.kind, value=key.value, is_normalized=True)


def identities_find(
    *, keys: WorkspaceKeys, identity_keys: Iterable[IdentityKey], lock_customers: bool = False
) -> dict[tuple[str, str], Identity]:
    """The stored identities of the given keys, by (kind, value) slot, with their customers:
    one object per customer, however many of its identities are named.

    `lock_customers` loads the customers with their rows locked (in id order, so writers
    never deadlock) for the rest of the transaction: for a writer that changes them from what
    it reads (counters of the derived profile, fields of an import), so that a concurrent
    writer neither reads a value about to change nor has its change overwritten.
    """
    by_index: dict[tuple[str, bytes], tuple[str, str]] = {}
    for key in identity_keys:
        for index in index_candidates(keys, key):
            by_index[(key.kind, index)] = key.slot
    if not by_index:
        return {}
    found: dict[tuple[str, str], Identity] = {}
    rows = Identity.objects.filter(
        workspace_id=keys.workspace_id,
        value_index__in=list({index for _kind, index in by_index}),
    )
    if not lock_customers:
        rows = rows.select_related("customer")
    for identity in rows:
        slot = by_index.get((identity.kind, bytes(identity.value_index)))
        if slot is not None:
            found[slot] = identity
    customers: dict[int, Customer] = {}
    if lock_customers and found:
        customers = {
            customer.pk: customer
            for customer in Customer.objects.select_for_update()
            .filter(pk__in={identity.customer_id for identity in found.values()})
            .order_by("pk")
        }
    for identity in found.values():
        identity.customer = customers.setdefault(identity.customer_id, identity.customer)
    return found


def customer_personal_value(customer: Customer, name: str, keys: WorkspaceKeys) -> str:
    """The plaintext of a personal field ("" when empty)."""
    token_field = PERSONAL_FIELDS[name]
    token = getattr(customer, token_field)
    if token is None:
        return ""
    column = encrypted_column(Customer, token_field)
    return keys.decrypt(
        table=column.table, column=column.column, row_key=str(customer.public_id), token=token
    )


def customer_personal_set(customer: Customer, name: str, value: str, keys: WorkspaceKeys) -> None:
    """Encrypt `value` into a personal field (empty clears it); the caller saves."""
    token_field = PERSONAL_FIELDS[name]
    if not value:
        setattr(customer, token_field, None)
        return
    column = encrypted_column(Customer, token_field)
    setattr(
        customer,
        token_field,
        keys.encrypt(
            table=column.table,
            column=column.column,
            row_key=str(customer.public_id),
            plaintext=value,
        ),
    )
