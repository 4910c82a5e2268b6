"""Background tasks of the channels part: each takes ids and calls a service."""

from collections import Counter
from typing import Any

from django.tasks import task

from huike.channels import processing, sending
from huike.core.tasks import retrying


@task
def process_delivery(delivery_id: int) -> dict[str, Any]:
    return processing.delivery_process(delivery_id).as_json()


@task
def process_deliveries(delivery_ids: list[int]) -> dict[str, int]:
    """Deliveries stored in one intake commit, processed in the order they arrived, each as
    process_delivery would: one that fails is counted on it and left to the sweep, and the
    rest go on. How many ended how."""
    outcome: Counter[str] = Counter()
    for delivery_id in delivery_ids:
        try:
            outcome[processing.delivery_process(delivery_id).status] += 1
        except Exception:
            outcome["error"] += 1
    return dict(outcome)


@task
@retrying(max_attempts=sending.MAX_ATTEMPTS + 1)
def send_delivery(delivery_id: int) -> dict[str, Any]:
    return sending.delivery_send(delivery_id)


@task
def sweep_inbound() -> int:
    """The safety net for deliveries whose processing task was lost."""
    return processing.deliveries_sweep()


@task
def poll_channels() -> int:
    """Read the channels we poll (IMAP mailboxes); how many new deliveries were stored."""
    from huike.channels.polling import channels_poll

    return channels_poll()


@task
def purge_inbound() -> int:
    """Processed deliveries past HUIKE_INBOUND_RETENTION_DAYS."""
    return processing.deliveries_purge()
