"""Webhook intake at the ASGI level: `/hooks/<kind>/<channel id>[/mime]` is served beside
Django's middleware stack, the rest goes to `inner`.

Why: under ASGI Django runs sync middleware and sync views in one thread per process, so a
process takes one webhook at a time and spends most of it waiting for the commit. Here intake
runs in a pool of threads (verification, parsing, encryption) and the rows go to the database
through one writer thread that commits the deliveries of all requests waiting at once, with
their processing tasks, in one transaction (intake.GroupCommit). A request waits for its
commit on the event loop, not in a pool thread: every request of the process can be in the
writer's next batch, however few the pool's threads. Verification,
deduplication and the durable insert before the answer are intake's own
(huike.channels.intake, also reached through the Django view in
huike.channels.views_hooks); what the stack adds
(sessions, CSRF, auth, locale, workspace, API gateway) is nothing the endpoint uses.
bench/RESULTS.md has the figures.
"""

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from django.db import connection
from django.utils import timezone

from huike.channels.base import WebhookRequest, WebhookResponse
from huike.channels.intake import (
    Accepted,
    GroupCommit,
    PreparedRows,
    deliveries_prepare,
    webhook_check,
)
from huike.channels.views_hooks import MAX_BODY_BYTES

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
# Threads (hence database connections) per web process doing intake at once. SQLite has one
# writer at a time: more threads would only queue for its lock.
INTAKE_THREADS = int(os.environ.get("HUIKE_INTAKE_THREADS", "8"))

_pool: concurrent.futures.ThreadPoolExecutor | None = None
# Writer threads per web process that commit the intake's rows, each several requests per
# commit (intake.GroupCommit); SQLite has one writer at a time.
INTAKE_WRITERS = int(os.environ.get("HUIKE_INTAKE_WRITERS", "1"))
_group_commit: GroupCommit | None = None
_writers_lock = threading.Lock()


def _pool_size() -> int:
    return 1 if connection.vendor == "sqlite" else max(INTAKE_THREADS, 1)


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(_pool_size(), thread_name_prefix="intake")
    return _pool


def _writers() -> GroupCommit:
    global _group_commit
    with _writers_lock:
        if _group_commit is None:
            writers = 1 if connection.vendor == "sqlite" else INTAKE_WRITERS
            _group_commit = GroupCommit(writers=writers)
        return _group_commit


def intake_shutdown() -> None:
    """Stop this process's writers and intake threads, each closing its database connection
    (a server shutting down; the test session, before it drops the test database)."""
    global _pool, _group_commit
    with _writers_lock:
        group, _group_commit = _group_commit, None
    if group is not None:
        group.stop()
    pool, _pool = _pool, None
    if pool is None:
        return
    threads = _pool_size()
    barrier = threading.Barrier(threads)

    def close() -> None:
        # Every thread of the pool runs one of these: none returns before all have started.
        barrier.wait(timeout=10)
        connection.close()

    for _ in range(threads):
        pool.submit(close)
    pool.shutdown(wait=True)


def _accept(
    kind: str, channel_id: str, request: WebhookRequest
) -> WebhookResponse | tuple[Accepted, PreparedRows]:
    """In a pool thread: the checks, then the rows to commit (or the answer when there is
    nothing to store)."""
    # Each pool thread keeps its connection (the pool is small and fixed, so they are bounded
    # whatever CONN_MAX_AGE says): opening one per webhook would cost more than the webhook.
    # One that saw an error is dropped, as Django drops it after a request.
    try:
        checked = webhook_check(kind=kind, channel_public_id=channel_id, request=request)
        if isinstance(checked, WebhookResponse):
            return checked
        if not checked.incoming:
            return checked.acknowledge(0)
        return checked, deliveries_prepare(checked.channel, checked.incoming, request.received_at)
    finally:
        if connection.errors_occurred:
            connection.close()


async def _committed(rows: PreparedRows) -> None:
    """Hand the rows to a writer and wait, on the event loop, until they are committed;
    the writer's error is raised here."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not future.done():
            future.set_result(None)

    def on_done() -> None:  # in the writer thread
        loop.call_soon_threadsafe(wake)

    rows.on_done = on_done
    _writers().submit(rows)
    await future
    if rows.error is not None:
        raise rows.error


def hook_path(path: str) -> tuple[str, str] | None:
    """(kind, channel id) of a webhook path, None for any other path."""
    parts = path.split("/")
    if len(parts) < 4 or parts[0] or parts[1] != "hooks":
        return None
    if len(parts) == 4 or (len(parts) == 5 and parts[4] == "mime"):
        return parts[2], parts[3]
    return None


def with_webhook_intake(inner: ASGIApp) -> ASGIApp:
    async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
        target = hook_path(scope.get("path", "")) if scope["type"] == "http" else None
        if target is None:
            await inner(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_BODY_BYTES:
                await _answer(send, WebhookResponse(413))
                return
        query_string = scope.get("query_string", b"").decode("latin-1")
        request = WebhookRequest(
            method=scope["method"],
            query=dict(parse_qsl(query_string, keep_blank_values=True)),
            headers={
                name.decode("latin-1").lower(): value.decode("latin-1")
                for name, value in scope["headers"]
            },
            body=bytes(body),
            received_at=timezone.now(),
            query_string=query_string,
        )
        loop = asyncio.get_running_loop()
        accepted = await loop.run_in_executor(_executor(), _accept, *target, request)
        if isinstance(accepted, WebhookResponse):
            await _answer(send, accepted)
            return
        checked, rows = accepted
        await _committed(rows)
        await _answer(send, checked.acknowledge(len(rows.ids)))

    return application


async def _answer(send: Any, answer: WebhookResponse) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": answer.status,
            "headers": [
                (b"content-type", answer.content_type.encode()),
                (b"content-length", str(len(answer.body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer.body})
