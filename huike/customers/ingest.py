"""Events in bulk (POST /api/v1/events, channels, imports of activity): validate each item,
resolve its identities, write the timeline and the outbox, and say what happened to each item.

The common case, where every item's keys name at most one customer, costs a fixed number of
statements per batch: one lookup of every key, one insert each for new customers, identities
and events, one update of the derived profiles and one outbox row per event kind. An item whose
keys name several customers (a merge or a review) is resolved on its own, in order, so later
items see the outcome.
"""

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from huike.accounts.access import Actor
from huike.core.bulk import ModelBuilder, bulk_insert
from huike.core.crypto import WorkspaceKeys, workspace_keys
from huike.core.errors import HuikeError, InvalidInputError
from huike.customers.events import event_kind_clean, events_publish
from huike.customers.identities import (
    IdentityKey,
    identities_find,
    identity_build,
    identity_key,
    workspace_rules,
)
from huike.customers.models import Customer, Event, Identity, LifecycleStage
from huike.customers.profile import DERIVED_FIELDS, profile_apply, profiles_save
from huike.customers.resolution import (
    LAST_SEEN_GRANULARITY,
    NewCustomer,
    identity_resolve,
)
from huike.customers.rules import STRENGTH_RANK, WorkspaceRules
from huike.customers.values import parse_datetime_value

# The most items one request may carry: a batch is one transaction, and 1,000 events keep it
# well under a second while amortizing the per-batch statements.
MAX_BATCH_SIZE = 1000
MAX_PROPERTIES_BYTES = 16 * 1024
MAX_IDENTITIES_PER_ITEM = 20
MAX_EXTERNAL_ID_LENGTH = 255
# Events dated this far ahead of the server's clock are refused: a wrong clock or a unit error.
MAX_FUTURE = dt.timedelta(days=1)

CREATED = "created"
DUPLICATE = "duplicate"
ERROR = "error"


@dataclass
class EventItem:
    """One validated item of a batch."""

    index: int
    kind: str
    occurred_at: dt.datetime
    identity_keys: list[IdentityKey]
    properties: dict[str, Any]
    channel: str
    external_id: str | None
    name: str


@dataclass
class ItemResult:
    index: int
    status: str
    event_id: str | None = None
    customer_id: str | None = None
    customer_created: bool = False
    error_field: str | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.status == ERROR:
            data["error"] = {"field": self.error_field, "detail": self.error}
        else:
            data.update(
                event_id=self.event_id,
                customer_id=self.customer_id,
                customer_created=self.customer_created,
            )
        return data


@dataclass
class BatchReport:
    results: list[ItemResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for result in self.results if result.status == status)


def _parse_item(index: int, raw: Mapping[str, Any], *, region: str, tz: dt.tzinfo) -> EventItem:
    if not isinstance(raw, Mapping):
        raise InvalidInputError(_("Each event is an object."), field="events")
    kind = event_kind_clean(raw.get("kind"))
    occurred_raw = raw.get("occurred_at")
    now = timezone.now()
    occurred_at = (
        parse_datetime_value(occurred_raw, field="occurred_at", tz=tz) if occurred_raw else now
    )
    if occurred_at > now + MAX_FUTURE:
        raise InvalidInputError(_("This time is in the future."), field="occurred_at")
    identities = raw.get("identities") or {}
    if not isinstance(identities, Mapping) or not identities:
        raise InvalidInputError(
            _('Name the customer with at least one identity, e.g. {"phone": "…"}.'),
            field="identities",
        )
    keys: list[IdentityKey] = []
    for kind_name, values in identities.items():
        for value in values if isinstance(values, list) else [values]:
            try:
                keys.append(identity_key(str(kind_name), value, default_region=region))
            except InvalidInputError as error:
                raise InvalidInputError(error.detail, field=f"identities.{kind_name}") from None
    if len(keys) > MAX_IDENTITIES_PER_ITEM:
        raise InvalidInputError(
            _("At most %(max)d identities per event.") % {"max": MAX_IDENTITIES_PER_ITEM},
            field="identities",
        )
    properties = raw.get("properties") or {}
    if not isinstance(properties, Mapping):
        raise InvalidInputError(_("Properties are an object."), field="properties")
    if len(json.dumps(properties, default=str)) > MAX_PROPERTIES_BYTES:
        raise InvalidInputError(
            _("Properties are at most %(max)d bytes of JSON.") % {"max": MAX_PROPERTIES_BYTES},
            field="properties",
        )
    external_id = raw.get("id")
    if external_id is not None:
        external_id = str(external_id).strip()
        if not external_id or len(external_id) > MAX_EXTERNAL_ID_LENGTH:
            raise InvalidInputError(
                _("An event id is 1 to %(max)d characters.") % {"max": MAX_EXTERNAL_ID_LENGTH},
                field="id",
            )
    channel = str(raw.get("channel") or "")[:40]
    name = (
        str((raw.get("customer") or {}).get("name") or "")[:200]
        if isinstance(raw.get("customer"), Mapping)
        else ""
    )
    return EventItem(
        index=index,
        kind=kind,
        occurred_at=occurred_at,
        identity_keys=keys,
        properties=dict(properties),
        channel=channel,
        external_id=external_id,
        name=name,
    )


_NEW_CUSTOMER = ModelBuilder(Customer)
_NEW_EVENT = ModelBuilder(Event)


class _Batch:
    """The fast path's pending writes, flushed together."""

    def __init__(self, keys: WorkspaceKeys, rules: WorkspaceRules, source: str) -> None:
        self.keys = keys
        self.rules = rules
        self.source = source
        self.workspace_id = keys.workspace_id
        self.found: dict[tuple[str, str], Identity] = {}
        # Slots claimed by this batch and not yet written: slot -> customer (maybe unsaved).
        self.pending_slots: dict[tuple[str, str], Customer] = {}
        self.new_customers: list[Customer] = []
        self.new_identities: list[tuple[Identity, Customer]] = []
        self.events: list[tuple[Event, Customer, EventItem, Identity | None]] = []
        self.identity_counts: dict[tuple[int, str], int] = {}
        self.counts_loaded = False
        self.stale_identities: set[int] = set()

    def load(self, items: Sequence[EventItem]) -> None:
        slots = {key.slot: key for item in items for key in item.identity_keys}
        # Locked: the batch adds to their derived profile (order counts, totals), which a
        # concurrent batch must not read before this one commits.
        self.found = identities_find(
            keys=self.keys, identity_keys=slots.values(), lock_customers=True
        )
        self.identity_counts = {}
        self.counts_loaded = False

    def _held(self, count_key: tuple[int, str]) -> int:
        """Identities of a kind a customer holds; known customers' counts are read once per
        batch, and only when a key is to be attached to one of them (rarely: most events
        name customers by keys they hold)."""
        if count_key[0] > 0 and not self.counts_loaded:
            self.counts_loaded = True
            known = {identity.customer_id for identity in self.found.values() if identity.pk}
            for customer_id, kind, total in (
                Identity.objects.filter(customer_id__in=known)
                .values_list("customer_id", "kind")
                .annotate(total=Count("id"))
                .values_list("customer_id", "kind", "total")
            ):
                self.identity_counts.setdefault((customer_id, kind), total)
        return self.identity_counts.get(count_key, 0)

    def owners(self, item: EventItem) -> dict[int, Customer]:
        """The customers (saved or pending) the item's keys name, by identity of the object."""
        named: dict[int, Customer] = {}
        for key in item.identity_keys:
            if self.rules.is_junk(key.base_kind, key.value):
                continue
            identity = self.found.get(key.slot)
            customer = identity.customer if identity else self.pending_slots.get(key.slot)
            if customer is not None:
                named[id(customer)] = customer
        return named

    def add(self, item: EventItem, customer: Customer | None) -> tuple[Customer, bool]:
        is_new = customer is None
        if customer is None:
            customer = _NEW_CUSTOMER(
                workspace_id=self.workspace_id,
                name=item.name,
                lifecycle_stage=LifecycleStage.VISITOR,
                source_channel=item.channel,
                first_seen_at=item.occurred_at,
                last_seen_at=item.occurred_at,
            )
            self.new_customers.append(customer)
        best: tuple[int, Identity | None] = (-1, None)
        for key in item.identity_keys:
            if self.rules.is_junk(key.base_kind, key.value):
                continue
            identity = self.found.get(key.slot)
            if identity is None and key.slot not in self.pending_slots:
                count_key = (customer.pk or -id(customer), key.kind)
                held = self._held(count_key)
                if held >= self.rules.cap_of(key.base_kind):
                    continue
                self.identity_counts[count_key] = held + 1
                identity = identity_build(
                    keys=self.keys,
                    customer=customer,
                    key=key,
                    source=self.source,
                    seen_at=item.occurred_at,
                )
                self.pending_slots[key.slot] = customer
                self.new_identities.append((identity, customer))
                self.found[key.slot] = identity
            elif (
                identity is not None
                and identity.pk
                and identity.last_seen_at < (item.occurred_at - LAST_SEEN_GRANULARITY)
            ):
                self.stale_identities.add(identity.pk)
            rank = STRENGTH_RANK[
                self.rules.strength_of(
                    key.base_kind, is_verified=bool(identity and identity.is_verified)
                )
            ]
            if identity is not None and rank > best[0]:
                best = (rank, identity)
        event = _NEW_EVENT(
            workspace_id=self.workspace_id,
            kind=item.kind,
            occurred_at=item.occurred_at,
            channel=item.channel,
            properties=item.properties,
            external_id=item.external_id,
            source=self.source[:40],
        )
        self.events.append((event, customer, item, best[1]))
        return customer, is_new

    def flush(self) -> None:
        if not self.events:
            return
        # The events of each customer object; a new customer's derived profile is computed
        # before it is inserted, so only customers we knew already need an UPDATE.
        by_object: dict[int, tuple[Customer, list[Event]]] = {}
        for event, customer, _item, _through in self.events:
            by_object.setdefault(id(customer), (customer, []))[1].append(event)
        new = {id(customer) for customer in self.new_customers}
        for key, (customer, events) in by_object.items():
            if key in new:
                profile_apply(customer, events)
        bulk_insert(Customer, self.new_customers)
        identities = []
        for identity, customer in self.new_identities:
            identity.customer_id = customer.pk
            identities.append(identity)
        bulk_insert(Identity, identities)
        events = []
        for event, customer, _item, through in self.events:
            event.customer_id = customer.pk
            event.identity_id = through.pk if through is not None else None
            events.append(event)
        bulk_insert(Event, events)
        profiles_save(
            [
                customer
                for key, (customer, customer_events) in by_object.items()
                if key not in new and profile_apply(customer, customer_events)
            ]
        )
        if self.stale_identities:
            Identity.objects.filter(pk__in=list(self.stale_identities)).update(
                last_seen_at=timezone.now()
            )
        events_publish(self.workspace_id, events)

    def reset(self) -> None:
        self.pending_slots.clear()
        self.new_customers.clear()
        self.new_identities.clear()
        self.events.clear()
        self.stale_identities.clear()


def _record_alone(
    item: EventItem, *, keys: WorkspaceKeys, rules: WorkspaceRules, source: str
) -> ItemResult:
    """The slow path: one item resolved and written on its own (merges, races)."""
    try:
        with transaction.atomic():
            resolution = identity_resolve(
                workspace_id=keys.workspace_id,
                identity_keys=item.identity_keys,
                source=source,
                seen_at=item.occurred_at,
                new_customer=NewCustomer(name=item.name, source_channel=item.channel),
                keys=keys,
                rules=rules,
            )
            customer = resolution.customer
            event = Event.objects.create(
                workspace_id=keys.workspace_id,
                customer=customer,
                identity=resolution.identity,
                kind=item.kind,
                occurred_at=item.occurred_at,
                channel=item.channel,
                properties=item.properties,
                external_id=item.external_id,
                source=source[:40],
            )
            if profile_apply(customer, [event]):
                customer.save(update_fields=[*DERIVED_FIELDS, "last_seen_at", "updated_at"])
            events_publish(keys.workspace_id, [event])
    except IntegrityError:
        existing = _existing_events(keys.workspace_id, [item.external_id])
        if item.external_id and item.external_id in existing:
            return _duplicate(item, existing[item.external_id])
        raise
    except HuikeError as error:
        return ItemResult(
            index=item.index, status=ERROR, error_field=error.field, error=error.detail
        )
    return ItemResult(
        index=item.index,
        status=CREATED,
        event_id=str(event.public_id),
        customer_id=str(customer.public_id),
        customer_created=resolution.is_new,
    )


def _existing_events(workspace_id: int, external_ids: Sequence[str | None]) -> dict[str, Event]:
    wanted = [value for value in external_ids if value]
    if not wanted:
        return {}
    return {
        event.external_id: event
        for event in Event.objects.filter(workspace_id=workspace_id, external_id__in=wanted)
        .select_related("customer")
        .only("public_id", "external_id", "customer__public_id", "customer__merged_into")
        if event.external_id
    }


def _duplicate(item: EventItem, event: Event) -> ItemResult:
    return ItemResult(
        index=item.index,
        status=DUPLICATE,
        event_id=str(event.public_id),
        customer_id=str(event.customer.public_id),
    )


def events_ingest(
    *, actor: Actor, items: Sequence[Mapping[str, Any]], source: str = "api"
) -> BatchReport:
    """Record a batch of events (at most MAX_BATCH_SIZE); one result per item, in order.
    Invalid items are reported and skipped; the valid ones are all written."""
    actor.require("events.ingest")
    if len(items) > MAX_BATCH_SIZE:
        raise InvalidInputError(
            _("At most %(max)d events per request.") % {"max": MAX_BATCH_SIZE}, field="events"
        )
    workspace_id = actor.workspace.pk
    keys = workspace_keys(workspace_id)
    rules = workspace_rules(workspace_id)
    tz = timezone.get_current_timezone()
    results: dict[int, ItemResult] = {}
    parsed: list[EventItem] = []
    for index, raw in enumerate(items):
        try:
            parsed.append(_parse_item(index, raw, region=rules.default_region, tz=tz))
        except InvalidInputError as error:
            results[index] = ItemResult(
                index=index, status=ERROR, error_field=error.field, error=error.detail
            )
    existing = _existing_events(workspace_id, [item.external_id for item in parsed])
    fresh: list[EventItem] = []
    claimed: dict[str, EventItem] = {}
    for item in parsed:
        if item.external_id and item.external_id in existing:
            results[item.index] = _duplicate(item, existing[item.external_id])
        elif item.external_id and item.external_id in claimed:
            results[item.index] = ItemResult(index=item.index, status=DUPLICATE)
        else:
            if item.external_id:
                claimed[item.external_id] = item
            if all(rules.is_junk(key.base_kind, key.value) for key in item.identity_keys):
                results[item.index] = ItemResult(
                    index=item.index,
                    status=ERROR,
                    error_field="identities",
                    error=_("No usable identity: every value given is a placeholder."),
                )
            else:
                fresh.append(item)
    batch = _Batch(keys, rules, source)
    position = 0
    while position < len(fresh):
        with transaction.atomic():
            batch.load(fresh[position:])
            pending: list[tuple[EventItem, Customer, bool]] = []
            slow: EventItem | None = None
            for item in fresh[position:]:
                owners = batch.owners(item)
                if len(owners) > 1:
                    slow = item
                    break
                customer, is_new = batch.add(item, next(iter(owners.values()), None))
                pending.append((item, customer, is_new))
            try:
                with transaction.atomic():
                    batch.flush()
            except IntegrityError:
                # Another writer took one of our new identities (or event ids) meanwhile.
                for item, _customer, _is_new in pending:
                    results[item.index] = _record_alone(item, keys=keys, rules=rules, source=source)
            else:
                for (event, customer, item, _identity), (_item, _c, is_new) in zip(
                    batch.events, pending, strict=True
                ):
                    results[item.index] = ItemResult(
                        index=item.index,
                        status=CREATED,
                        event_id=str(event.public_id),
                        customer_id=str(customer.public_id),
                        customer_created=is_new,
                    )
            batch.reset()
            position += len(pending)
            if slow is not None:
                results[slow.index] = _record_alone(slow, keys=keys, rules=rules, source=source)
                position += 1
    return BatchReport(results=[results[index] for index in range(len(items))])
