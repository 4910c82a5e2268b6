"""Helpers shared by test modules of every part."""

import contextlib
import json
import os
import signal
import subprocess
from typing import Any, NoReturn
from urllib.parse import unquote, urlparse

import pytest
from asgiref.testing import ApplicationCommunicator


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


WEBSOCKET_TIMEOUT = 5.0


class WebsocketCommunicator(ApplicationCommunicator):  # type: ignore[misc]
    """channels.testing.WebsocketCommunicator's few methods: importing channels.testing needs
    daphne, which Huike does not install (uvicorn serves the websockets)."""

    def __init__(self, app: Any, path: str, headers: list[tuple[bytes, bytes]] | None = None):
        parsed = urlparse(path)
        scope = {
            "type": "websocket",
            "path": unquote(parsed.path),
            "query_string": parsed.query.encode(),
            "headers": headers or [],
            "subprotocols": [],
        }
        super().__init__(app, scope)

    async def connect(self, timeout: float = WEBSOCKET_TIMEOUT) -> tuple[bool, Any]:
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        assert response["type"] == "websocket.accept"
        return True, response.get("subprotocol")

    async def send_json_to(self, data: Any) -> None:
        await self.send_input({"type": "websocket.receive", "text": json.dumps(data)})

    async def receive_json_from(self, timeout: float = WEBSOCKET_TIMEOUT) -> Any:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return json.loads(response["text"])

    async def disconnect(self, code: int = 1000, timeout: float = WEBSOCKET_TIMEOUT) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)
