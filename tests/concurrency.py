"""Running code in concurrent transactions, for the PostgreSQL concurrency tests of every part:
the targets start together (a barrier) on their own threads, each with its own connection."""

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections

# Only reached if the code under test deadlocks; measures nothing.
STUCK_SECONDS = 30


def run_collecting(*targets: Callable[[], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run the targets at the same moment; what they returned and what they raised."""
    results: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(targets))

    def wrap(target: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            try:
                barrier.wait(STUCK_SECONDS)
                results.append(target())
            except BaseException as error:
                errors.append(error)
            finally:
                # The thread ends here: its connections with it (left open, they would hold
                # the test database when the session drops it).
                connections.close_all()

        return run

    threads = [threading.Thread(target=wrap(target)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(STUCK_SECONDS)
    assert not any(thread.is_alive() for thread in threads)
    return results, errors


def run_together(*targets: Callable[[], Any]) -> list[BaseException]:
    """Run the targets at the same moment; what they raised."""
    return run_collecting(*targets)[1]
