"""Which records can be shared from their pages and the API (huike.accounts.sharing does the
sharing): customers, registered here, and what apps above register (sales: leads, deals). Each
kind names how to reach one of its records for an actor, the permission that changes it, and
its detail page; the "Shared with" panel (huike.customers.views.sharing) and the
/api/v1/<kinds>/{id}/shares endpoints (huike.customers.api_sharing) serve every kind."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from huike.accounts.access import Actor
from huike.accounts.visibility import OwnedRecord


@dataclass(frozen=True)
class ShareKind:
    key: str  # in page URLs: "customer"
    plural: str  # in API paths: "customers"
    # The record for the actor (NotFoundError when they may not see it).
    access: Callable[[Actor, uuid.UUID], OwnedRecord]
    # Needed to change who the record is shared with (besides owning or managing it).
    permission: str
    detail_url: str  # URL name of the record's page, taking its public id


_KINDS: dict[str, ShareKind] = {}


def register_share_kind(kind: ShareKind) -> None:
    _KINDS[kind.key] = kind


def share_kind(key: str) -> ShareKind | None:
    return _KINDS.get(key)


def share_kinds() -> list[ShareKind]:
    return list(_KINDS.values())
