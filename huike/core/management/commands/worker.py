"""`huike worker`: runs background tasks for the configured engine, plus the periodic scheduler.

- database engine: a django-tasks-db worker loop (claiming rows with the same locking as
  `db_worker`), with a heartbeat so that tasks left RUNNING by a dead worker are requeued;
- rq engine: an RQ worker with RQ's scheduler (for deferred tasks and retries); jobs lost
  with a dead worker are requeued;
- immediate engine: tasks run where they are enqueued, so only the scheduler runs.

SIGTERM or SIGINT stops the worker: it finishes the current task if that takes less than
`--shutdown-grace` seconds, otherwise abandons it (its transaction rolls back and the task goes
back to the queue for the next worker). A second signal abandons at once; the same signal
delivered twice within a second (to the whole process group and again by a parent such as
`huike run`) counts once.
"""

import logging
import signal
import threading
import time
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, close_old_connections, connection
from django.tasks import TaskContext, task_backends
from django.tasks.signals import task_finished, task_started
from django.utils.translation import gettext as _

from huike.core import tasks as core_tasks
from huike.core.schedule import SCHEDULER_TICK_SECONDS, schedule_loop

logger = logging.getLogger("huike.worker")

# Short enough that `huike run` (which kills after 3 s) and container stops (10 s by default)
# see a clean exit; a task that needs longer is abandoned and runs again on the next worker.
SHUTDOWN_GRACE_SECONDS = 2.0
# The same stop signal reaching us twice this close together is one request, not two.
DUPLICATE_SIGNAL_SECONDS = 1.0
# How often an idle database worker looks for new tasks.
POLL_INTERVAL_SECONDS = 1.0
# The RQ lost-job sweep is a few Redis round trips; once a minute finds lost jobs soon enough.
RQ_RECOVERY_INTERVAL_SECONDS = 60.0


class TaskAbandoned(BaseException):
    """Raised inside a running task to stop it when the shutdown grace period is over.

    A BaseException, so task code that catches Exception does not swallow it.
    """


def _start_thread(name: str, target: Any, *args: Any) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread


class DatabaseWorker:
    """Runs django-tasks-db tasks; the main thread runs tasks, a thread keeps the heartbeat."""

    def __init__(
        self,
        *,
        queues: list[str],
        backend_alias: str,
        interval: float,
        burst: bool,
        grace: float,
        worker_id: str,
    ) -> None:
        self.queues = queues
        self.backend_alias = backend_alias
        self.interval = interval
        self.burst = burst
        self.grace = grace
        self.worker_id = worker_id
        self.wake = threading.Event()
        self.stop_requested_at: float | None = None
        self.running_task = False
        self.in_task_code = False
        self.tasks_run = 0

    # --- signals ----------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGALRM, self._on_grace_over)

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if self.stop_requested_at is None:
            self.stop_requested_at = now
            self.wake.set()
            logger.info("Worker %s stopping (%s)", self.worker_id, signal.strsignal(signum))
            if self.running_task:
                signal.setitimer(signal.ITIMER_REAL, self.grace)
            return
        if now - self.stop_requested_at < DUPLICATE_SIGNAL_SECONDS:
            return
        logger.warning("Worker %s: second stop signal, abandoning the current task", self.worker_id)
        self._abandon()

    def _on_grace_over(self, signum: int, frame: FrameType | None) -> None:
        logger.warning("Worker %s: task still running after %ss grace", self.worker_id, self.grace)
        self._abandon()

    def _abandon(self) -> None:
        # Only ever raised into the task's own code: raised while the worker records a result
        # it would leave that bookkeeping half done.
        if self.in_task_code:
            raise TaskAbandoned

    # --- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        logger.info("Worker %s started (queues: %s)", self.worker_id, ",".join(self.queues))
        while self.stop_requested_at is None:
            close_old_connections()
            row = self._claim()
            if row is None:
                if self.burst:
                    break
                self.wake.wait(self.interval)
                continue
            # From here a stop signal arms the grace timer; one that came before is seen below.
            self.running_task = True
            if self.stop_requested_at is not None:
                self.running_task = False
                self._release(row)
                break
            self._run(row)
            close_old_connections()
        logger.info("Worker %s stopped after %d tasks", self.worker_id, self.tasks_run)

    def _claim(self) -> Any:
        from django_tasks_db.models import DBTaskResult
        from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

        ready = DBTaskResult.objects.ready().filter(
            backend_name=self.backend_alias, queue_name__in=self.queues
        )
        try:
            with exclusive_transaction(ready.db):
                row = ready.get_locked()
                if row is not None:
                    row.claim(self.worker_id)
                return row
        except OperationalError as error:
            if is_locked_database_exception(error):
                return None  # another worker holds the queue; look again after the interval
            raise

    def _run(self, row: Any) -> None:
        try:
            task = row.task
            task_result = row.task_result
            backend_type = type(task.get_backend())
            task_started.send(sender=backend_type, task_result=task_result)
            self.in_task_code = True
            try:
                if task.takes_context:
                    value = task.call(
                        TaskContext(task_result=task_result),
                        *task_result.args,
                        **task_result.kwargs,
                    )
                else:
                    value = task.call(*task_result.args, **task_result.kwargs)
            finally:
                self.in_task_code = False
            row.set_successful(value)
            task_finished.send(sender=backend_type, task_result=row.task_result)
        except TaskAbandoned:
            self._release(row)
        except Exception as error:
            row.set_failed(error)
            try:
                task_finished.send(sender=type(row.task.get_backend()), task_result=row.task_result)
            except Exception:
                logger.exception("Task %s failed and cannot be loaded", row.pk)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self.running_task = False
            self.tasks_run += 1

    def _release(self, row: Any) -> None:
        """Put a claimed task back to READY, as if this worker had never taken it."""
        from django_tasks_db.models import DBTaskResult

        worker_ids = list(row.worker_ids)
        if worker_ids and worker_ids[-1] == self.worker_id:
            worker_ids.pop()
        DBTaskResult.objects.filter(pk=row.pk, status="RUNNING").update(
            status="READY", started_at=None, worker_ids=worker_ids
        )
        logger.warning("Task %s %s put back in the queue", row.pk, row.task_path)


def _heartbeat_loop(stop: threading.Event, worker_id: str) -> None:
    """Beat, and requeue what dead workers left behind, until `stop` is set."""
    try:
        while not stop.wait(core_tasks.worker_heartbeat_interval()):
            try:
                core_tasks.worker_heartbeat(worker_id)
                core_tasks.tasks_recover_abandoned()
            except Exception:
                logger.exception("Worker heartbeat failed")
            finally:
                close_old_connections()
    finally:
        connection.close()


def _rq_recovery_loop(stop: threading.Event) -> None:
    while not stop.wait(RQ_RECOVERY_INTERVAL_SECONDS):
        try:
            core_tasks.rq_requeue_lost_jobs()
        except Exception:
            logger.exception("RQ lost-job sweep failed")


class Command(BaseCommand):
    help = "Run background tasks for the configured engine, with the periodic scheduler."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--no-scheduler",
            action="store_true",
            help="Do not run the periodic scheduler in this worker.",
        )
        parser.add_argument(
            "--burst",
            action="store_true",
            help="Run the tasks that are ready now, then exit.",
        )
        parser.add_argument(
            "--queue",
            action="append",
            dest="queues",
            metavar="NAME",
            help="Queue to work on (repeatable; default: every configured queue).",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=POLL_INTERVAL_SECONDS,
            help="Seconds between looks at an empty database queue (default: %(default)s).",
        )
        parser.add_argument(
            "--shutdown-grace",
            type=float,
            default=SHUTDOWN_GRACE_SECONDS,
            help="Seconds a running task may take to finish after a stop signal "
            "(default: %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        backend = task_backends["default"]
        queues = options["queues"] or sorted(backend.queues) or ["default"]
        unknown = set(queues) - set(backend.queues) if backend.queues else set()
        if unknown:
            raise CommandError(
                _("Unknown queues: %(names)s") % {"names": ", ".join(sorted(unknown))}
            )
        engine = settings.TASK_ENGINE
        stop = threading.Event()
        threads: list[threading.Thread] = []
        try:
            if engine == "database":
                self._run_database(options, queues, stop, threads)
            elif engine == "rq":
                self._run_rq(options, queues, stop, threads)
            else:
                self._run_scheduler_only(options, stop, threads)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=1.0)

    def _run_database(
        self,
        options: dict[str, Any],
        queues: list[str],
        stop: threading.Event,
        threads: list[threading.Thread],
    ) -> None:
        worker = DatabaseWorker(
            queues=queues,
            backend_alias="default",
            interval=options["interval"],
            burst=options["burst"],
            grace=options["shutdown_grace"],
            worker_id=core_tasks.worker_id_new(),
        )
        worker.install_signal_handlers()
        # Beat before claiming anything, so no task of ours ever looks abandoned; recover
        # first, so tasks a dead worker left behind run on this start.
        core_tasks.worker_heartbeat(worker.worker_id)
        core_tasks.tasks_recover_abandoned()
        threads.append(_start_thread("huike-heartbeat", _heartbeat_loop, stop, worker.worker_id))
        self._start_scheduler(options, stop, threads)
        try:
            worker.run()
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=1.0)
            core_tasks.worker_heartbeat_clear(worker.worker_id)

    def _run_rq(
        self,
        options: dict[str, Any],
        queues: list[str],
        stop: threading.Event,
        threads: list[threading.Thread],
    ) -> None:
        import django_rq
        import redis
        from django_rq.utils import reset_db_connections
        from django_tasks_rq import Job
        from rq import Worker

        grace = max(options["shutdown_grace"], DUPLICATE_SIGNAL_SECONDS + 0.1)

        class GracefulWorker(Worker):
            """RQ waits for the current job without limit on a warm stop; we wait `grace`,
            then stop the job and put it back in the queue (RQ alone would file it as failed
            once its execution expired)."""

            def request_stop(self, signum: int, frame: FrameType | None) -> None:
                # Raises StopRequested when idle, which ends the worker at once.
                super().request_stop(signum, frame)  # type: ignore[no-untyped-call]
                signal.signal(signal.SIGALRM, self.request_force_stop)
                signal.setitimer(signal.ITIMER_REAL, grace)

            def request_force_stop(self, signum: int, frame: FrameType | None) -> None:
                job = self.get_current_job()
                try:
                    super().request_force_stop(signum, frame)
                except SystemExit:
                    if job is not None:
                        queue = django_rq.get_queue(job.origin, job_class=Job)
                        queue.started_job_registry.remove_executions(job)
                        queue.enqueue_job(job)
                        logger.warning("RQ job %s %s put back in the queue", job.id, job.func_name)
                    raise

        try:
            core_tasks.rq_requeue_lost_jobs()
        except redis.exceptions.ConnectionError as error:
            raise CommandError(
                _("Cannot reach the Redis server of the RQ queue: %(error)s") % {"error": error}
            ) from None
        if not options["burst"]:
            threads.append(_start_thread("huike-rq-recovery", _rq_recovery_loop, stop))
        self._start_scheduler(options, stop, threads)
        worker = django_rq.get_worker(*queues, job_class=Job, worker_class=GracefulWorker)
        # The work horse is a fork: it must not share the parent's database connections.
        reset_db_connections()
        worker.work(
            burst=options["burst"],
            with_scheduler=True,
            logging_level=logging.getLevelName(logging.getLogger().getEffectiveLevel()),
        )

    def _start_scheduler(
        self, options: dict[str, Any], stop: threading.Event, threads: list[threading.Thread]
    ) -> None:
        # After the engine's own start-up checks, so a worker that cannot reach its queue
        # fails with that error rather than with the scheduler's.
        if not options["no_scheduler"] and not options["burst"]:
            threads.append(_start_thread("huike-scheduler", schedule_loop, stop))

    def _run_scheduler_only(
        self, options: dict[str, Any], stop: threading.Event, threads: list[threading.Thread]
    ) -> None:
        if options["burst"]:
            return
        self._start_scheduler(options, stop, threads)
        logger.info("Engine %s runs tasks inline; this worker only schedules", settings.TASK_ENGINE)
        done = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            done.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        while not done.wait(SCHEDULER_TICK_SECONDS):
            pass
