"""Identity resolution, the spine's entry point: given the identity keys a source saw (a
channel message, an API event, an import row, a form), find or create the one customer they
name, attach the keys it did not hold yet, and merge or queue for review when the keys point at
several customers.

Rules (huike.customers.rules, per workspace in CustomerSettings):
- junk values (13800000000, test@test.com…) are never attached to anyone;
- a customer holds at most `cap` identities of a kind; further ones are skipped;
- when keys point at several customers, the one matched by the strongest key survives (the
  older on a tie). Another customer matched only by weak keys (a web visitor id) is merged into
  it; one matched by strong keys on both sides is merged when the workspace allows automatic
  merges of strong matches; anything else goes to the review queue, and a pair a person has
  dismissed is never queued again;
- keys a person typed into a source the channel does not check (the website chat's contact
  form) come as `unverified_keys`: the other keys choose or create the customer, and a typed
  key is given to them only while nobody else holds it. One another customer holds is skipped
  and the pair goes to the review queue: typing someone's e-mail must not make you them.
"""

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from huike.core.crypto import WorkspaceKeys, workspace_keys
from huike.core.errors import InvalidInputError
from huike.customers.identities import (
    IdentityKey,
    identities_find,
    identity_build,
    workspace_rules,
)
from huike.customers.merging import customer_merge
from huike.customers.models import (
    Customer,
    CustomerMerge,
    Identity,
    LifecycleStage,
    MergeCandidate,
)
from huike.customers.rules import STRENGTH_RANK, STRONG, WEAK, WorkspaceRules

# An identity's last_seen_at is refreshed at most this often: a busy chat would otherwise
# rewrite the row on every message.
LAST_SEEN_GRANULARITY = dt.timedelta(hours=1)
SKIPPED_JUNK = "junk"
SKIPPED_CAP = "cap"
# The key is another customer's and the two were not merged (the pair is in the review
# queue, or a person dismissed it): a verified key matched under the merge rules, or any
# unverified key.
SKIPPED_ELSEWHERE = "belongs_to_other_customer"
# An unverified source (an anonymous web form) named an existing customer and a key they do
# not hold: anyone can type someone else's phone, so the key is not given to that customer.
SKIPPED_UNVERIFIED = "unverified"


@dataclass(frozen=True)
class NewCustomer:
    """What a customer created by resolution starts with."""

    name: str = ""
    lifecycle_stage: str = LifecycleStage.VISITOR
    source_channel: str = ""
    locale: str = ""


@dataclass
class Resolution:
    customer: Customer
    # The survivor's identity of the strongest key: what an event arrived through.
    identity: Identity | None
    is_new: bool = False
    attached: list[Identity] = field(default_factory=list)
    merges: list[CustomerMerge] = field(default_factory=list)
    candidates: list[MergeCandidate] = field(default_factory=list)
    skipped: list[tuple[IdentityKey, str]] = field(default_factory=list)


def _strength(rules: WorkspaceRules, key: IdentityKey, identity: Identity | None) -> int:
    verified = key.is_verified or bool(identity and identity.is_verified)
    return STRENGTH_RANK[rules.strength_of(key.base_kind, is_verified=verified)]


def _candidate_queue(
    workspace_id: int, first: Customer, second: Customer, kinds: list[str], source: str
) -> MergeCandidate | None:
    low, high = sorted((first, second), key=lambda customer: customer.pk)
    decided = MergeCandidate.objects.filter(
        workspace_id=workspace_id, first=low, second=high
    ).filter(Q(status=MergeCandidate.Status.OPEN) | Q(status=MergeCandidate.Status.DISMISSED))
    if decided.exists():
        return None
    return MergeCandidate.objects.create(
        workspace_id=workspace_id,
        first=low,
        second=high,
        matched_kinds=", ".join(kinds)[:255],
        source=source[:100],
    )


def _resolve_once(
    *,
    keys: WorkspaceKeys,
    rules: WorkspaceRules,
    identity_keys: Sequence[IdentityKey],
    unverified_keys: Sequence[IdentityKey],
    source: str,
    seen_at: dt.datetime,
    new_customer: NewCustomer,
    verified: bool,
) -> Resolution:
    usable: list[IdentityKey] = []
    typed: list[IdentityKey] = []
    skipped: list[tuple[IdentityKey, str]] = []
    slots: set[tuple[str, str]] = set()
    # A key given both ways counts as verified: the source vouches for it either way.
    for key, bucket in [
        *((key, usable) for key in identity_keys),
        *((dataclasses.replace(key, is_verified=False), typed) for key in unverified_keys),
    ]:
        if key.slot in slots:
            continue
        slots.add(key.slot)
        if rules.is_junk(key.base_kind, key.value):
            skipped.append((key, SKIPPED_JUNK))
        else:
            bucket.append(key)
    if not usable:
        raise InvalidInputError(
            _("No usable identity: send at least one real phone, email or platform id."),
            field="identities",
        )
    found = identities_find(keys=keys, identity_keys=[*usable, *typed])
    owner_of = {slot: identity.customer_id for slot, identity in found.items()}
    # customer pk -> (best strength, customer)
    matched: dict[int, tuple[int, Customer]] = {}
    for key in usable:
        identity = found.get(key.slot)
        if identity is None:
            continue
        strength = _strength(rules, key, identity)
        best = matched.get(identity.customer_id)
        if best is None or strength > best[0]:
            matched[identity.customer_id] = (strength, identity.customer)
    is_new = not matched
    if is_new:
        customer = Customer(
            workspace_id=keys.workspace_id,
            name=new_customer.name[:200],
            lifecycle_stage=new_customer.lifecycle_stage,
            source_channel=new_customer.source_channel[:40],
            locale=new_customer.locale[:16],
            first_seen_at=seen_at,
            last_seen_at=seen_at,
        )
        customer.save(force_insert=True)
        survivor_strength = max(_strength(rules, key, None) for key in usable)
    else:
        ranked = sorted(
            matched.values(),
            key=lambda item: (-item[0], item[1].created_at, item[1].pk),
        )
        survivor_strength, customer = ranked[0]
    resolution = Resolution(customer=customer, identity=None, is_new=is_new, skipped=skipped)
    if not is_new:
        for strength, other in ranked[1:]:
            kinds = sorted({key.kind for key in usable if owner_of.get(key.slot) == other.pk})
            if verified and (
                strength == STRENGTH_RANK[WEAK]
                or (
                    strength == survivor_strength == STRENGTH_RANK[STRONG]
                    and rules.auto_merge_strong
                )
            ):
                resolution.merges.append(
                    customer_merge(
                        actor=None,
                        survivor=customer,
                        absorbed=other,
                        reason=CustomerMerge.Reason.RESOLUTION,
                        matched_kind=",".join(kinds),
                        actor_label=f"resolution:{source}"[:254],
                    )
                )
            else:
                candidate = _candidate_queue(keys.workspace_id, customer, other, kinds, source)
                if candidate is not None:
                    resolution.candidates.append(candidate)
        if resolution.merges:
            customer.refresh_from_db()
    absorbed_pks = {merge.absorbed_id for merge in resolution.merges}
    counts = dict(
        Identity.objects.filter(customer=customer)
        .values_list("kind")
        .annotate(total=Count("id"))
        .values_list("kind", "total")
    )
    best_rank = -1
    stale = seen_at - LAST_SEEN_GRANULARITY
    refresh: list[int] = []
    # customer pk -> (customer, kinds): the others holding a typed key, for the review queue.
    typed_elsewhere: dict[int, tuple[Customer, set[str]]] = {}
    for key, is_typed in [*((key, False) for key in usable), *((key, True) for key in typed)]:
        identity = found.get(key.slot)
        if identity is not None and identity.customer_id not in (customer.pk, *absorbed_pks):
            resolution.skipped.append((key, SKIPPED_ELSEWHERE))
            if is_typed:
                _holder, held = typed_elsewhere.setdefault(
                    identity.customer_id, (identity.customer, set())
                )
                held.add(key.kind)
            continue
        if identity is None:
            if not verified and not is_new:
                resolution.skipped.append((key, SKIPPED_UNVERIFIED))
                continue
            if counts.get(key.kind, 0) >= rules.cap_of(key.base_kind):
                resolution.skipped.append((key, SKIPPED_CAP))
                continue
            identity = identity_build(
                keys=keys, customer=customer, key=key, source=source, seen_at=seen_at
            )
            identity.save(force_insert=True)
            counts[key.kind] = counts.get(key.kind, 0) + 1
            resolution.attached.append(identity)
        elif identity.last_seen_at < stale:
            refresh.append(identity.pk)
        if is_typed:
            # What the event arrived through is the source's own key, not one somebody typed.
            continue
        rank = _strength(rules, key, identity)
        if rank > best_rank:
            best_rank, resolution.identity = rank, identity
    if refresh:
        Identity.objects.filter(pk__in=refresh).update(last_seen_at=seen_at)
    for holder, held_kinds in typed_elsewhere.values():
        candidate = _candidate_queue(
            keys.workspace_id, customer, holder, sorted(held_kinds), source
        )
        if candidate is not None:
            resolution.candidates.append(candidate)
    return resolution


def identity_resolve(
    *,
    workspace_id: int,
    identity_keys: Sequence[IdentityKey],
    source: str,
    seen_at: dt.datetime | None = None,
    new_customer: NewCustomer | None = None,
    keys: WorkspaceKeys | None = None,
    rules: WorkspaceRules | None = None,
    verified: bool = True,
    unverified_keys: Sequence[IdentityKey] = (),
) -> Resolution:
    """Find or create the customer `identity_keys` name (see the module's docstring).

    `verified=False` is for sources anyone can fill in (an anonymous web form): their keys
    never merge customers (several matched go to the review queue) and are not attached to an
    existing customer (skipped as SKIPPED_UNVERIFIED); a new customer still gets them all.

    `unverified_keys` are for a source that vouches for `identity_keys` but not for the rest
    (the website chat: the visitor id is the server's, the e-mail the visitor typed is not).
    They never choose the customer nor merge anyone, and are stored unverified. One nobody
    holds is given to the customer `identity_keys` name (with `verified=False` only to a new
    one, as above); one that customer holds is seen again; one another customer holds is
    skipped (SKIPPED_ELSEWHERE) and the pair is queued for review (unless already open or
    dismissed).

    Runs in the caller's transaction. Two writers creating the same new identity at once: the
    loser's insert fails on the unique constraint, and it resolves again, now finding the
    winner's customer. Raises InvalidInputError(field="identities") when no key is usable.
    """
    keys = keys or workspace_keys(workspace_id)
    rules = rules or workspace_rules(workspace_id)
    arguments: dict[str, Any] = {
        "keys": keys,
        "rules": rules,
        "identity_keys": identity_keys,
        "unverified_keys": unverified_keys,
        "source": source,
        "seen_at": seen_at or timezone.now(),
        "new_customer": new_customer or NewCustomer(),
        "verified": verified,
    }
    try:
        with transaction.atomic():
            return _resolve_once(**arguments)
    except IntegrityError:
        with transaction.atomic():
            return _resolve_once(**arguments)
