"""A real HTTP server on 127.0.0.1 that plays a platform's API in tests (never a mock of our
own code). Each test module registers the routes the platform has and reads what was sent.

    with FakePlatform() as platform:
        platform.route("POST", "/cgi-bin/message/custom/send", lambda call: (200, {"errcode": 0}))
        ... configure the channel with api_base_url=platform.url ...
        assert platform.calls[0].json["touser"] == "openid"

A handler returns (status, body) where body is a dict (sent as JSON), bytes or str, or
(status, body, headers). Unrouted paths answer 404.
"""

import functools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"null")

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


Reply = tuple[int, Any] | tuple[int, Any, dict[str, str]]
Handler = Callable[[Call], Reply]


@dataclass
class FakePlatform:
    host: str = "127.0.0.1"
    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def route(self, method: str, path: str, handler: Handler | Reply) -> None:
        """Answer `method path` with `handler(call)`, or always with the given reply."""
        if not callable(handler):
            reply = handler
            self.routes[(method.upper(), path)] = lambda call: reply
        else:
            self.routes[(method.upper(), path)] = handler

    def calls_to(self, path: str) -> list[Call]:
        return [call for call in self.calls if call.path == path]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.server.server_address[1]}"

    def __enter__(self) -> "FakePlatform":
        platform = self

        class RequestHandler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                call = Call(
                    method=self.command,
                    path=split.path,
                    query=dict(parse_qsl(split.query, keep_blank_values=True)),
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                platform.calls.append(call)
                handler = platform.routes.get((self.command, split.path))
                reply: Any = handler(call) if handler else (404, {"error": "not found"})
                status, body, headers = (*reply, {})[:3] if len(reply) == 2 else reply
                if isinstance(body, dict | list):
                    payload = json.dumps(body).encode()
                    headers = {"Content-Type": "application/json", **headers}
                elif isinstance(body, str):
                    payload = body.encode()
                else:
                    payload = body
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer((self.host, 0), RequestHandler)
        self.thread = threading.Thread(
            target=functools.partial(self.server.serve_forever, poll_interval=0.05), daemon=True
        )
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
