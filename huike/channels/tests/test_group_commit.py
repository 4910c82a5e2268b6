"""Intake's group commit: the deliveries of concurrent requests share transactions, each
request learns exactly which of its deliveries were new, a delivery that two requests carry
at once is stored and queued once, and a request the database refuses fails alone."""
# The WhatsApp channel fixture comes from test_asgi; a test naming it as its argument is what
# pytest wants: F401/F811 do not apply.
# ruff: noqa: F401, F811

import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from huike.channels.base import IncomingDelivery, WebhookRequest
from huike.channels.config import channel_context
from huike.channels.intake import GroupCommit, deliveries_store
from huike.channels.models import Channel, InboundDelivery
from huike.channels.registry import provider_for
from huike.channels.tasks import process_deliveries
from huike.channels.tests.test_asgi import _body, channel
from huike.core.crypto import workspace_keys
from tests.concurrency import run_collecting

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _data_keys_made(channel: Channel) -> None:
    # The workspace's data keys exist already, as they do in any workspace that has received
    # a message: the first processing creating them while the other threads read them would
    # meet SQLite's shared-cache table lock, not the intake under test.
    keys = workspace_keys(channel.workspace_id)
    keys.encrypt(table="warm", column="up", row_key="0", plaintext="x")
    keys.blind_index(kind="email", value="warm@up.example")


@pytest.fixture(params=[1, 2], ids=["one writer", "two writers"])
def group(request: pytest.FixtureRequest) -> Iterator[GroupCommit]:
    if request.param > 1 and connection.vendor == "sqlite":
        pytest.skip("SQLite takes one writer at a time: the intake runs one there")
    writers = GroupCommit(max_batch=5, writers=request.param)
    yield writers
    writers.stop()


def _delivery(key: str, **meta: Any) -> IncomingDelivery:
    """A WhatsApp text message as the channel's provider cuts it out of a webhook."""
    channel = Channel.objects.get(kind="whatsapp")
    request = WebhookRequest(
        method="POST", query={}, headers={}, body=_body(key), received_at=timezone.now()
    )
    [delivery] = provider_for("whatsapp").deliveries(channel_context(channel), request)
    return dataclasses.replace(delivery, meta={**delivery.meta, **meta})


def _processed() -> int:
    """Deliveries their processing task ran on (the tests' task backend runs a task at
    once when it is enqueued, after the commit)."""
    return InboundDelivery.objects.exclude(status=InboundDelivery.Status.PENDING).count()


def test_concurrent_requests_each_get_their_new_deliveries(
    channel: Channel, group: GroupCommit
) -> None:
    # given: 12 requests at once, two of them carrying the same message as another (the
    # writer takes at most 5 requests a transaction)
    keys = [f"m{number}" for number in range(10)] + ["m3", "m7"]

    deliveries = {key: _delivery(key) for key in set(keys)}

    def request(key: str) -> tuple[str, list[int]]:
        return key, group.store(channel, [deliveries[key]])

    # when
    results, errors = run_collecting(*(lambda key=key: request(key) for key in keys))
    # then
    assert errors == []
    stored = dict(InboundDelivery.objects.filter(channel=channel).values_list("dedupe_key", "pk"))
    assert sorted(stored) == sorted(set(keys))
    new = [ids for _key, ids in results if ids]
    assert sorted(pk for ids in new for pk in ids) == sorted(stored.values())
    assert len(new) == 10  # the two repeats found their message stored
    assert _processed() == 10


def test_a_request_the_database_refuses_fails_alone(channel: Channel, group: GroupCommit) -> None:
    # given: a request whose meta PostgreSQL cannot store (a NUL character in JSON) among
    # good ones; SQLite stores it, so there it simply succeeds
    barrier = threading.Barrier(4)
    # Cut out before the threads start: reading the channel while the writer writes would
    # meet SQLite's shared-cache table lock, not the group commit under test.
    deliveries = {
        "good-1": _delivery("good-1"),
        "bad": _delivery("bad", note="\x00"),
        "good-2": _delivery("good-2"),
        "good-3": _delivery("good-3"),
    }

    def request(key: str) -> list[int]:
        barrier.wait(10)
        return group.store(channel, [deliveries[key]])

    # when
    results, errors = run_collecting(*(lambda key=key: request(key) for key in deliveries))
    # then
    stored = set(
        InboundDelivery.objects.filter(channel=channel).values_list("dedupe_key", flat=True)
    )
    assert {"good-1", "good-2", "good-3"} <= stored, errors
    assert len(results) + len(errors) == 4
    if connection.vendor == "postgresql":
        assert stored == {"good-1", "good-2", "good-3"}
        assert len(errors) == 1
    assert _processed() == len(stored)


def test_a_lone_request_is_written_at_once(channel: Channel, group: GroupCommit) -> None:
    # when
    ids = group.store(channel, [_delivery("a"), _delivery("b"), _delivery("a")])
    # then: one transaction, the repeat within the request dropped
    assert len(ids) == 2
    assert set(InboundDelivery.objects.values_list("pk", flat=True)) == set(ids)
    assert _processed() == 2


DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def test_the_queue_in_the_database_gets_one_task_per_commit_inside_it(
    channel: Channel, group: GroupCommit
) -> None:
    # given: the database queue, and 8 requests at once
    with override_settings(TASKS=DATABASE_QUEUE):
        # when
        results, errors = run_collecting(
            *(lambda key=key: group.store(channel, [_delivery(key)]) for key in "abcdefgh")
        )
        # then: every new delivery is in exactly one queued task, committed with it
        assert errors == []
        queued = [
            result.args_kwargs["args"][0]
            for result in DBTaskResult.objects.filter(task_path__startswith="huike.channels.")
        ]
    ids = [
        delivery_id
        for item in queued
        for delivery_id in ([item] if isinstance(item, int) else item)
    ]
    assert sorted(ids) == sorted(InboundDelivery.objects.values_list("pk", flat=True))
    assert len(ids) == 8
    assert sorted(pk for result in results for pk in result) == sorted(ids)


def test_deliveries_processed_together_fail_one_by_one(channel: Channel) -> None:
    # given: three stored deliveries, the middle one unreadable
    good = [_delivery("ok-1"), _delivery("ok-2")]
    ids = deliveries_store(channel, [good[0]], enqueue=False)
    ids += deliveries_store(channel, [IncomingDelivery(dedupe_key="bad", body=b"{")], enqueue=False)
    ids += deliveries_store(channel, [good[1]], enqueue=False)
    # when
    outcome = process_deliveries.call(ids)
    # then
    statuses = dict(InboundDelivery.objects.values_list("dedupe_key", "status"))
    assert statuses["bad"] == InboundDelivery.Status.FAILED
    assert statuses["ok-1"] == statuses["ok-2"] == InboundDelivery.Status.PROCESSED
    assert outcome == {"processed": 2, "failed": 1}
