"""Background work on Django's tasks API: enqueue after commit, retries with backoff, and the
liveness of database-queue workers.

Domain code defines tasks with `django.tasks.task` and enqueues them with `enqueue_on_commit`,
so a task never runs against data its transaction has not committed (or has rolled back).
Django tasks have no retries; `retrying` adds them:

    @task
    @retrying()
    def deliver_webhook(delivery_id: int) -> None:
        ...
        raise RetryableError("endpoint answered 503")   # tried again later, with backoff
        raise PermanentError("endpoint answered 410")   # (or any other exception) not retried

A retry is a new task result enqueued with `run_after` in the future; both engines support
that (`supports_defer`: django-tasks-db stores `run_after`, django-tasks-rq puts the job in
RQ's scheduled registry, which the worker's scheduler moves to the queue when due).
"""

import functools
import logging
import os
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.tasks import Task, TaskResult, task_backends
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.module_loading import import_string

from huike.core.models import WorkerHeartbeat

logger = logging.getLogger("huike.tasks")

P = ParamSpec("P")
R = TypeVar("R")

# --- retries --------------------------------------------------------------------------------
# The first retry comes after about 10 s: most remote hiccups (a 503 during a deploy, a
# dropped connection) are over by then. Each later one waits twice as long.
RETRY_BASE_SECONDS = 10.0
# A remote system that is down for hours gets one try an hour, not ever longer waits.
RETRY_MAX_DELAY_SECONDS = 60.0 * 60
# Up to 25% shorter than the nominal delay, at random, so the retries of many tasks that
# failed together (the remote went down) do not all hit it again in the same second.
RETRY_JITTER_FRACTION = 0.25
# 8 attempts: retries after ~10, 20, 40, 80, 160, 320 and 640 s, about 21 minutes in all.
MAX_ATTEMPTS = 8
# The keyword argument that carries the attempt number into the retried task.
ATTEMPT_KWARG = "retry_attempt"


class RetryableError(Exception):
    """A failure that may go away by itself: a timeout, a 5xx, a rate limit, a lock."""


class PermanentError(Exception):
    """A failure that retrying cannot fix: a 4xx, a payload the remote refuses, missing data.

    Any exception other than RetryableError is permanent too; this one exists so that code
    talking to a remote system can say so explicitly.
    """


def retry_delay(attempt: int, *, rng: random.Random | None = None) -> timedelta:
    """How long to wait after attempt number `attempt` (1 = the first run) failed."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    nominal = min(RETRY_BASE_SECONDS * 2 ** (attempt - 1), RETRY_MAX_DELAY_SECONDS)
    jitter = (rng or random).random() * RETRY_JITTER_FRACTION
    return timedelta(seconds=nominal * (1 - jitter))


def enqueue_on_commit[**Q](task: Task[Q, Any], *args: Q.args, **kwargs: Q.kwargs) -> None:
    """Enqueue `task` once the current transaction commits (at once outside a transaction).

    If the transaction rolls back, nothing is enqueued: a task never sees data that does not
    exist.
    """
    transaction.on_commit(functools.partial(task.enqueue, *args, **kwargs))


def enqueue_with_commit[**Q](task: Task[Q, Any], *args: Q.args, **kwargs: Q.kwargs) -> None:
    """Enqueue `task` so that it exists exactly when the current transaction commits.

    A queue kept in this same database (django-tasks-db) takes the task row inside the
    transaction: it commits with the data it is about, in one commit instead of two, and
    no crash can leave the data committed without its task. Any other queue (RQ) gets it on
    commit, as enqueue_on_commit does.
    """
    from django_tasks_db.backend import DatabaseBackend

    if (
        isinstance(task.get_backend(), DatabaseBackend)
        and transaction.get_connection().in_atomic_block
    ):
        task.enqueue(*args, **kwargs)
    else:
        enqueue_on_commit(task, *args, **kwargs)


def enqueue_retry[**Q, S](
    task: Task[Q, S], *, args: list[Any], kwargs: dict[str, Any], attempt: int
) -> TaskResult[Q, S]:
    """Enqueue attempt `attempt + 1` of `task`, after the backoff for a failed attempt `attempt`.

    The attempt number travels in the `retry_attempt` keyword argument. On a backend that
    cannot defer (the immediate backend of development and tests) the retry runs at once.
    """
    delay = retry_delay(attempt)
    next_kwargs = {**kwargs, ATTEMPT_KWARG: attempt + 1}
    if task.get_backend().supports_defer:
        task = task.using(run_after=timezone.now() + delay)
    # The arguments come back from what the backend stored, so their types cannot be checked
    # against the task's parameters here.
    enqueue: Callable[..., TaskResult[Q, S]] = task.enqueue
    return enqueue(*args, **next_kwargs)


@dataclass(frozen=True)
class RetryScheduled:
    """What an attempt that failed with a RetryableError and was rescheduled returns."""

    attempt: int
    next_attempt: int
    next_task_result_id: str
    error: str

    def as_json(self) -> dict[str, Any]:
        return {
            "retry_scheduled": {
                "attempt": self.attempt,
                "next_attempt": self.next_attempt,
                "next_task_result_id": self.next_task_result_id,
                "error": self.error,
            }
        }


def retrying(
    max_attempts: int = MAX_ATTEMPTS,
) -> Callable[[Callable[P, R]], Callable[P, R | dict[str, Any]]]:
    """Retry the task when it raises RetryableError, with exponential backoff.

    Put it under `@task`. Retries go to the queue and priority the task declares. An attempt
    that is rescheduled ends successfully, returning a
    `retry_scheduled` record that names the next attempt's task result; the last allowed
    attempt re-raises, so the task ends FAILED with the error. Other exceptions are
    permanent: they fail the task at once.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")

    def decorate(func: Callable[P, R]) -> Callable[P, R | dict[str, Any]]:
        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> R | dict[str, Any]:
            given = kwargs.pop(ATTEMPT_KWARG, 1)
            attempt = given if isinstance(given, int) else 1
            try:
                return func(*args, **kwargs)
            except RetryableError as error:
                if attempt >= max_attempts:
                    logger.error(
                        "Task %s gave up after %d attempts: %s",
                        run.__qualname__,
                        attempt,
                        error,
                    )
                    raise
                task = _task_for(run)
                # A task that takes context gets it as its first argument; the retry gets its
                # own context from the worker.
                stored_args = list(args[1:] if task.takes_context else args)
                result = enqueue_retry(task, args=stored_args, kwargs=dict(kwargs), attempt=attempt)
                logger.warning(
                    "Task %s attempt %d failed (%s); attempt %d enqueued as %s",
                    run.__qualname__,
                    attempt,
                    error,
                    attempt + 1,
                    result.id,
                )
                return RetryScheduled(attempt, attempt + 1, result.id, str(error)).as_json()

        return run

    return decorate


def _task_for(function: Callable[..., Any]) -> Task[..., Any]:
    """The Task object that wraps `function` (the module attribute `@task` replaced it with)."""
    found = import_string(f"{function.__module__}.{function.__qualname__}")
    if not (hasattr(found, "enqueue") and hasattr(found, "using")):
        raise TypeError(f"{function.__qualname__}: put @retrying() under @task")
    task_object: Task[..., Any] = found
    return task_object


# --- database-queue workers: heartbeats and recovery -----------------------------------------
# django-tasks-db leaves a task RUNNING for ever when its worker dies mid-task (SIGKILL, OOM,
# power loss): nothing notices. Each `huike worker` therefore records a heartbeat, and a task
# RUNNING on a worker that has not been seen for TASK_WORKER_STALE_SECONDS goes back to READY.
# Heartbeats live in the database every worker already reaches (one machine or many).
# A task that took its worker down this many times (each time it ran, the worker died) is
# failed instead of being handed to yet another worker to kill.
WORKER_LOST_MAX_ATTEMPTS = 5
# DBTaskResult.worker_ids entries (django-tasks-db refuses longer ids).
WORKER_ID_MAX_LENGTH = 64


class WorkerLostError(Exception):
    """Recorded on a task that kept killing the workers that ran it."""


def worker_stale_after() -> timedelta:
    return timedelta(seconds=settings.TASK_WORKER_STALE_SECONDS)


def worker_heartbeat_interval() -> float:
    # Three beats per stale period: one slow beat (a busy database) does not look like death.
    return settings.TASK_WORKER_STALE_SECONDS / 3


def worker_id_new() -> str:
    """A unique id that still tells an operator where the worker runs: host:pid:random."""
    suffix = f":{os.getpid()}:{get_random_string(8)}"
    return socket.gethostname()[: WORKER_ID_MAX_LENGTH - len(suffix)] + suffix


def worker_heartbeat(worker_id: str, *, now: datetime | None = None) -> None:
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id, defaults={"last_seen_at": now or timezone.now()}
    )


def worker_heartbeat_clear(worker_id: str) -> None:
    WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()


def workers_alive(*, now: datetime | None = None) -> dict[str, datetime]:
    """Worker id -> last heartbeat, for the workers seen within the stale period."""
    cutoff = (now or timezone.now()) - worker_stale_after()
    rows = WorkerHeartbeat.objects.filter(last_seen_at__gte=cutoff)
    return dict(rows.values_list("worker_id", "last_seen_at"))


def worker_last_seen() -> datetime | None:
    return (
        WorkerHeartbeat.objects.order_by("-last_seen_at")
        .values_list("last_seen_at", flat=True)
        .first()
    )


@dataclass(frozen=True)
class Recovery:
    requeued: list[str]
    failed: list[str]


def tasks_recover_abandoned(*, now: datetime | None = None) -> Recovery:
    """Put tasks left RUNNING by dead workers back to READY (or fail them, see above).

    Safe to run from any number of workers at once: each row changes with a compare-and-set
    on its status, so a task that finishes meanwhile is left alone.
    """
    from django_tasks_db.models import DBTaskResult

    now = now or timezone.now()
    cutoff = now - worker_stale_after()
    alive = workers_alive(now=now)
    requeued: list[str] = []
    failed: list[str] = []
    # A task claimed less than a stale period ago cannot be abandoned yet: its worker beat
    # before claiming it.
    candidates = DBTaskResult.objects.running().filter(started_at__lt=cutoff)
    for row in candidates.only("id", "worker_ids", "task_path"):
        last_worker = row.worker_ids[-1] if row.worker_ids else ""
        if last_worker in alive:
            continue
        still_running = DBTaskResult.objects.filter(Q(pk=row.pk) & Q(status="RUNNING"))
        if len(row.worker_ids) >= WORKER_LOST_MAX_ATTEMPTS:
            changed = still_running.update(
                status="FAILED",
                finished_at=now,
                exception_class_path=f"{WorkerLostError.__module__}.{WorkerLostError.__name__}",
                traceback=f"WorkerLostError: the worker running this task died "
                f"{len(row.worker_ids)} times in a row ({', '.join(row.worker_ids)}).\n",
            )
            if changed:
                failed.append(str(row.pk))
                logger.error("Task %s %s failed: it killed its workers", row.pk, row.task_path)
        elif still_running.update(status="READY", started_at=None):
            requeued.append(str(row.pk))
            logger.warning(
                "Task %s %s was left running by worker %s, which is gone; requeued",
                row.pk,
                row.task_path,
                last_worker or "?",
            )
    # Heartbeats of workers gone for a day are of no use to anyone.
    WorkerHeartbeat.objects.filter(last_seen_at__lt=now - timedelta(days=1)).delete()
    return Recovery(requeued=requeued, failed=failed)


# --- RQ workers: jobs lost with their worker -------------------------------------------------
# RQ notices a dead worker by itself (its job's execution entry expires) but then files the job
# as FAILED. These are the failure texts RQ writes when the worker, not the job, died; such a
# job is requeued, up to WORKER_LOST_MAX_ATTEMPTS times.
RQ_LOST_JOB_MARKERS = ("AbandonedJobError", "Work-horse terminated unexpectedly")
RQ_LOST_COUNT_META = "huike_worker_lost"


def rq_requeue_lost_jobs() -> list[str]:
    """Requeue RQ jobs that failed only because their worker died; returns their ids.

    Safe from many workers at once: RQ's requeue removes the job from the failed registry
    atomically, and only the caller whose removal succeeded enqueues it.
    """
    import django_rq
    from django_tasks_rq import Job
    from rq.exceptions import InvalidJobOperation, NoSuchJobError

    requeued: list[str] = []
    for queue_name in sorted(task_backends["default"].queues):
        queue = django_rq.get_queue(queue_name, job_class=Job)
        # Reading the started registry runs RQ's cleanup, which moves the jobs of dead workers
        # to the failed registry now rather than at the next maintenance pass.
        queue.started_job_registry.get_job_ids()
        registry = queue.failed_job_registry
        for job_id in registry.get_job_ids():
            try:
                job = Job.fetch(job_id, connection=queue.connection)
            except NoSuchJobError:
                continue
            latest = job.latest_result()
            failure = (latest.exc_string if latest is not None else None) or ""
            if not any(marker in failure for marker in RQ_LOST_JOB_MARKERS):
                continue
            lost = int(job.meta.get(RQ_LOST_COUNT_META, 0)) + 1
            if lost >= WORKER_LOST_MAX_ATTEMPTS:
                continue
            job.meta[RQ_LOST_COUNT_META] = lost
            job.save_meta()  # type: ignore[no-untyped-call]
            try:
                registry.requeue(job)
            except InvalidJobOperation:
                continue  # another worker requeued it first
            requeued.append(job.id)
            logger.warning("RQ job %s %s lost its worker; requeued", job.id, job.func_name)
    return requeued
