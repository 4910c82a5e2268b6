"""What can be imported: a registry of import kinds, so that a module above customers (sales'
leads) runs its rows through the same upload, mapping, dry run, checkpointed background run,
progress and error report as customers and companies.

A kind names its fields (mapping.Target), the function that decides and writes a batch of rows
(`batch(context, rows, write=...)` → BatchResult, as pipeline.customers_batch), the permission
an import of it needs, and what a mapping must name. A kind whose records span several rows
(an order and its lines) names the field that tells a row's record (`group_by`): a batch then
ends only between records, so each record is decided and written whole, in one transaction,
and a row of a record that an earlier batch decided is refused (services._commit_batch).
Kinds are registered in their app's `ready()`; customers and companies by huike.customers
itself.
"""

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils.functional import Promise
from django.utils.translation import gettext as _

from huike.accounts.access import Actor
from huike.core.errors import InvalidInputError, PermissionDeniedError

if TYPE_CHECKING:
    from huike.customers.imports.mapping import Target


@dataclass(frozen=True)
class ImportKindSpec:
    key: str
    label: Promise | str
    targets: "tuple[Target, ...]"
    # batch(context, rows, *, write) -> BatchResult; rows are (line, cells).
    batch: Callable[..., Any]
    permission: str
    # The mapped targets → an error message when the mapping cannot work, else "".
    check_mapping: Callable[[Collection[str]], str]
    # Customers' custom fields can be mapped (cf:<key>).
    custom_fields: bool = False
    # The mode (create/update/upsert) applies; external ids name a system (crm:<system>).
    has_modes: bool = True
    has_system: bool = True
    # Rows the dry run decides in the request (fewer where deciding a row is dear).
    dry_run_rows: int = 2000
    # Where the finished import's records are seen (a URL name), for the page's link.
    records_url: str = ""
    # The target whose value tells the record a row belongs to (a required one, see
    # check_mapping); consecutive rows of one record stay in one batch, up to `group_max_rows`
    # rows past the batch's size.
    group_by: str = ""
    group_max_rows: int = 0
    # Rows per batch (one transaction), when fewer than the import's BATCH_SIZE: for a kind
    # whose rows are dear to write, so that a batch stays a few seconds long.
    batch_rows: int = 0


_KINDS: dict[str, ImportKindSpec] = {}


def import_kind_register(spec: ImportKindSpec) -> None:
    _KINDS[spec.key] = spec


def import_kind(key: str) -> ImportKindSpec:
    """The kind `key`; InvalidInputError(field="kind") for one nobody registered."""
    spec = _KINDS.get(key)
    if spec is None:
        raise InvalidInputError(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(sorted(_KINDS))},
            field="kind",
        )
    return spec


def import_kind_label(key: str) -> str:
    spec = _KINDS.get(key)
    return str(spec.label) if spec is not None else key


def import_kinds_for(actor: Actor) -> list[ImportKindSpec]:
    """The kinds the actor may import, in registration order."""
    return [spec for spec in _KINDS.values() if actor.has(spec.permission)]


def require_import_kind(actor: Actor, key: str) -> ImportKindSpec:
    """The kind `key` if the actor may import it; PermissionDeniedError otherwise."""
    spec = import_kind(key)
    actor.require(spec.permission)
    return spec


def require_some_import(actor: Actor) -> None:
    """PermissionDeniedError unless the actor may import some kind."""
    if not import_kinds_for(actor):
        raise PermissionDeniedError(_("Your role may not import anything."))
