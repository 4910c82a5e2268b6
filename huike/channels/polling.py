"""Polling the platforms that do not call us (IMAP): each active channel whose provider polls
is read from its stored cursor; the deliveries are stored (deduplicated like webhooks) and the
cursor advanced in one transaction, so a crash re-reads rather than loses."""

import logging

from django.db import transaction
from django.utils import timezone

from huike.channels.config import channel_context
from huike.channels.intake import deliveries_store
from huike.channels.models import Channel
from huike.channels.registry import providers
from huike.core.tasks import RetryableError

logger = logging.getLogger("huike.channels.polling")


def channel_poll(channel: Channel) -> int:
    from huike.channels.registry import provider_for

    provider = provider_for(channel.kind)
    result = provider.poll(channel_context(channel), channel.poll_cursor)
    with transaction.atomic():
        stored = deliveries_store(channel, result.deliveries)
        Channel.objects.filter(pk=channel.pk).update(
            poll_cursor=result.cursor[:200], polled_at=timezone.now()
        )
    return len(stored)


def channels_poll() -> int:
    kinds = [provider.kind for provider in providers() if provider.polls]
    total = 0
    for channel in Channel.objects.filter(kind__in=kinds, is_active=True).order_by("pk"):
        try:
            total += channel_poll(channel)
        except RetryableError as error:
            logger.warning("polling channel %s failed: %s", channel.public_id, error)
        except Exception:
            logger.exception("polling channel %s failed", channel.public_id)
    return total
