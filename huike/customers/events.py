"""Recording timeline events: one at a time for the changes services make, and the outbox
message that hands them to the parts that react (inbox, automation, scoring, loyalty…).

Subscribers receive `event.<kind>` (e.g. `event.order.paid`, subscribe to `event.*` for all)
with `{"event_ids": [...], "customer_ids": [...]}`: database ids, one message per kind per
unit of work, so a batch of 1,000 page views is one outbox row rather than 1,000.
"""

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huike.core.errors import InvalidInputError
from huike.core.outbox import outbox_publish
from huike.customers.models import Customer, Event, Identity
from huike.customers.profile import DERIVED_FIELDS, profile_apply

# What people read on the timeline; the dotted kind stays the stable, filterable name. Later
# parts (channels, sales, loyalty…) add theirs with `register_event_kind_labels` in ready().
EVENT_KIND_LABELS: dict[str, Promise | str] = {
    "customer.created": gettext_lazy("Customer created"),
    "customer.updated": gettext_lazy("Customer changed"),
    "customer.imported": gettext_lazy("Imported"),
    "tag.added": gettext_lazy("Tagged"),
    "tag.removed": gettext_lazy("Tag removed"),
    "consent.granted": gettext_lazy("Consent granted"),
    "consent.withdrawn": gettext_lazy("Consent withdrawn"),
    "page.viewed": gettext_lazy("Viewed a page"),
    "form.submitted": gettext_lazy("Submitted a form"),
    "message.received": gettext_lazy("Sent us a message"),
    "message.sent": gettext_lazy("We sent a message"),
    "email.opened": gettext_lazy("Opened an email"),
    "email.clicked": gettext_lazy("Clicked in an email"),
    "order.paid": gettext_lazy("Paid an order"),
}


def register_event_kind_labels(labels: dict[str, Promise | str]) -> None:
    EVENT_KIND_LABELS.update(labels)


def event_kind_label(kind: str) -> str:
    """The kind in the reader's language; kinds nobody labelled are shown as they are."""
    return str(EVENT_KIND_LABELS.get(kind, kind))


EVENT_KIND = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
EVENT_KIND_MAX_LENGTH = 90  # leaves room for the "event." prefix of the outbox kind (100)
OUTBOX_PREFIX = "event."


def event_kind_clean(kind: object) -> str:
    if (
        not isinstance(kind, str)
        or not EVENT_KIND.fullmatch(kind)
        or len(kind) > EVENT_KIND_MAX_LENGTH
    ):
        raise InvalidInputError(
            _("An event kind is dotted lower-case, like page.viewed or order.paid."), field="kind"
        )
    return kind


def events_publish(workspace_id: int, events: Sequence[Event]) -> None:
    """One outbox message per kind for `events` (saved, in the caller's transaction)."""
    by_kind: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_kind[event.kind].append(event)
    for kind, group in sorted(by_kind.items()):
        outbox_publish(
            workspace_id=workspace_id,
            kind=OUTBOX_PREFIX + kind,
            payload={
                "event_ids": [event.pk for event in group],
                "customer_ids": sorted({event.customer_id for event in group}),
            },
        )


def event_record(
    *,
    customer: Customer,
    kind: str,
    occurred_at: dt.datetime | None = None,
    channel: str = "",
    properties: dict[str, Any] | None = None,
    identity: Identity | None = None,
    external_id: str | None = None,
    source: str = "",
) -> Event:
    """Append one event to the customer's timeline, update the derived profile and publish it,
    in the caller's transaction (or its own)."""
    kind = event_kind_clean(kind)
    with transaction.atomic():
        # The derived profile is added to: read it under the row lock, not from an object
        # the caller may have loaded before another writer changed it.
        current = (
            Customer.objects.select_for_update()
            .filter(pk=customer.pk)
            .values(*DERIVED_FIELDS, "last_seen_at")
            .get()
        )
        for name, value in current.items():
            setattr(customer, name, value)
        event = Event.objects.create(
            workspace_id=customer.workspace_id,
            customer=customer,
            identity=identity,
            kind=kind,
            occurred_at=occurred_at or timezone.now(),
            channel=channel[:40],
            properties=properties or {},
            external_id=external_id,
            source=source[:40],
        )
        if profile_apply(customer, [event]):
            customer.save(update_fields=[*DERIVED_FIELDS, "last_seen_at", "updated_at"])
        events_publish(customer.workspace_id, [event])
    return event
