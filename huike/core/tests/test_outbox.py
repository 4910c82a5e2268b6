"""The outbox: publishing in the caller's transaction, the subscriber registry, and dispatch
with once-per-subscriber effects, retries and failures. (Concurrent dispatchers and late
commits are in test_outbox_concurrency.py, on PostgreSQL.)"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import transaction
from django.db.transaction import TransactionManagementError
from freezegun import freeze_time

from huike.accounts.models import Workspace
from huike.core.models import OutboxDelivery, OutboxMessage, PeriodicRun
from huike.core.outbox import (
    OUTBOX_DONE_RETENTION_DAYS,
    OUTBOX_MAX_ATTEMPTS,
    OutboxEvent,
    outbox_dispatch,
    outbox_publish,
    outbox_purge_done,
    outbox_retry_failed,
    register_subscriber,
    subscribe,
    subscribers_for,
    unregister_subscriber,
)
from huike.core.schedule import PERIODIC_JOBS
from huike.core.tasks import RetryableError

PENDING, DONE, FAILED = "pending", "done", "failed"


class Crash(BaseException):
    """Stands for the process dying mid-dispatch: nothing in the dispatcher catches it."""


@dataclass
class Subscribers:
    """Registers real subscribers for one test and removes them afterwards. Each records the
    events it received and writes one row per event (its effect), so a doubled effect shows
    as a second row — or as an IntegrityError, since the row is unique per message."""

    names: list[str] = field(default_factory=list)
    received: dict[str, list[OutboxEvent]] = field(default_factory=dict)

    def add(
        self, kind: str, name: str, *, fail: Callable[[OutboxEvent], None] | None = None
    ) -> list[OutboxEvent]:
        received: list[OutboxEvent] = []

        def handle(event: OutboxEvent) -> None:
            if fail is not None:
                fail(event)
            PeriodicRun.objects.create(
                name=f"{name}:{event.message_id}", slot=datetime(2026, 1, 1, tzinfo=UTC)
            )
            received.append(event)

        register_subscriber(kind, name, handle)
        self.names.append(name)
        self.received[name] = received
        return received

    def effects(self, name: str) -> list[str]:
        return sorted(
            PeriodicRun.objects.filter(name__startswith=f"{name}:").values_list("name", flat=True)
        )


@pytest.fixture
def subscribers() -> Iterator[Subscribers]:
    registry = Subscribers()
    yield registry
    for name in registry.names:
        unregister_subscriber(name)


def publish(workspace: Workspace, kind: str = "customer.merged", **payload: Any) -> OutboxMessage:
    with transaction.atomic():
        return outbox_publish(workspace_id=workspace.pk, kind=kind, payload=payload)


def statuses() -> list[tuple[str, str, int]]:
    return list(OutboxMessage.objects.order_by("pk").values_list("kind", "status", "attempts"))


def fail_with(error: Exception) -> Callable[[OutboxEvent], None]:
    def fail(event: OutboxEvent) -> None:
        raise error

    return fail


# --- publishing -------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_publish_outside_a_transaction_is_refused(workspace: Workspace) -> None:
    # when a service publishes without a transaction around it
    with pytest.raises(TransactionManagementError, match="inside the transaction"):
        outbox_publish(workspace_id=workspace.pk, kind="customer.merged", payload={})

    # then nothing was written
    assert OutboxMessage.objects.count() == 0


@pytest.mark.django_db
def test_publish_in_a_rolled_back_transaction_leaves_nothing_and_enqueues_nothing(
    workspace: Workspace, django_capture_on_commit_callbacks: Any
) -> None:
    # when the change and its event roll back together
    def publish_then_fail() -> None:
        with transaction.atomic():
            outbox_publish(workspace_id=workspace.pk, kind="customer.merged", payload={})
            raise ZeroDivisionError

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(ZeroDivisionError):
        publish_then_fail()

    # then there is no message and no dispatch waiting for a commit
    assert OutboxMessage.objects.count() == 0
    assert callbacks == []


@pytest.mark.django_db
def test_a_committed_publish_is_delivered_by_the_dispatch_enqueued_on_commit(
    workspace: Workspace, subscribers: Subscribers, django_capture_on_commit_callbacks: Any
) -> None:
    # given a subscriber
    received = subscribers.add("customer.merged", "test.profile")

    # when a transaction publishes two events and commits (tasks run at once in tests)
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        first = outbox_publish(
            workspace_id=workspace.pk, kind="customer.merged", payload={"survivor_id": 7}
        )
        second = outbox_publish(
            workspace_id=workspace.pk, kind="customer.merged", payload={"survivor_id": 8}
        )

    # then one dispatch was enqueued, and it delivered both events
    assert len(callbacks) == 1
    assert [(event.message_id, event.payload) for event in received] == [
        (first.pk, {"survivor_id": 7}),
        (second.pk, {"survivor_id": 8}),
    ]
    assert received[0].workspace_id == workspace.pk
    assert received[0].kind == "customer.merged"
    assert received[0].attempt == 1
    assert statuses() == [("customer.merged", DONE, 1), ("customer.merged", DONE, 1)]


@pytest.mark.django_db
def test_a_kind_that_is_not_dotted_lower_case_is_refused(workspace: Workspace) -> None:
    with pytest.raises(ValueError, match="dotted lower-case"):
        publish(workspace, kind="CustomerMerged")
    assert OutboxMessage.objects.count() == 0


# --- the registry -----------------------------------------------------------------------------
def test_another_handler_under_a_taken_name_is_refused(subscribers: Subscribers) -> None:
    # given a subscriber named test.dup
    subscribers.add("customer.merged", "test.dup")

    # then another handler cannot take the name
    with pytest.raises(ImproperlyConfigured, match="registered twice"):

        @subscribe("customer.created", name="test.dup")
        def other(event: OutboxEvent) -> None: ...


def test_registering_the_same_handler_twice_keeps_one_subscriber() -> None:
    # given a handler registered twice (an AppConfig.ready that runs again)
    def handle(event: OutboxEvent) -> None: ...

    try:
        register_subscriber("customer.merged", "test.twice", handle)
        register_subscriber("customer.merged", "test.twice", handle)

        # then it is one subscriber
        assert [s.name for s in subscribers_for("customer.merged")] == ["test.twice"]
    finally:
        unregister_subscriber("test.twice")


def test_a_subscription_that_is_not_a_kind_or_a_prefix_is_refused() -> None:
    def handle(event: OutboxEvent) -> None: ...

    for pattern in ("customer*", "*.merged", "Customer.merged", "customer.*.x"):
        with pytest.raises(ImproperlyConfigured, match="not a kind"):
            register_subscriber(pattern, "test.bad", handle)
    assert subscribers_for("customer.merged") == []


# --- dispatch ---------------------------------------------------------------------------------
@pytest.mark.django_db
def test_dispatch_running_twice_delivers_each_message_once(
    workspace: Workspace, other_workspace: Workspace, subscribers: Subscribers
) -> None:
    # given messages of two workspaces
    received = subscribers.add("customer.merged", "test.profile")
    ours = publish(workspace)
    theirs = publish(other_workspace)

    # when dispatch runs twice
    first = outbox_dispatch()
    second = outbox_dispatch()

    # then each message reached the subscriber once, with its own workspace
    assert [(e.message_id, e.workspace_id) for e in received] == [
        (ours.pk, workspace.pk),
        (theirs.pk, other_workspace.pk),
    ]
    assert (first.claimed, first.done, first.deliveries) == (2, 2, 2)
    assert (second.claimed, second.deliveries) == (0, 0)
    assert subscribers.effects("test.profile") == [
        f"test.profile:{ours.pk}",
        f"test.profile:{theirs.pk}",
    ]


@pytest.mark.django_db
def test_a_message_claimed_again_skips_the_subscribers_that_handled_it(
    workspace: Workspace, subscribers: Subscribers
) -> None:
    # given a message that an earlier run delivered to one of its two subscribers (its
    # delivery row committed) and that is pending again
    handled = subscribers.add("customer.merged", "test.handled")
    waiting = subscribers.add("customer.merged", "test.waiting")
    message = publish(workspace)
    OutboxDelivery.objects.create(message=message, subscriber="test.handled")

    # when it is claimed again
    report = outbox_dispatch()

    # then only the other subscriber ran, and the message is done
    assert handled == []
    assert [event.message_id for event in waiting] == [message.pk]
    assert report.deliveries == 1
    assert statuses() == [("customer.merged", DONE, 1)]
    assert sorted(
        OutboxDelivery.objects.filter(message=message).values_list("subscriber", flat=True)
    ) == ["test.handled", "test.waiting"]


@pytest.mark.django_db
def test_a_crash_mid_dispatch_rolls_back_and_the_next_run_has_each_effect_once(
    workspace: Workspace, subscribers: Subscribers
) -> None:
    # given two subscribers, the second of which takes the process down once
    crashes = [Crash()]

    def crash_once(event: OutboxEvent) -> None:
        if crashes:
            raise crashes.pop()

    subscribers.add("customer.merged", "test.a_first")
    subscribers.add("customer.merged", "test.b_crashing", fail=crash_once)
    message = publish(workspace)

    # when dispatch dies after the first subscriber's effect
    with pytest.raises(Crash):
        outbox_dispatch()

    # then that effect rolled back with the claim, and the message is untouched
    assert subscribers.effects("test.a_first") == []
    assert OutboxDelivery.objects.count() == 0
    assert statuses() == [("customer.merged", PENDING, 0)]

    # when the next dispatch runs
    outbox_dispatch()

    # then every effect happened exactly once
    assert subscribers.effects("test.a_first") == [f"test.a_first:{message.pk}"]
    assert subscribers.effects("test.b_crashing") == [f"test.b_crashing:{message.pk}"]
    assert statuses() == [("customer.merged", DONE, 1)]


@pytest.mark.django_db
def test_wildcard_subscriptions_receive_every_kind_under_their_prefix(
    workspace: Workspace, subscribers: Subscribers
) -> None:
    # given subscriptions to one kind, a prefix and everything
    exact = subscribers.add("customer.merged", "test.exact")
    prefix = subscribers.add("customer.*", "test.prefix")
    everything = subscribers.add("*", "test.everything")
    merged = publish(workspace, "customer.merged")
    created = publish(workspace, "customer.created")
    nested = publish(workspace, "customer.identity.attached")
    ticket = publish(workspace, "ticket.opened")
    # a prefix is a whole segment: "customers.x" is not under "customer.*"
    lookalike = publish(workspace, "customers.imported")

    # when dispatch runs
    outbox_dispatch()

    # then each received what its pattern covers
    assert [e.message_id for e in exact] == [merged.pk]
    assert [e.message_id for e in prefix] == [merged.pk, created.pk, nested.pk]
    assert [e.message_id for e in everything] == [
        merged.pk,
        created.pk,
        nested.pk,
        ticket.pk,
        lookalike.pk,
    ]


@pytest.mark.django_db
def test_a_message_nobody_subscribes_to_is_done(
    workspace: Workspace, subscribers: Subscribers
) -> None:
    # given a subscriber of another kind
    received = subscribers.add("ticket.opened", "test.tickets")
    publish(workspace, "customer.merged")

    # when dispatch runs
    report = outbox_dispatch()

    # then the message is done without deliveries
    assert received == []
    assert (report.claimed, report.done, report.deliveries) == (1, 1, 0)
    assert statuses() == [("customer.merged", DONE, 1)]
    assert OutboxDelivery.objects.count() == 0


@pytest.mark.django_db
def test_a_retryable_failure_leaves_the_message_pending_with_backoff(
    workspace: Workspace, subscribers: Subscribers
) -> None:
    # given a subscriber whose remote is briefly down
    subscribers.add("customer.merged", "test.flaky", fail=fail_with(RetryableError("503")))
    now = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    with freeze_time(now):
        message = publish(workspace)

        # when dispatch runs
        report = outbox_dispatch()

    # then the message waits ~10 s (the first backoff, up to 25% shorter) with attempts 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == (PENDING, 1)
    assert now + timedelta(seconds=7.5) <= message.available_at <= now + timedelta(seconds=10)
    assert message.last_error == "test.flaky: 503"
    assert message.processed_at is None
    assert (report.claimed, report.retrying) == (1, 1)

    # and a dispatch before it is due does not claim it
    with freeze_time(now + timedelta(seconds=7)):
        assert outbox_dispatch().claimed == 0

    # and one after does: the second attempt doubles the wait
    later = now + timedelta(seconds=10)
    with freeze_time(later):
        outbox_dispatch()
    message.refresh_from_db()
    assert (message.status, message.attempts) == (PENDING, 2)
    assert later + timedelta(seconds=15) <= message.available_at <= later + timedelta(seconds=20)


@pytest.mark.django_db
def test_a_retryable_failure_on_the_last_attempt_fails_the_message(
    workspace: Workspace, subscribers: Subscribers
) -> None:
    # given a message that has used all but one attempt
    subscribers.add("customer.merged", "test.down", fail=fail_with(RetryableError("timeout")))
    message = publish(workspace)
    OutboxMessage.objects.filter(pk=message.pk).update(attempts=OUTBOX_MAX_ATTEMPTS - 1)

    # when the last attempt fails too
    report = outbox_dispatch()

    # then the message has failed, with the error
    message.refresh_from_db()
    assert (message.status, message.attempts) == (FAILED, OUTBOX_MAX_ATTEMPTS)
    assert message.last_error == "test.down: timeout"
    assert message.processed_at is not None
    assert report.failed == 1


@pytest.mark.django_db
def test_a_permanent_error_fails_the_message_with_its_error(
    workspace: Workspace, subscribers: Subscribers
) -> None:
    # given a subscriber with a bug
    subscribers.add("customer.merged", "test.buggy", fail=fail_with(KeyError("survivor_id")))
    message = publish(workspace)

    # when dispatch runs
    report = outbox_dispatch()

    # then the message failed at once, naming the subscriber and the error
    message.refresh_from_db()
    assert (message.status, message.attempts) == (FAILED, 1)
    assert message.last_error == "test.buggy: KeyError: 'survivor_id'"
    assert (report.failed, report.deliveries) == (1, 0)
    assert subscribers.effects("test.buggy") == []


@pytest.mark.django_db
def test_one_subscribers_failure_does_not_run_the_others_again(
    workspace: Workspace, subscribers: Subscribers
) -> None:
    # given three subscribers, the middle one failing once
    failures = [RetryableError("busy")]

    def fail_once(event: OutboxEvent) -> None:
        if failures:
            raise failures.pop()

    first = subscribers.add("customer.merged", "test.a")
    flaky = subscribers.add("customer.merged", "test.b", fail=fail_once)
    last = subscribers.add("customer.merged", "test.c")
    message = publish(workspace)

    # when dispatch runs, and again once the retry is due
    outbox_dispatch()
    OutboxMessage.objects.filter(pk=message.pk).update(available_at=message.available_at)
    outbox_dispatch()

    # then the others ran once each, the flaky one once (its failed try rolled back)
    assert [len(first), len(flaky), len(last)] == [1, 1, 1]
    assert flaky[0].attempt == 2
    assert subscribers.effects("test.b") == [f"test.b:{message.pk}"]
    assert statuses() == [("customer.merged", DONE, 2)]


@pytest.mark.django_db
def test_a_dispatch_run_stops_at_its_batch_size(
    workspace: Workspace, subscribers: Subscribers
) -> None:
    # given three messages
    received = subscribers.add("customer.merged", "test.batch")
    messages = [publish(workspace) for _ in range(3)]

    # when a run may take two
    report = outbox_dispatch(batch_size=2)

    # then it took the two oldest and says more may be due
    assert report.message_ids == [messages[0].pk, messages[1].pk]
    assert report.is_batch_full
    assert [event.message_id for event in received] == report.message_ids
    assert outbox_dispatch(batch_size=2).message_ids == [messages[2].pk]


# --- operations -------------------------------------------------------------------------------
@pytest.mark.django_db
def test_purge_deletes_only_done_messages_past_retention(
    workspace: Workspace, subscribers: Subscribers
) -> None:
    # given done messages a retention period old and younger, and an old failed one
    subscribers.add("customer.merged", "test.purge")
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with freeze_time(start):
        old = publish(workspace)
        outbox_dispatch()
    with freeze_time(start + timedelta(days=1)):
        young = publish(workspace)
        outbox_dispatch()
    with freeze_time(start):
        failed = publish(workspace, "ticket.opened")
    OutboxMessage.objects.filter(pk=failed.pk).update(status=FAILED)

    # when the purge runs just after the first is past retention
    deleted = outbox_purge_done(now=start + timedelta(days=OUTBOX_DONE_RETENTION_DAYS, seconds=1))

    # then only that one and its delivery row are gone
    assert deleted == 1
    assert list(OutboxMessage.objects.order_by("pk").values_list("pk", flat=True)) == [
        young.pk,
        failed.pk,
    ]
    assert list(OutboxDelivery.objects.values_list("message_id", flat=True)) == [young.pk]
    assert not OutboxMessage.objects.filter(pk=old.pk).exists()


@pytest.mark.django_db
def test_retry_failed_sends_the_failed_messages_of_a_kind_again(
    workspace: Workspace, other_workspace: Workspace, subscribers: Subscribers
) -> None:
    # given failed messages of two kinds, in two workspaces
    broken = [True]

    def fail_while_broken(event: OutboxEvent) -> None:
        if broken:
            raise RuntimeError("bug")

    received = subscribers.add("*", "test.fixed_later", fail=fail_while_broken)
    merged = publish(workspace, "customer.merged")
    created = publish(other_workspace, "customer.created")
    ticket = publish(workspace, "ticket.opened")
    outbox_dispatch()
    assert [status for _, status, _ in statuses()] == [FAILED, FAILED, FAILED]

    # when the bug is fixed and customer.* messages of the first workspace are retried
    broken.clear()
    count = outbox_retry_failed(kind="customer.*", workspace_id=workspace.pk)
    outbox_dispatch()

    # then only that message was delivered; the others wait for their own retry
    assert count == 1
    assert [event.message_id for event in received] == [merged.pk]
    assert [event.attempt for event in received] == [1]
    assert statuses() == [
        ("customer.merged", DONE, 1),
        ("customer.created", FAILED, 1),
        ("ticket.opened", FAILED, 1),
    ]
    merged.refresh_from_db()
    assert merged.last_error == ""

    # and retrying everything sends the rest
    assert outbox_retry_failed() == 2
    outbox_dispatch()
    assert sorted(event.message_id for event in received) == [merged.pk, created.pk, ticket.pk]


def test_the_safety_net_dispatch_and_the_purge_are_periodic_jobs() -> None:
    jobs = {job.name: job for job in PERIODIC_JOBS}

    assert jobs["outbox.dispatch"].task_path == "huike.core.jobs.dispatch_outbox"
    assert jobs["outbox.dispatch"].every == timedelta(seconds=10)
    assert jobs["outbox.purge_done"].task_path == "huike.core.jobs.purge_outbox_messages"
    assert jobs["outbox.purge_done"].every == timedelta(days=1)
    # the declared paths resolve to tasks
    assert jobs["outbox.dispatch"].task().name == "dispatch_outbox"
    assert jobs["outbox.purge_done"].task().name == "purge_outbox_messages"


@pytest.mark.django_db
def test_the_safety_net_job_delivers_a_message_whose_enqueue_was_lost(
    workspace: Workspace, subscribers: Subscribers
) -> None:
    # given a committed message whose on-commit dispatch never ran (in tests, the test's
    # transaction never commits, so its callbacks are dropped like a crash would drop them)
    received = subscribers.add("customer.merged", "test.net")
    message = publish(workspace)

    # when the periodic job's task runs
    result = next(job for job in PERIODIC_JOBS if job.name == "outbox.dispatch").task().call()

    # then the message was delivered
    assert [event.message_id for event in received] == [message.pk]
    assert result == {"claimed": 1, "done": 1, "retrying": 0, "failed": 0, "deliveries": 1}


# --- the command ------------------------------------------------------------------------------
def outbox_command(*args: str) -> str:
    out = StringIO()
    call_command("outbox", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_outbox_status_counts_by_kind_and_status_and_lists_failures(
    workspace: Workspace, subscribers: Subscribers
) -> None:
    # given a done, a failed and a pending (not yet dispatched) message
    subscribers.add("customer.*", "test.status", fail=fail_with_kind("customer.created"))
    now = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    with freeze_time(now):
        publish(workspace, "customer.merged")
        failed = publish(workspace, "customer.created")
        outbox_dispatch()
        publish(workspace, "ticket.opened")

    # when an operator asks, 90 s later
    with freeze_time(now + timedelta(seconds=90)):
        output = outbox_command("status")

    # then
    assert output.splitlines() == [
        f"{'kind':<40} {'status':<8} {'messages':>9}",
        f"{'customer.created':<40} {'failed':<8} {1:>9}",
        f"{'customer.merged':<40} {'done':<8} {1:>9}",
        f"{'ticket.opened':<40} {'pending':<8} {1:>9}",
        "Pending 1, done 1, failed 1.",
        "Oldest pending message: 90 s old.",
        "Oldest message due now: 90 s old.",
        f"Failed #{failed.pk} customer.created (workspace {workspace.pk}, 1 attempts): "
        "test.status: ValueError: no",
    ]


def fail_with_kind(kind: str) -> Callable[[OutboxEvent], None]:
    def fail(event: OutboxEvent) -> None:
        if event.kind == kind:
            raise ValueError("no")

    return fail


@pytest.mark.django_db
def test_outbox_status_of_an_empty_outbox() -> None:
    assert outbox_command("status") == "The outbox is empty.\n"


@pytest.mark.django_db
def test_outbox_retry_command_sends_failed_messages_of_one_workspace_again(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    # given failed messages in two workspaces
    ours = publish(workspace)
    theirs = publish(other_workspace)
    OutboxMessage.objects.update(status=FAILED, attempts=OUTBOX_MAX_ATTEMPTS)

    # when the operator retries one workspace's
    output = outbox_command("retry", "--workspace", workspace.slug, "--kind", "customer.merged")

    # then only that one is pending again, with a fresh attempt count
    assert output == "1 failed message(s) sent again.\n"
    assert list(OutboxMessage.objects.order_by("pk").values_list("pk", "status", "attempts")) == [
        (ours.pk, PENDING, 0),
        (theirs.pk, FAILED, OUTBOX_MAX_ATTEMPTS),
    ]
