"""Processing the inbound log, from a worker: each stored delivery is parsed by its provider
into typed items; each message or event is resolved to one customer through identity
resolution and recorded as an Event on their timeline, and the parts above (the inbox) get it
through their registered sink, all in one transaction with the delivery's new status. Delivery
receipts update the outbound log.

A delivery is claimed by its status (SKIP LOCKED on PostgreSQL), so two workers never process
it twice; an item whose event is already recorded (the same email by IMAP and by webhook) is
skipped. A worker killed mid-way rolls back: the delivery stays pending and the sweep
(`channels.sweep_inbound`, every minute) processes it again.
"""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from huike.channels.base import (
    EVENT_OPTED_IN,
    EVENT_OPTED_OUT,
    DeliveryReceipt,
    InboundEvent,
    InboundMessage,
    Sender,
    StoredDelivery,
)
from huike.channels.config import channel_context, channel_provider
from huike.channels.intake import BODY_ENCODING
from huike.channels.models import Channel, ChannelStaff, InboundDelivery, OutboundDelivery
from huike.core.crypto import encrypted_column, workspace_keys
from huike.core.errors import InvalidInputError
from huike.core.outbox import outbox_publish
from huike.customers.events import event_record
from huike.customers.identities import IdentityKey, identities_find, identity_key
from huike.customers.models import ConsentPurpose, ConsentRecord, Customer, Event, Identity
from huike.customers.resolution import NewCustomer, identity_resolve
from huike.customers.services import consent_record

logger = logging.getLogger("huike.channels.processing")

MAX_ATTEMPTS = 5
# The sweep leaves fresh deliveries to the task enqueued for them.
SWEEP_AFTER = dt.timedelta(seconds=30)
SWEEP_BATCH = 500
EVENT_MESSAGE_RECEIVED = "message.received"
OUTBOX_DELIVERY_UPDATED = "channel.delivery.updated"
PREVIEW_LENGTH = 140


@dataclass(frozen=True)
class Inbound:
    """What a sink receives for one message or event."""

    channel: Channel
    delivery: InboundDelivery
    item: InboundMessage | InboundEvent
    customer: Customer
    # The customer's identity replies go to (the sender's address on this channel).
    identity: Identity | None
    event: Event
    is_new_customer: bool


InboundSink = Callable[[Inbound], None]
_SINKS: dict[str, InboundSink] = {}


def register_inbound_sink(name: str, sink: InboundSink) -> None:
    """A part above channels (the inbox) takes every inbound message and event, inside the
    processing transaction. Call from AppConfig.ready()."""
    _SINKS[name] = sink


def _sinks() -> list[InboundSink]:
    return [_SINKS[name] for name in sorted(_SINKS)]


@dataclass
class ProcessResult:
    status: str
    items: int = 0
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "items": self.items, "error": self.error}


def _claim(delivery_id: int) -> InboundDelivery | None:
    pending = InboundDelivery.objects.filter(
        pk=delivery_id, status=InboundDelivery.Status.PENDING
    ).select_related("channel")
    if connection.features.has_select_for_update_skip_locked:
        return pending.select_for_update(skip_locked=True, of=("self",)).first()
    return pending.first()


def _stored(delivery: InboundDelivery) -> StoredDelivery:
    column = encrypted_column(InboundDelivery, "body_token")
    text = workspace_keys(delivery.workspace_id).decrypt(
        table=column.table,
        column=column.column,
        row_key=str(delivery.public_id),
        token=delivery.body_token,
    )
    meta = dict(delivery.meta)
    encoding = meta.pop(BODY_ENCODING, "utf-8")
    return StoredDelivery(
        id=delivery.pk,
        dedupe_key=delivery.dedupe_key,
        body=text.encode(encoding),
        content_type=delivery.content_type,
        meta=meta,
        received_at=delivery.received_at,
    )


def delivery_process(delivery_id: int) -> ProcessResult:
    """Process one delivery if it is still pending; see the module's docstring."""
    try:
        with transaction.atomic():
            delivery = _claim(delivery_id)
            if delivery is None:
                return ProcessResult("skipped")
            channel = delivery.channel
            provider = channel_provider(channel)
            context = channel_context(channel)
            try:
                items = provider.parse(context, _stored(delivery))
            except ValueError as error:
                delivery.status = InboundDelivery.Status.FAILED
                delivery.error = str(error)[:1000]
                delivery.attempts += 1
                delivery.processed_at = timezone.now()
                delivery.save(update_fields=["status", "error", "attempts", "processed_at"])
                return ProcessResult("failed", error=delivery.error)
            handled = 0
            notes: list[str] = []
            for item in items:
                try:
                    if _handle(channel, delivery, item):
                        handled += 1
                except _Unresolvable as skipped:
                    notes.append(str(skipped))
            delivery.status = InboundDelivery.Status.PROCESSED
            delivery.items = handled
            delivery.attempts += 1
            delivery.error = "; ".join(notes)[:1000]
            delivery.processed_at = timezone.now()
            delivery.save(update_fields=["status", "items", "attempts", "error", "processed_at"])
            Channel.objects.filter(pk=channel.pk).update(last_received_at=delivery.received_at)
            return ProcessResult("processed", items=handled)
    except Exception as error:
        _record_failure(delivery_id, error)
        raise


def _record_failure(delivery_id: int, error: Exception) -> None:
    """Count the failed attempt; after MAX_ATTEMPTS the delivery is failed for a person to
    look at, otherwise it stays pending for the sweep."""
    logger.exception("inbound delivery %s failed", delivery_id)
    with transaction.atomic():
        delivery = InboundDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or delivery.status != InboundDelivery.Status.PENDING:
            return
        delivery.attempts += 1
        delivery.error = f"{type(error).__name__}: {error}"[:1000]
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = InboundDelivery.Status.FAILED
            delivery.processed_at = timezone.now()
        delivery.save(update_fields=["attempts", "error", "status", "processed_at"])


def deliveries_sweep(*, now: dt.datetime | None = None) -> int:
    """Process pending deliveries whose task was lost (a worker killed between intake and
    processing); how many were processed."""
    now = now or timezone.now()
    due = list(
        InboundDelivery.objects.filter(
            status=InboundDelivery.Status.PENDING,
            received_at__lte=now - SWEEP_AFTER,
            attempts__lt=MAX_ATTEMPTS,
        )
        .order_by("received_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    done = 0
    for delivery_id in due:
        try:
            if delivery_process(delivery_id).status == "processed":
                done += 1
        except Exception:  # noqa: S112 — counted on the delivery; the next sweep tries again
            continue
    return done


# --- items ---------------------------------------------------------------------------------
class _Unresolvable(Exception):
    """An item whose sender has no identity Huike may attach (only a junk number like
    13800000000): recorded on the delivery, not retried, and no customer is made up."""


def _extra_keys(pairs: tuple[tuple[str, str], ...]) -> list[IdentityKey]:
    extra: list[IdentityKey] = []
    for kind, value in pairs:
        try:
            extra.append(identity_key(kind, value))
        except InvalidInputError:
            # A malformed extra key (an odd phone) must not lose the message.
            logger.info("unusable identity %s from a channel skipped", kind)
    return extra


def _keys(sender: Sender) -> tuple[IdentityKey, list[IdentityKey], list[IdentityKey]]:
    """The sender's address, the further keys the platform vouches for, and the ones the
    person typed (see Sender)."""
    try:
        primary = identity_key(sender.identity_kind, sender.identity_value)
    except InvalidInputError as error:
        raise _Unresolvable(f"no usable identity ({error.detail})") from None
    return primary, _extra_keys(sender.other_identities), _extra_keys(sender.typed_identities)


def _event_external_id(channel: Channel, external_id: str) -> str:
    return f"ch:{channel.public_id.hex}:{external_id}"[:255]


def _handle(
    channel: Channel, delivery: InboundDelivery, item: InboundMessage | InboundEvent | Any
) -> bool:
    if isinstance(item, DeliveryReceipt):
        return receipt_apply(channel, item)
    if not isinstance(item, InboundMessage | InboundEvent):
        raise TypeError(f"unknown inbound item {type(item).__name__}")
    external_id = _event_external_id(channel, item.external_id)
    if Event.objects.filter(workspace_id=channel.workspace_id, external_id=external_id).exists():
        return False
    primary, others, typed = _keys(item.sender)
    keys = workspace_keys(channel.workspace_id)
    at = item.sent_at if isinstance(item, InboundMessage) else item.occurred_at
    try:
        resolution = identity_resolve(
            workspace_id=channel.workspace_id,
            identity_keys=[primary, *others],
            unverified_keys=typed,
            source=f"channel:{channel.kind}",
            seen_at=at,
            new_customer=NewCustomer(
                name=item.sender.name[:200],
                source_channel=channel.kind,
                locale=item.sender.locale[:16],
            ),
            keys=keys,
        )
    except InvalidInputError as error:
        raise _Unresolvable(f"{item.external_id}: no usable identity ({error.detail})") from None
    customer = resolution.customer
    identity = identities_find(keys=keys, identity_keys=[primary]).get(primary.slot)
    if identity is not None and identity.customer_id != customer.pk:
        # The address was skipped (a cap) or belongs to someone else: replies cannot use it.
        identity = None
    if isinstance(item, InboundMessage):
        kind, properties = EVENT_MESSAGE_RECEIVED, _message_properties(channel, item)
    else:
        kind, properties = item.kind, {**item.properties, "channel_id": str(channel.public_id)}
        _apply_event(channel, customer, item)
    event = event_record(
        customer=customer,
        kind=kind,
        occurred_at=at,
        channel=channel.kind,
        properties=properties,
        identity=identity or resolution.identity,
        external_id=external_id,
        source=f"channel:{channel.kind}",
    )
    inbound = Inbound(
        channel=channel,
        delivery=delivery,
        item=item,
        customer=customer,
        identity=identity,
        event=event,
        is_new_customer=resolution.is_new,
    )
    for sink in _sinks():
        sink(inbound)
    return True


def _message_properties(channel: Channel, message: InboundMessage) -> dict[str, Any]:
    preview = message.text or message.subject or message.content_type
    return {
        "channel_id": str(channel.public_id),
        "channel_name": channel.name,
        "content_type": message.content_type,
        "preview": preview[:PREVIEW_LENGTH],
    }


def _apply_event(channel: Channel, customer: Customer, event: InboundEvent) -> None:
    if event.kind in (EVENT_OPTED_OUT, EVENT_OPTED_IN):
        consent_record(
            actor=None,
            customer=customer,
            purpose=ConsentPurpose.MARKETING,
            status=(
                ConsentRecord.Status.WITHDRAWN
                if event.kind == EVENT_OPTED_OUT
                else ConsentRecord.Status.GRANTED
            ),
            channel=channel.kind,
            source=f"channel:{channel.kind}",
            evidence=_("Reply on %(channel)s: %(text)s")
            % {"channel": channel.name, "text": str(event.properties.get("text", ""))[:200]},
            recorded_at=event.occurred_at,
        )
    if event.staff_external_id and customer.owner_id is None:
        staff = ChannelStaff.objects.filter(
            workspace_id=channel.workspace_id,
            channel=channel,
            external_id=event.staff_external_id,
        ).first()
        if staff is not None:
            Customer.objects.filter(pk=customer.pk, owner__isnull=True).update(
                owner=staff.membership_id, updated_at=timezone.now()
            )
            customer.owner_id = staff.membership_id
    if event.welcome_code:
        # Imported here: sending imports this module's neighbours, not the other way round.
        from huike.channels.sending import welcome_send

        welcome_send(channel, customer, event)


def receipt_apply(channel: Channel, receipt: DeliveryReceipt) -> bool:
    """Move the outbound message the receipt names forward (never back); False when we have
    no such message or it is further along already."""
    found = (
        OutboundDelivery.objects.select_for_update()
        .filter(
            workspace_id=channel.workspace_id,
            channel=channel,
            provider_message_id=receipt.provider_message_id,
        )
        .first()
    )
    if found is None:
        return False
    rank = OutboundDelivery.STATUS_RANK
    if receipt.status != "failed" and rank[receipt.status] <= rank.get(found.status, 0):
        return False
    if receipt.status == "failed" and found.status == OutboundDelivery.Status.FAILED:
        return False
    found.status = receipt.status
    stamp = {"sent": "sent_at", "delivered": "delivered_at", "read": "read_at"}.get(
        receipt.status, "failed_at"
    )
    setattr(found, stamp, receipt.at)
    updated = ["status", stamp]
    if receipt.status == "read" and found.delivered_at is None:
        found.delivered_at = receipt.at
        updated.append("delivered_at")
    if receipt.error:
        found.error = receipt.error[:1000]
        updated.append("error")
    found.save(update_fields=updated)
    outbox_publish(
        workspace_id=channel.workspace_id,
        kind=OUTBOX_DELIVERY_UPDATED,
        payload={"delivery_ids": [found.pk], "status": found.status},
    )
    return True


def deliveries_purge(*, now: dt.datetime | None = None) -> int:
    """Delete processed and failed deliveries past the retention period (their bodies hold
    people's messages; what the messages say lives on in the inbox and the timeline). Pending
    ones are never purged."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.HUIKE_INBOUND_RETENTION_DAYS)
    total = 0
    while True:
        batch = list(
            InboundDelivery.objects.filter(received_at__lt=cutoff)
            .exclude(status=InboundDelivery.Status.PENDING)
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        if not batch:
            return total
        total += InboundDelivery.objects.filter(pk__in=batch).delete()[0]


def pending_count(channel: Channel) -> int:
    return InboundDelivery.objects.filter(
        Q(status=InboundDelivery.Status.PENDING), workspace_id=channel.workspace_id, channel=channel
    ).count()
