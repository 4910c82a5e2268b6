"""The outbox with real concurrent transactions, so on PostgreSQL: a message that commits after
a later one is still delivered (the pitfall of an "id > cursor" reader), and two dispatchers
at once deliver every message exactly once (SKIP LOCKED). SQLite serializes writers, so
neither situation can arise there."""

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import close_old_connections, connection, transaction

from huike.accounts.models import Workspace
from huike.core.models import OutboxDelivery, OutboxMessage
from huike.core.outbox import (
    DispatchReport,
    OutboxEvent,
    outbox_dispatch,
    outbox_publish,
    register_subscriber,
    unregister_subscriber,
)

pytestmark = pytest.mark.django_db(transaction=True)

# Safety limit for a thread waiting on another: only reached if the code under test is broken
# (a dispatcher that blocks on a locked row instead of skipping it), so the test fails rather
# than hangs. It measures nothing.
STUCK_SECONDS = 30


@pytest.fixture(autouse=True)
def _postgresql_only(settings: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions are tested on PostgreSQL")
    # The database queue keeps enqueued dispatches waiting in its table, so the tests decide
    # when dispatch runs.
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }


@pytest.fixture
def received() -> Iterator[list[OutboxEvent]]:
    events: list[OutboxEvent] = []
    lock = threading.Lock()

    def handle(event: OutboxEvent) -> None:
        with lock:
            events.append(event)

    register_subscriber("customer.*", "test.concurrent", handle)
    yield events
    unregister_subscriber("test.concurrent")


def in_thread(target: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except BaseException as error:  # recorded for the assertions
            errors.append(error)
        finally:
            close_old_connections()
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_message_committed_after_a_later_one_is_still_delivered(
    workspace: Workspace, received: list[OutboxEvent]
) -> None:
    # given transaction A that publishes message 1 and stays open
    published = threading.Event()
    may_commit = threading.Event()
    errors: list[BaseException] = []
    early: list[OutboxMessage] = []

    def transaction_a() -> None:
        with transaction.atomic():
            early.append(
                outbox_publish(workspace_id=workspace.pk, kind="customer.created", payload={})
            )
            published.set()
            assert may_commit.wait(STUCK_SECONDS)

    thread = in_thread(transaction_a, errors)
    assert published.wait(STUCK_SECONDS)

    # and transaction B that publishes message 2 (a higher id) and commits
    with transaction.atomic():
        late = outbox_publish(workspace_id=workspace.pk, kind="customer.merged", payload={})
    assert late.pk > early[0].pk

    # when dispatch runs, then A commits, then dispatch runs again
    first = outbox_dispatch()
    may_commit.set()
    thread.join(STUCK_SECONDS)
    second = outbox_dispatch()

    # then the first run saw only message 2, and the second run delivered message 1
    assert errors == []
    assert first.message_ids == [late.pk]
    assert second.message_ids == [early[0].pk]
    assert [event.message_id for event in received] == [late.pk, early[0].pk]
    assert list(OutboxMessage.objects.values_list("status", flat=True).distinct()) == ["done"]


def test_two_dispatchers_at_once_deliver_every_message_exactly_once(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    # given 40 committed messages of two workspaces
    ids: list[int] = []
    for number in range(40):
        with transaction.atomic():
            target = workspace if number % 2 else other_workspace
            message = outbox_publish(
                workspace_id=target.pk, kind="customer.created", payload={"n": number}
            )
            ids.append(message.pk)

    # and a subscriber that, on the first message, waits until another message has been
    # delivered: whichever dispatcher claims it holds its row lock meanwhile, so the other
    # dispatcher must skip that row (a dispatcher that waited for it would never finish)
    events: list[OutboxEvent] = []
    lock = threading.Lock()
    another_delivered = threading.Event()
    waits: list[bool] = []

    def handle(event: OutboxEvent) -> None:
        if event.message_id == ids[0]:
            waits.append(another_delivered.wait(STUCK_SECONDS))
        else:
            another_delivered.set()
        with lock:
            events.append(event)

    register_subscriber("customer.*", "test.exactly_once", handle)
    try:
        # when two dispatchers run at the same moment
        barrier = threading.Barrier(2)
        reports: list[DispatchReport] = []
        errors: list[BaseException] = []

        def dispatcher() -> None:
            barrier.wait(STUCK_SECONDS)
            reports.append(outbox_dispatch(batch_size=100))

        threads = [in_thread(dispatcher, errors) for _ in range(2)]
        for thread in threads:
            thread.join(STUCK_SECONDS * 2)
    finally:
        unregister_subscriber("test.exactly_once")

    # then the held message did not stop the other dispatcher, and every message was
    # delivered exactly once in total
    assert errors == []
    assert waits == [True]
    assert sorted(event.message_id for event in events) == ids
    assert sorted(report.claimed for report in reports)[0] >= 1
    assert sum(report.claimed for report in reports) == 40
    assert sorted(mid for report in reports for mid in report.message_ids) == ids
    assert OutboxDelivery.objects.count() == 40
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"done"}
