"""Sending: every outbound message goes through the outbound log.

`message_send` checks the platform's rules first (a send they forbid is refused with the
reason and never attempted), records the message as queued and enqueues the send for when the
transaction commits. The task (`delivery_send`) calls the provider: a retryable failure (a
timeout, a 5xx, a rate limit) is tried again with backoff up to MAX_ATTEMPTS, a permanent one
marks the message failed with the platform's reason for the agent to see. Receipts move it on
to delivered and read (processing.receipt_apply).

A crash after the platform accepted a message but before we recorded it sends it again on the
retry: platforms offer no idempotency key for these APIs, so delivery is at least once.
"""

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import get_language

from huike.channels.base import (
    Attachment,
    InboundEvent,
    OutboundMessage,
    SendContext,
    SendRefused,
)
from huike.channels.config import channel_context, channel_provider
from huike.channels.models import Channel, MessageTemplate, OutboundDelivery
from huike.channels.processing import OUTBOX_DELIVERY_UPDATED
from huike.channels.templates_render import TemplateValues, given_name, template_render
from huike.core.crypto import workspace_keys
from huike.core.outbox import outbox_publish
from huike.core.tasks import PermanentError, RetryableError, enqueue_on_commit, enqueue_retry
from huike.customers.identities import identity_value
from huike.customers.models import ConsentPurpose, ConsentRecord, Customer, Identity
from huike.customers.selectors import consent_allows

logger = logging.getLogger("huike.channels.sending")

MAX_ATTEMPTS = 6


@dataclass(frozen=True)
class OutboundContent:
    text: str = ""
    html: str = ""
    subject: str = ""
    attachments: tuple[Attachment, ...] = ()
    template: str = ""
    template_params: dict[str, str] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "html": self.html,
            "subject": self.subject,
            "attachments": [attachment.__dict__ for attachment in self.attachments],
            "template": self.template,
            "template_params": dict(self.template_params),
            "properties": dict(self.properties),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "OutboundContent":
        return cls(
            text=data.get("text", ""),
            html=data.get("html", ""),
            subject=data.get("subject", ""),
            attachments=tuple(Attachment(**item) for item in data.get("attachments", ())),
            template=data.get("template", ""),
            template_params=dict(data.get("template_params", {})),
            properties=dict(data.get("properties", {})),
        )


# --- templates -------------------------------------------------------------------------------
def template_values(
    *, customer: Customer | None, channel: Channel | None, agent_name: str = ""
) -> TemplateValues:
    name = customer.name if customer else ""
    workspace_name = ""
    if channel is not None:
        workspace_name = channel.workspace.name
    elif customer is not None:
        workspace_name = customer.workspace.name
    return TemplateValues(
        values={
            "customer.name": name,
            "customer.first_name": given_name(name),
            "agent.name": agent_name,
            "workspace.name": workspace_name,
            "channel.name": channel.name if channel else "",
        },
        custom_fields=(customer.custom_fields or {}) if customer else {},
    )


def template_text(template: MessageTemplate, locale: str = "") -> str:
    """The template's text in `locale` (the customer's, else the current language), falling
    back to the other language when that version is empty."""
    locale = (locale or get_language() or "zh-hans").lower()
    chinese_first = locale.startswith("zh")
    first, second = (
        (template.body_zh_hans, template.body_en)
        if chinese_first
        else (template.body_en, template.body_zh_hans)
    )
    return first or second


def template_for(channel: Channel, purpose: str) -> MessageTemplate | None:
    """The active template of `purpose` for the channel's kind, a kind-specific one first."""
    candidates = MessageTemplate.objects.filter(
        workspace_id=channel.workspace_id,
        purpose=purpose,
        is_active=True,
        channel_kind__in=[channel.kind, ""],
    ).order_by("-channel_kind", "pk")
    return candidates.first()


# --- rules -----------------------------------------------------------------------------------
def _withdrawn(customer: Customer, channel_kind: str) -> bool:
    """The customer's latest word for this channel (or every channel) is a withdrawal: a STOP
    reply to an SMS stops every message to them there, not only campaigns."""
    latest = (
        ConsentRecord.objects.filter(
            workspace_id=customer.workspace_id,
            customer=customer,
            purpose=ConsentPurpose.MARKETING,
            channel__in=[channel_kind, ConsentRecord.ANY_CHANNEL],
        )
        .order_by("-recorded_at", "-pk")
        .values_list("status", flat=True)
        .first()
    )
    return latest == ConsentRecord.Status.WITHDRAWN


def send_context(
    *,
    channel: Channel,
    customer: Customer | None,
    identity: Identity | None,
    is_bulk: bool,
    last_inbound_at: dt.datetime | None,
    now: dt.datetime | None = None,
) -> SendContext:
    now = now or timezone.now()
    sent_this_month = sent_today = 0
    opted_out = False
    if customer is not None:
        if is_bulk:
            opted_out = not consent_allows(customer, ConsentPurpose.MARKETING, channel.kind)
        elif channel.kind == "sms":
            opted_out = _withdrawn(customer, channel.kind)
    if is_bulk and identity is not None:
        local = timezone.localtime(now)
        month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        bulk = OutboundDelivery.objects.filter(
            workspace_id=channel.workspace_id,
            channel=channel,
            identity=identity,
            is_bulk=True,
            created_at__gte=month_start,
        ).exclude(status=OutboundDelivery.Status.FAILED)
        sent_this_month = bulk.count()
        sent_today = bulk.filter(created_at__gte=day_start).count()
    return SendContext(
        now=now,
        last_inbound_at=last_inbound_at,
        sent_this_month=sent_this_month,
        sent_today=sent_today,
        is_bulk=is_bulk,
        opted_out=opted_out,
    )


def _outbound_message(to: str, content: OutboundContent, reference: str) -> OutboundMessage:
    return OutboundMessage(
        to=to,
        text=content.text,
        html=content.html,
        subject=content.subject,
        attachments=content.attachments,
        template=content.template,
        template_params=content.template_params,
        reference=reference,
        properties=content.properties,
    )


def message_send(
    *,
    channel: Channel,
    customer: Customer | None,
    identity: Identity,
    content: OutboundContent,
    purpose: str = "reply",
    is_bulk: bool = False,
    created_by_id: int | None = None,
    last_inbound_at: dt.datetime | None = None,
) -> OutboundDelivery:
    """Queue one message to `identity` on `channel`; raises SendRefused when the platform's
    rules (or the customer's opt-out) forbid it now."""
    if not channel.is_active:
        from django.utils.translation import gettext as _

        raise SendRefused(_("This channel is disabled."))
    provider = channel_provider(channel)
    context = channel_context(channel)
    rules = send_context(
        channel=channel,
        customer=customer,
        identity=identity,
        is_bulk=is_bulk,
        last_inbound_at=last_inbound_at,
    )
    to = identity_value(identity, workspace_keys(channel.workspace_id))
    provider.check_send(context, _outbound_message(to, content, ""), rules)
    with transaction.atomic():
        delivery = OutboundDelivery.objects.create(
            workspace_id=channel.workspace_id,
            channel=channel,
            customer=customer,
            identity=identity,
            content=content.as_json(),
            purpose=purpose[:40],
            is_bulk=is_bulk,
            created_by_id=created_by_id,
        )
        if provider.sends_in_process:
            delivery_id = delivery.pk
            transaction.on_commit(lambda: _send_now(delivery_id))
        else:
            from huike.channels.tasks import send_delivery

            enqueue_on_commit(send_delivery, delivery.pk)
    return delivery


def _send_now(delivery_id: int) -> None:
    """The first attempt at a message of a provider that sends in process, right after the
    commit that queued it; a retry, or anything unexpected, goes to the send task."""
    from huike.channels.tasks import send_delivery

    try:
        delivery_send(delivery_id)
    except RetryableError:
        # Attempt 1 is recorded on the delivery: the task makes attempt 2 after the backoff.
        enqueue_retry(send_delivery, args=[delivery_id], kwargs={}, attempt=1)
    except Exception:
        logger.exception("Sending %s at once failed; the send task tries again", delivery_id)
        send_delivery.enqueue(delivery_id)


def welcome_send(channel: Channel, customer: Customer, event: InboundEvent) -> None:
    """The welcome message for a contact just added (WeCom's WelcomeCode lives 20 s: this is
    queued in the processing transaction and sent by the next free worker)."""
    template = template_for(channel, MessageTemplate.Purpose.WELCOME)
    if template is None:
        return
    from huike.customers.identities import identities_find, identity_key

    key = identity_key(event.sender.identity_kind, event.sender.identity_value)
    identity = identities_find(keys=workspace_keys(channel.workspace_id), identity_keys=[key]).get(
        key.slot
    )
    if identity is None:
        return
    text = template_render(
        template_text(template, customer.locale),
        template_values(customer=customer, channel=channel),
    )
    try:
        message_send(
            channel=channel,
            customer=customer,
            identity=identity,
            content=OutboundContent(
                text=text,
                template=template.platform_template,
                properties={"welcome_code": event.welcome_code},
            ),
            purpose="welcome",
        )
    except SendRefused as refused:
        logger.info("welcome message refused: %s", refused)


# --- the send itself -------------------------------------------------------------------------
def _publish(delivery: OutboundDelivery) -> None:
    outbox_publish(
        workspace_id=delivery.workspace_id,
        kind=OUTBOX_DELIVERY_UPDATED,
        payload={"delivery_ids": [delivery.pk], "status": delivery.status},
    )


def _fail(delivery: OutboundDelivery, reason: str) -> None:
    delivery.status = OutboundDelivery.Status.FAILED
    delivery.error = reason[:1000]
    delivery.failed_at = timezone.now()
    delivery.next_attempt_at = None
    delivery.save(update_fields=["status", "error", "failed_at", "next_attempt_at", "attempts"])
    _publish(delivery)


def delivery_send(delivery_id: int) -> dict[str, Any]:
    """One attempt at sending a queued message. Raises RetryableError (for `retrying` to
    reschedule) while attempts remain; otherwise the message ends sent or failed."""
    with transaction.atomic():
        delivery = (
            OutboundDelivery.objects.select_for_update(of=("self",))
            .select_related("channel", "identity")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != OutboundDelivery.Status.QUEUED:
            return {"status": "skipped"}
        delivery.attempts += 1
        channel = delivery.channel
        if delivery.identity is None:
            from django.utils.translation import gettext as _

            _fail(delivery, _("The recipient's address was removed before it could be sent."))
            return {"status": "failed"}
        to = identity_value(delivery.identity, workspace_keys(delivery.workspace_id))
        content = OutboundContent.from_json(delivery.content)
        message = _outbound_message(to, content, str(delivery.public_id))
        try:
            result = channel_provider(channel).send(channel_context(channel), message)
        except RetryableError as error:
            if delivery.attempts >= MAX_ATTEMPTS:
                _fail(delivery, str(error))
                return {"status": "failed", "error": str(error)}
            delivery.error = str(error)[:1000]
            delivery.save(update_fields=["attempts", "error"])
            retry = error
        except (PermanentError, ValueError) as error:
            _fail(delivery, str(error))
            return {"status": "failed", "error": str(error)}
        else:
            delivery.status = result.status
            delivery.provider_message_id = result.provider_message_id[:200]
            delivery.sent_at = timezone.now()
            if result.status == "delivered":
                delivery.delivered_at = delivery.sent_at
            delivery.error = ""
            delivery.save(
                update_fields=[
                    "status",
                    "provider_message_id",
                    "sent_at",
                    "delivered_at",
                    "error",
                    "attempts",
                ]
            )
            _publish(delivery)
            return {"status": delivery.status}
    # After the commit, so the attempt and its error are recorded: `retrying` reschedules.
    raise retry
