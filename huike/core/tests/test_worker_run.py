"""`huike run` as a real process group: serves /healthz, and SIGTERM stops everything."""

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from huike.core.tests.test_tasks_helpers import MANAGE, wait_for

STARTUP_BOUND_SECONDS = 60  # migrating a fresh SQLite database included
STOP_BOUND_SECONDS = 5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def healthz(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            if response.status == 200:
                report: dict[str, Any] = json.load(response)
                return report
    except OSError:
        return None
    return None


def group_is_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_run_serves_health_and_stops_web_server_and_worker_on_sigterm(tmp_path: Path) -> None:
    # given `run` started in its own process group on a fresh var directory
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "HUIKE_TASK_ENGINE", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        HUIKE_VAR_DIR=str(tmp_path),
        HUIKE_TASK_ENGINE="database",
        HUIKE_LOG_FORMAT="console",
        HUIKE_DEFAULT_LANGUAGE="en",  # output is translated; this test reads the English
    )
    port = free_port()
    run = subprocess.Popen(
        [sys.executable, MANAGE, "run", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        # when it is up, with its worker beating
        wait_for(
            lambda: (
                (report := healthz(port)) is not None
                and report["checks"]["task_queue"]["detail"]["workers_seen"] == 1
            ),
            timeout=STARTUP_BOUND_SECONDS,
            what="/healthz 200 with a worker",
        )

        # and the whole group is told to stop, as `kill -TERM -- -PGID` does
        os.killpg(run.pid, signal.SIGTERM)
        output, _ = run.communicate(timeout=STOP_BOUND_SECONDS)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.communicate()

    # then it exited cleanly, leaving no process of its group behind
    assert run.returncode == 0, output
    assert f"Huike is running at http://127.0.0.1:{port}/" in output
    assert "admin@demo.huike.local" in output
    wait_for(lambda: group_is_gone(run.pid), timeout=STOP_BOUND_SECONDS, what="children to exit")


def test_run_exits_non_zero_when_the_web_server_cannot_start(tmp_path: Path) -> None:
    # given the port is taken
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "HUIKE_TASK_ENGINE", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        HUIKE_VAR_DIR=str(tmp_path), HUIKE_TASK_ENGINE="database", HUIKE_DEFAULT_LANGUAGE="en"
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        # when
        run = subprocess.run(
            [sys.executable, MANAGE, "run", "--port", str(port), "--no-demo"],
            env=env,
            capture_output=True,
            text=True,
            timeout=STARTUP_BOUND_SECONDS,
            start_new_session=True,
            check=False,
        )

    # then it stopped the worker and said why
    assert run.returncode == 1
    assert "The web server exited unexpectedly" in run.stderr
