"""Database work from the websocket consumers, on a connection that is kept between calls.

Channels' `database_sync_to_async` closes the connection after every call when CONN_MAX_AGE is
0 (our default under uvicorn, docs/deployment.md), so each frame a website visitor sent opened
a new PostgreSQL connection: ~8 ms of a frame's ~42 ms on loopback, and half the time 200
visitors take to connect at once (bench/RESULTS.md, "Website chat latency"). A websocket has
no ThreadSensitiveContext around it, so every consumer's sync call runs in asgiref's one
thread-sensitive thread: keeping that thread's connection keeps one connection per web
process, whatever CONN_MAX_AGE says.

Channels' consumers also close old connections before every message they handle (a thread hop
for each event an agent's socket is sent, CONN_MAX_AGE 0 closing the connection each time):
`KeptConnectionConsumer` hands messages to their handlers without it.

A connection that saw an error is dropped after the call unless it still works (as Django
does after a request), and one left idle for IDLE_CHECK_SECONDS is checked before use, so a
database restart costs a reconnect, not a failed frame.
"""

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from asgiref.sync import SyncToAsync, sync_to_async
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db import connections

IDLE_CHECK_SECONDS = 30.0

# (thread id, alias) -> when that thread's connection was last used. Calls normally come from
# the one thread-sensitive thread; keyed by thread too, so another caller cannot confuse it.
_last_used: dict[tuple[int, str], float] = {}


def _kept() -> list[tuple[tuple[int, str], Any]]:
    """The open connections of this thread that no caller's transaction holds (under
    async_to_sync, as in tests, the call runs in the caller's thread: its connection is
    not ours to close)."""
    thread = threading.get_ident()
    return [
        ((thread, conn.alias), conn)
        for conn in connections.all(initialized_only=True)
        if conn.connection is not None and not conn.in_atomic_block
    ]


def _before() -> None:
    now = time.monotonic()
    for key, conn in _kept():
        if now - _last_used.get(key, now) >= IDLE_CHECK_SECONDS and not conn.is_usable():
            conn.close()


def _after() -> None:
    now = time.monotonic()
    for key, conn in _kept():
        # As Django does after a request: a connection that saw an error is kept only if
        # it still works.
        if conn.errors_occurred:
            if conn.is_usable():
                conn.errors_occurred = False
            else:
                conn.close()
                _last_used.pop(key, None)
                continue
        _last_used[key] = now


class KeptConnectionSyncToAsync[**P, R](SyncToAsync[P, R]):
    """`sync_to_async` (thread-sensitive) that keeps the thread's database connection."""

    def thread_handler(self, loop: Any, *args: Any, **kwargs: Any) -> Any:
        _before()
        try:
            return super().thread_handler(loop, *args, **kwargs)  # type: ignore[no-untyped-call]
        finally:
            _after()


def db_sync_to_async[**P, R](func: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Run `func` (database work) from async code: `await db_sync_to_async(func)(*args)`."""
    return KeptConnectionSyncToAsync(func, thread_sensitive=True)


class KeptConnectionConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """A JSON websocket consumer whose database work goes through db_sync_to_async only."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        # AsyncConsumer.dispatch without its close_old_connections before each message.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


def kept_connections_close() -> None:
    """Close the connections kept in the thread-sensitive thread (from sync code outside any
    event loop: the test run, before it drops its test database)."""
    asyncio.run(sync_to_async(connections.close_all, thread_sensitive=True)())
    _last_used.clear()
