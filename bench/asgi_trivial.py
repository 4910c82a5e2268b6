"""The HTTP stack's limit for bench/channels_intake.py: an ASGI app that reads the body and
answers "success" (what WeChat expects), served by the same uvicorn as Huike."""

from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]


async def application(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"7")],
        }
    )
    await send({"type": "http.response.body", "body": b"success"})
