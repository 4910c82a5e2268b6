"""db_sync_to_async keeps the consumers' connection between calls, where Channels'
database_sync_to_async opens one per call (CONN_MAX_AGE 0); KeptConnectionConsumer keeps it
between messages, where Channels' consumers close it before each; a broken one is never kept."""

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db import DatabaseError, connection

from huike.accounts.models import Workspace
from huike.core import asyncdb
from huike.core.asyncdb import KeptConnectionConsumer, db_sync_to_async
from tests.support import WebsocketCommunicator

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # Django never closes SQLite's in-memory test database, and SQLite connections cannot
    # die: what is kept or replaced shows on a server's sessions.
    pytest.mark.skipif(
        connection.vendor == "sqlite", reason="SQLite's test database is never closed"
    ),
]


def _session() -> int:
    """The server session this call ran on (opened by the query if there was none)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _broken_query() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM huike_no_such_table")


async def _calls(wrap: Any, *functions: Any) -> list[Any]:
    results = []
    for function in functions:
        try:
            results.append(await wrap(function)())
        except DatabaseError as error:
            results.append(error)
    return results


def test_calls_share_one_session_where_channels_opens_one_each() -> None:
    assert connection.settings_dict["CONN_MAX_AGE"] == 0
    channels_first, channels_second = asyncio.run(
        _calls(database_sync_to_async, _session, _session)
    )
    first, second = asyncio.run(_calls(db_sync_to_async, _session, _session))
    assert channels_first != channels_second
    assert first == second


def test_a_session_that_works_after_an_error_is_kept() -> None:
    first, error, second = asyncio.run(_calls(db_sync_to_async, _session, _broken_query, _session))
    assert isinstance(error, DatabaseError)
    assert first == second


def test_a_dead_session_is_replaced_before_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asyncdb, "IDLE_CHECK_SECONDS", 0.0)

    def kill() -> int:
        session = _session()
        connection.connection.close()  # as a database restart would, behind Django's back
        return session

    async def scenario() -> tuple[int, int, int]:
        dead = await db_sync_to_async(kill)()
        fresh = await db_sync_to_async(_session)()
        count = await db_sync_to_async(Workspace.objects.count)()
        return dead, fresh, count

    dead, fresh, count = asyncio.run(scenario())
    assert fresh != dead
    assert count == Workspace.objects.count()


class KeptEcho(KeptConnectionConsumer):
    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.send_json({"session": await db_sync_to_async(_session)()})


class ChannelsEcho(KeptEcho, AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    # Channels' own dispatch, which closes old connections before each message.
    dispatch = AsyncJsonWebsocketConsumer.dispatch


async def _sessions_of(consumer: Any) -> list[int]:
    communicator = WebsocketCommunicator(consumer.as_asgi(), "/ws/echo/")
    connected, _code = await communicator.connect()
    assert connected
    sessions = []
    for _ in range(3):
        await communicator.send_json_to({})
        sessions.append((await communicator.receive_json_from())["session"])
    await communicator.disconnect()
    return sessions


def test_a_kept_connection_consumer_uses_one_session_for_all_its_messages() -> None:
    assert len(set(asyncio.run(_sessions_of(ChannelsEcho)))) == 3
    assert len(set(asyncio.run(_sessions_of(KeptEcho)))) == 1
