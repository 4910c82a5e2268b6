"""Helpers shared by test modules of every part."""

import contextlib
import os
import signal
import subprocess
from typing import Any, NoReturn

import pytest


def skip_unless_required(reason: str) -> NoReturn:
    """Skip a test whose server or tool is missing — unless this run must not skip anything
    (CI sets HUIKE_REQUIRE_ALL=1; CI=true counts too), where a missing part is a failure."""
    if os.environ.get("HUIKE_REQUIRE_ALL") == "1" or os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required in this run)")
    pytest.skip(reason)


_SPAWNED: list[subprocess.Popen[str]] = []


def spawn(args: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    """Start a child process in its own process group, reaped after the test whatever happens
    (conftest's `_reap_spawned`), so a failing test cannot leave a worker running that would
    take the next test's jobs."""
    process: subprocess.Popen[str] = subprocess.Popen(
        args, start_new_session=True, text=True, **kwargs
    )
    _SPAWNED.append(process)
    return process


def reap_spawned() -> None:
    while _SPAWNED:
        process = _SPAWNED.pop()
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
