"""Merging two customers into one, and undoing it exactly.

A merge keeps both rows. The absorbed customer becomes `merged` (hidden from lists, pointing at
the survivor); the survivor takes the absorbed customer's fields where the workspace's
survivorship rules say so; every row registered in huike.customers.references (identities,
events, tags, consents, and later parts' conversations, leads…) moves to the survivor and is
listed in MergeMove. `snapshot` keeps both customers' fields from before and the survivor's
from right after.

Undoing moves exactly the listed rows back, plus the events that reached the survivor after
the merge through one of the absorbed customer's identities; the absorbed customer gets its
fields back, and each survivor field that nobody changed since the merge gets its value from
before. A survivor that was itself merged later must be unmerged first (newest merge first).
"""

import base64
import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huike.accounts.access import Actor
from huike.core.audit import AuditTarget, audit_record
from huike.core.crypto import WorkspaceKeys, workspace_keys
from huike.core.errors import ConflictError, InvalidInputError
from huike.core.outbox import outbox_publish
from huike.customers.custom_fields import custom_field_unique_claims_sync, custom_fields_of
from huike.customers.identities import (
    PERSONAL_FIELDS,
    customer_personal_set,
    customer_personal_value,
    workspace_rules,
)
from huike.customers.models import (
    LIFECYCLE_ORDER,
    Customer,
    CustomerMerge,
    CustomFieldUniqueValue,
    Event,
    Identity,
    LifecycleStage,
    MergeCandidate,
    MergeMove,
)
from huike.customers.permissions import CustomerAudit
from huike.customers.profile import customer_profile_refresh, profile_apply
from huike.customers.references import customer_reference, customer_references
from huike.customers.rules import MOST_COMPLETE, MOST_RECENT, WorkspaceRules

# Rows moved per UPDATE and MergeMove rows per INSERT: a customer with 100,000 events merges
# in bounded statements.
MOVE_BATCH_SIZE = 1000
# Fields a snapshot does not keep: identity of the row, and what the merge itself sets.
_NOT_SNAPSHOT = frozenset(
    {"id", "workspace", "public_id", "created_at", "updated_at", "status", "merged_into"}
)
# "Further along" for merging: a churned customer was a customer once.
_LIFECYCLE_RANK = {
    LifecycleStage.VISITOR: 0,
    LifecycleStage.LEAD: 1,
    LifecycleStage.CHURNED: 2,
    LifecycleStage.CUSTOMER: 3,
    LifecycleStage.LOYAL: 4,
}
assert set(_LIFECYCLE_RANK) == set(LIFECYCLE_ORDER)


def _snapshot_fields() -> list[models.Field[Any, Any]]:
    return [field for field in Customer._meta.concrete_fields if field.name not in _NOT_SNAPSHOT]


def _to_json(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return {"b64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _from_json(field: models.Field[Any, Any], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(field, models.BinaryField):
        return base64.b64decode(value["b64"])
    if isinstance(field, models.DateTimeField):
        return dt.datetime.fromisoformat(value)
    if isinstance(field, models.DecimalField):
        return Decimal(value)
    return value


def customer_snapshot(customer: Customer) -> dict[str, Any]:
    """The customer's fields as JSON (foreign keys as ids, tokens in base64)."""
    return {
        field.attname: _to_json(getattr(customer, field.attname)) for field in _snapshot_fields()
    }


def _restore(
    customer: Customer, snapshot: dict[str, Any], names: Sequence[str] | None = None
) -> None:
    for field in _snapshot_fields():
        if field.attname in snapshot and (names is None or field.attname in names):
            setattr(customer, field.attname, _from_json(field, snapshot[field.attname]))


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or value == []


def _absorbed_wins(
    strategy: str, survivor_value: Any, absorbed_value: Any, *, absorbed_is_recent: bool
) -> bool:
    if _is_empty(absorbed_value):
        return False
    if _is_empty(survivor_value):
        return True
    if strategy == MOST_RECENT:
        return absorbed_is_recent
    if strategy == MOST_COMPLETE:
        return len(str(absorbed_value)) > len(str(survivor_value))
    return False


def _seen(customer: Customer) -> dt.datetime:
    return customer.last_seen_at or customer.created_at


def survivorship_apply(
    *,
    survivor: Customer,
    absorbed: Customer,
    rules: WorkspaceRules,
    keys: WorkspaceKeys,
) -> None:
    """Give the survivor the absorbed customer's values where the rules say so, in memory (the
    merge compare page runs it on copies to preview exactly what a merge will do)."""
    recent = _seen(absorbed) > _seen(survivor)
    for name in ("name", "gender", "locale", "source_channel"):
        if _absorbed_wins(
            rules.survivorship.get(name, "survivor"),
            getattr(survivor, name),
            getattr(absorbed, name),
            absorbed_is_recent=recent,
        ):
            setattr(survivor, name, getattr(absorbed, name))
    for name in ("company", "owner", "team"):
        attname = f"{name}_id"
        if _absorbed_wins(
            rules.survivorship.get(name, "survivor"),
            getattr(survivor, attname),
            getattr(absorbed, attname),
            absorbed_is_recent=recent,
        ):
            setattr(survivor, attname, getattr(absorbed, attname))
    for name in PERSONAL_FIELDS:
        mine = customer_personal_value(survivor, name, keys)
        theirs = customer_personal_value(absorbed, name, keys)
        if _absorbed_wins(
            rules.survivorship.get(name, "survivor"), mine, theirs, absorbed_is_recent=recent
        ):
            # Tokens are bound to their row: the absorbed value is encrypted anew for the survivor.
            customer_personal_set(survivor, name, theirs, keys)
    strategy = rules.survivorship.get("custom_fields", "survivor")
    merged_fields = dict(survivor.custom_fields or {})
    for key, value in (absorbed.custom_fields or {}).items():
        if _absorbed_wins(strategy, merged_fields.get(key), value, absorbed_is_recent=recent):
            merged_fields[key] = value
    survivor.custom_fields = merged_fields
    if (
        _LIFECYCLE_RANK[LifecycleStage(absorbed.lifecycle_stage)]
        > _LIFECYCLE_RANK[LifecycleStage(survivor.lifecycle_stage)]
    ):
        survivor.lifecycle_stage = absorbed.lifecycle_stage
    survivor.first_seen_at = min(
        (moment for moment in (survivor.first_seen_at, absorbed.first_seen_at) if moment),
        default=None,
    )
    survivor.last_seen_at = max(
        (moment for moment in (survivor.last_seen_at, absorbed.last_seen_at) if moment),
        default=None,
    )


def _batches(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), MOVE_BATCH_SIZE):
        yield ids[start : start + MOVE_BATCH_SIZE]


def _move_rows(merge: CustomerMerge, survivor: Customer, absorbed: Customer) -> dict[str, int]:
    moved: dict[str, int] = {}
    for reference in customer_references():
        manager = reference.model._default_manager
        rows = manager.filter(**{reference.field: absorbed})
        if reference.conflict_fields:
            held = set(
                manager.filter(**{reference.field: survivor}).values_list(
                    *reference.conflict_fields
                )
            )
            ids = [
                row[0]
                for row in rows.values_list("pk", *reference.conflict_fields)
                if tuple(row[1:]) not in held
            ]
        else:
            ids = list(rows.values_list("pk", flat=True))
        for batch in _batches(ids):
            MergeMove.objects.bulk_create(
                [MergeMove(merge=merge, model=reference.label, row_id=row_id) for row_id in batch]
            )
            manager.filter(pk__in=batch).update(**{reference.field: survivor})
        moved[reference.label] = len(ids)
    return moved


def _lock_pair(first: Customer, second: Customer) -> tuple[Customer, Customer]:
    # One order for every locker, so two merges of the same pair never deadlock.
    locked = {
        customer.pk: customer
        for customer in Customer.objects.select_for_update()
        .filter(pk__in=sorted([first.pk, second.pk]))
        .order_by("pk")
    }
    if first.pk not in locked or second.pk not in locked:
        raise ConflictError(_("The customer was deleted meanwhile."))
    return locked[first.pk], locked[second.pk]


def _actor_fields(actor: Actor | None, label: str) -> dict[str, Any]:
    if actor is None:
        return {"merged_by": None, "merged_by_label": label or "system"}
    return {
        "merged_by": actor.membership if actor.api_key is None else None,
        "merged_by_label": actor.label,
    }


def customer_merge(
    *,
    actor: Actor | None,
    survivor: Customer,
    absorbed: Customer,
    reason: str = CustomerMerge.Reason.MANUAL,
    matched_kind: str = "",
    actor_label: str = "",
) -> CustomerMerge:
    """Merge `absorbed` into `survivor`. `actor` is None when identity resolution merges
    (`actor_label` names the source then). Locks both rows; raises InvalidInputError for a
    customer merged with itself or across workspaces and ConflictError when either is merged
    already."""
    if actor is not None:
        actor.require("customers.merge")
    if survivor.pk == absorbed.pk:
        raise InvalidInputError(_("A customer cannot be merged with itself."), field="absorbed_id")
    if survivor.workspace_id != absorbed.workspace_id:
        raise InvalidInputError(_("Not found in this workspace."), field="absorbed_id")
    with transaction.atomic():
        survivor, absorbed = _lock_pair(survivor, absorbed)
        if survivor.is_merged or absorbed.is_merged:
            raise ConflictError(_("One of these customers was merged already."))
        workspace_id = survivor.workspace_id
        keys = workspace_keys(workspace_id)
        before = {"survivor": customer_snapshot(survivor), "absorbed": customer_snapshot(absorbed)}
        merge = CustomerMerge.objects.create(
            workspace_id=workspace_id,
            survivor=survivor,
            absorbed=absorbed,
            reason=reason,
            matched_kind=matched_kind[:100],
            snapshot=before,
            **_actor_fields(actor, actor_label),
        )
        survivorship_apply(
            survivor=survivor, absorbed=absorbed, rules=workspace_rules(workspace_id), keys=keys
        )
        moved = _move_rows(merge, survivor, absorbed)
        CustomFieldUniqueValue.objects.filter(customer=absorbed).delete()
        absorbed.status = Customer.Status.MERGED
        absorbed.merged_into = survivor
        absorbed.save(update_fields=["status", "merged_into", "updated_at"])
        survivor.save()
        custom_field_unique_claims_sync(
            customer=survivor,
            fields=custom_fields_of(workspace_id),
            values=survivor.custom_fields,
        )
        customer_profile_refresh(survivor)
        merge.snapshot = {**before, "merged": customer_snapshot(survivor), "moved": moved}
        merge.save(update_fields=["snapshot"])
        MergeCandidate.objects.filter(
            workspace_id=workspace_id,
            status=MergeCandidate.Status.OPEN,
            first__in=[survivor, absorbed],
            second__in=[survivor, absorbed],
        ).update(status=MergeCandidate.Status.MERGED, decided_at=timezone.now())
        payload = {
            "merge_id": str(merge.public_id),
            "survivor_id": str(survivor.public_id),
            "absorbed_id": str(absorbed.public_id),
            "survivor_pk": survivor.pk,
            "absorbed_pk": absorbed.pk,
        }
        outbox_publish(workspace_id=workspace_id, kind="customer.merged", payload=payload)
        audit_record(
            workspace_id=workspace_id,
            action=CustomerAudit.MERGED,
            actor_id=actor.user_id if actor else None,
            actor_label=merge.merged_by_label,
            target=AuditTarget("customer", str(survivor.public_id)),
            data={"absorbed": str(absorbed.public_id), "reason": reason, "moved": moved},
        )
    return merge


def _profile_after_unmerge(
    customer: Customer, merge: CustomerMerge, snapshot: dict[str, Any]
) -> None:
    """Last seen as before the merge, moved on by the events it has received since; the
    derived profile recomputed from its timeline."""
    role = "survivor" if customer.pk == merge.survivor_id else "absorbed"
    _restore(customer, snapshot[role], ["last_seen_at"])
    since = Event.objects.filter(customer=customer, created_at__gte=merge.created_at)
    profile_apply(customer, since.order_by("occurred_at"))
    customer.save(update_fields=["last_seen_at", "updated_at"])
    customer_profile_refresh(customer)


def customer_unmerge(*, actor: Actor | None, merge: CustomerMerge) -> CustomerMerge:
    """Undo `merge` (see the module's docstring). Raises ConflictError when it was undone
    already or its survivor has since been merged into another customer."""
    if actor is not None:
        actor.require("customers.merge")
    with transaction.atomic():
        merge = CustomerMerge.objects.select_for_update().get(pk=merge.pk)
        if merge.is_undone:
            raise ConflictError(_("This merge was undone already."))
        survivor, absorbed = _lock_pair(merge.survivor, merge.absorbed)
        if survivor.is_merged:
            raise ConflictError(
                _(
                    "The surviving customer was merged into another one since: "
                    "undo that merge first."
                )
            )
        if absorbed.merged_into_id != survivor.pk:
            raise ConflictError(_("The merged customer is no longer part of this one."))
        moves: dict[str, list[int]] = {}
        for label, row_id in MergeMove.objects.filter(merge=merge).values_list("model", "row_id"):
            moves.setdefault(label, []).append(row_id)
        for label, ids in moves.items():
            reference = customer_reference(label)
            if reference is None:  # a part that was uninstalled since
                continue
            for batch in _batches(ids):
                reference.model._default_manager.filter(pk__in=batch).update(
                    **{reference.field: absorbed}
                )
        identity_ids = moves.get(Identity._meta.label_lower, [])
        moved_events = set(moves.get(Event._meta.label_lower, []))
        late = [
            pk
            for pk in Event.objects.filter(
                customer=survivor, identity_id__in=identity_ids, created_at__gte=merge.created_at
            ).values_list("pk", flat=True)
            if pk not in moved_events
        ]
        for batch in _batches(late):
            Event.objects.filter(pk__in=batch).update(customer=absorbed)
        snapshot = merge.snapshot
        _restore(absorbed, snapshot["absorbed"])
        absorbed.status = Customer.Status.ACTIVE
        absorbed.merged_into = None
        absorbed.save()
        current = customer_snapshot(survivor)
        untouched = [
            name for name, value in snapshot["merged"].items() if current.get(name) == value
        ]
        _restore(survivor, snapshot["survivor"], untouched)
        survivor.save()
        fields_list = custom_fields_of(survivor.workspace_id)
        for customer in (survivor, absorbed):
            custom_field_unique_claims_sync(
                customer=customer, fields=fields_list, values=customer.custom_fields
            )
            _profile_after_unmerge(customer, merge, snapshot)
        merge.undone_at = timezone.now()
        merge.undone_by_label = actor.label if actor else "system"
        merge.save(update_fields=["undone_at", "undone_by_label"])
        outbox_publish(
            workspace_id=merge.workspace_id,
            kind="customer.unmerged",
            payload={
                "merge_id": str(merge.public_id),
                "survivor_id": str(survivor.public_id),
                "absorbed_id": str(absorbed.public_id),
                "survivor_pk": survivor.pk,
                "absorbed_pk": absorbed.pk,
                "late_events": len(late),
            },
        )
        audit_record(
            workspace_id=merge.workspace_id,
            action=CustomerAudit.UNMERGED,
            actor_id=actor.user_id if actor else None,
            actor_label=merge.undone_by_label,
            target=AuditTarget("customer", str(survivor.public_id)),
            data={"merge": str(merge.public_id), "absorbed": str(absorbed.public_id)},
        )
    return merge


def merge_candidate_dismiss(*, actor: Actor, candidate: MergeCandidate) -> MergeCandidate:
    actor.require("customers.merge")
    if candidate.status != MergeCandidate.Status.OPEN:
        raise ConflictError(_("This suggestion was decided already."))
    candidate.status = MergeCandidate.Status.DISMISSED
    candidate.decided_at = timezone.now()
    candidate.decided_by = actor.membership if actor.api_key is None else None
    candidate.save(update_fields=["status", "decided_at", "decided_by"])
    return candidate


def merge_candidate_accept(
    *, actor: Actor, candidate: MergeCandidate, survivor: Customer | None = None
) -> CustomerMerge:
    """Merge the pair of a review-queue entry; the older customer survives unless told."""
    if candidate.status != MergeCandidate.Status.OPEN:
        raise ConflictError(_("This suggestion was decided already."))
    first, second = candidate.first, candidate.second
    survivor = survivor or min(
        (first, second), key=lambda customer: (customer.created_at, customer.pk)
    )
    if survivor.pk not in (first.pk, second.pk):
        raise InvalidInputError(_("Choose one of the two customers."), field="survivor_id")
    absorbed = second if survivor.pk == first.pk else first
    merge = customer_merge(
        actor=actor, survivor=survivor, absorbed=absorbed, reason=CustomerMerge.Reason.REVIEW
    )
    MergeCandidate.objects.filter(pk=candidate.pk).update(
        decided_by=actor.membership if actor.api_key is None else None
    )
    return merge
