"""`huike worker` on the database queue, as a real process: restarts lose nothing.

The worker runs as a subprocess on a SQLite file (the in-memory test database is not shared
with other processes), with a short stale period so recovery from a killed worker is quick.
"""

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from huike.core.tests.test_tasks_helpers import (
    MANAGE,
    enqueue_in_subprocess,
    manage,
    read_lines,
    wait_for,
)
from tests.support import spawn

STALE_SECONDS = "2"  # a killed worker's tasks are recovered 2 s after its last heartbeat
STOP_BOUND_SECONDS = 5  # liveness bound for a stopping worker


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    var_dir = tmp_path_factory.mktemp("worker-var")
    result = manage(_env(var_dir), "migrate", "--noinput", "-v0")
    assert result.returncode == 0, result.stderr
    return var_dir / "huike.sqlite3"


@pytest.fixture
def worker_env(migrated_database: Path, tmp_path: Path) -> dict[str, str]:
    # Each test gets its own copy of the migrated database: migrating once keeps this fast.
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    with (
        sqlite3.connect(migrated_database) as source,
        sqlite3.connect(var_dir / "huike.sqlite3") as target,
    ):
        source.backup(target)
    return _env(var_dir)


def _env(var_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "HUIKE_TASK_ENGINE", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        HUIKE_VAR_DIR=str(var_dir),
        HUIKE_TASK_ENGINE="database",
        HUIKE_WORKER_STALE_SECONDS=STALE_SECONDS,
        HUIKE_LOG_FORMAT="console",
        PYTHONUNBUFFERED="1",
    )
    return env


def start_worker(env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return spawn(
        [sys.executable, MANAGE, "worker", "--no-scheduler", "--interval", "0.2", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def stop_worker(worker: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str]:
    worker.send_signal(sig)
    output, _ = worker.communicate(timeout=STOP_BOUND_SECONDS)
    return worker.returncode, output


def task_rows(env: dict[str, str]) -> list[tuple[str, str]]:
    database = Path(env["HUIKE_VAR_DIR"]) / "huike.sqlite3"
    with sqlite3.connect(database) as db:
        return db.execute(
            "SELECT status, args_kwargs FROM django_tasks_database_dbtaskresult "
            "ORDER BY enqueued_at"
        ).fetchall()


def test_tasks_enqueued_while_no_worker_runs_each_run_once_across_restarts(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    effects = str(tmp_path / "effects.txt")
    # given tasks enqueued while no worker runs
    enqueue_in_subprocess(worker_env, [("record", [effects, f"a{n}"]) for n in range(3)])

    # when a worker starts, runs them, and is stopped
    worker = start_worker(worker_env)
    wait_for(lambda: len(read_lines(effects)) == 3, timeout=30, what="first batch")
    code, output = stop_worker(worker)
    assert code == 0, output

    # and more tasks arrive while it is down, and it starts again
    enqueue_in_subprocess(worker_env, [("record", [effects, f"b{n}"]) for n in range(3)])
    worker = start_worker(worker_env)
    wait_for(lambda: len(read_lines(effects)) == 6, timeout=30, what="second batch")
    code, output = stop_worker(worker)

    # then every task ran exactly once
    assert code == 0, output
    assert sorted(read_lines(effects)) == ["a0", "a1", "a2", "b0", "b1", "b2"]
    assert [status for status, _ in task_rows(worker_env)] == ["SUCCESSFUL"] * 6


def test_stop_signal_abandons_a_long_task_which_runs_again_on_the_next_start(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    effects = str(tmp_path / "effects.txt")
    # given a worker busy with a task far longer than its shutdown grace
    enqueue_in_subprocess(worker_env, [("slow_once", [effects, "long", 60])])
    worker = start_worker(worker_env, "--shutdown-grace", "0.5")
    wait_for(lambda: read_lines(effects) == ["start long"], timeout=30, what="task start")

    # when it is told to stop
    code, output = stop_worker(worker)

    # then it exits cleanly, and the task is back in the queue, not lost or failed
    assert code == 0, output
    assert "put back in the queue" in output
    assert [status for status, _ in task_rows(worker_env)] == ["READY"]

    # when a worker starts again, the task runs to the end, once
    worker = start_worker(worker_env)
    wait_for(lambda: "end long" in read_lines(effects), timeout=30, what="rerun")
    stop_worker(worker)
    assert read_lines(effects) == ["start long", "start long", "end long"]
    assert [status for status, _ in task_rows(worker_env)] == ["SUCCESSFUL"]


def test_task_left_running_by_a_killed_worker_is_recovered(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    effects = str(tmp_path / "effects.txt")
    # given a worker killed outright in the middle of a task
    enqueue_in_subprocess(worker_env, [("slow_once", [effects, "long", 60])])
    worker = start_worker(worker_env)
    wait_for(lambda: read_lines(effects) == ["start long"], timeout=30, what="task start")
    worker.kill()
    worker.communicate(timeout=STOP_BOUND_SECONDS)
    assert [status for status, _ in task_rows(worker_env)] == ["RUNNING"]

    # when another worker starts
    worker = start_worker(worker_env)
    wait_for(lambda: "end long" in read_lines(effects), timeout=30, what="recovery")
    code, output = stop_worker(worker)

    # then it noticed the dead worker's task, requeued it and ran it to the end
    assert code == 0, output
    assert "which is gone; requeued" in output
    assert read_lines(effects) == ["start long", "start long", "end long"]
    assert [status for status, _ in task_rows(worker_env)] == ["SUCCESSFUL"]


def test_idle_worker_stops_within_the_bound_on_sigint(worker_env: dict[str, str]) -> None:
    # given
    worker = start_worker(worker_env)
    wait_for(lambda: _has_heartbeat(worker_env), timeout=30, what="worker heartbeat")

    # when
    code, output = stop_worker(worker, signal.SIGINT)

    # then it left cleanly and removed its heartbeat
    assert code == 0, output
    assert not _has_heartbeat(worker_env)


def _has_heartbeat(env: dict[str, str]) -> bool:
    database = Path(env["HUIKE_VAR_DIR"]) / "huike.sqlite3"
    with sqlite3.connect(database) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM core_workerheartbeat").fetchone()
    return bool(count)
