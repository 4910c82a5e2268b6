"""Tasks and helpers shared by the background-work tests (no tests here).

The tasks record each run as a line in a file, so a test can count runs even when a worker in
another process ran them.
"""

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.tasks import TaskContext, task

from huike.core.tasks import PermanentError, RetryableError, retrying

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")


def append_line(path: str, line: str) -> int:
    """Append `line`; return how many times it is in the file now."""
    with open(path, "a", encoding="utf-8") as effects:
        effects.write(line + "\n")
    return read_lines(path).count(line)


def read_lines(path: str | Path) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []


@task
def record(path: str, name: str) -> str:
    append_line(path, name)
    return name


@task
@retrying(max_attempts=4)
def flaky(path: str, name: str, failures: int) -> str:
    runs = append_line(path, name)
    if runs <= failures:
        raise RetryableError(f"{name} failure {runs}")
    return f"{name} done"


@task(takes_context=True)
@retrying(max_attempts=4)
def flaky_with_context(context: TaskContext, path: str, name: str, failures: int) -> str:
    runs = append_line(path, f"{name} {context.task_result.id}")
    if len(read_lines(path)) <= failures:
        raise RetryableError(f"{name} failure {runs}")
    return f"{name} done"


@task
@retrying()
def refused(path: str, name: str) -> None:
    append_line(path, name)
    raise PermanentError(f"{name} refused")


@task
def slow_once(path: str, name: str, seconds: float) -> str:
    """Sleeps on its first run only, so a rerun after an interruption finishes quickly."""
    first_run = append_line(path, f"start {name}") == 1
    if first_run:
        time.sleep(seconds)
    append_line(path, f"end {name}")
    return name


def wait_for(predicate: Any, *, timeout: float, what: str) -> None:
    """Poll until `predicate()` is true; a liveness bound, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout} s")
        time.sleep(0.1)


def manage(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, MANAGE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def enqueue_in_subprocess(env: dict[str, str], calls: list[tuple[str, list[Any]]]) -> None:
    """Enqueue `(task name in this module, args)` pairs from a process using `env`'s database."""
    lines = [f"from huike.core.tests.test_tasks_helpers import {', '.join({n for n, _ in calls})}"]
    lines += [f"{name}.enqueue(*{args!r})" for name, args in calls]
    result = manage(env, "shell", "--no-imports", "-c", "\n".join(lines))
    assert result.returncode == 0, result.stderr


def tamper_with_audit_entry(entry_id: int) -> None:
    """Change an audit entry behind the application's back.

    The append-only trigger is dropped first, inside the test's transaction, so it comes back
    when the test's transaction rolls back.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER core_auditentry_append_only ON core_auditentry")
        else:
            cursor.execute("DROP TRIGGER core_auditentry_no_update")
        cursor.execute("UPDATE core_auditentry SET action = 'tampered' WHERE id = %s", [entry_id])
