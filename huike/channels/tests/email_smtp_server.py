"""A real SMTP server on 127.0.0.1 (aiosmtpd) for the email provider's tests. `answer` makes
it refuse: 451 at DATA (a transient failure) or 550 at RCPT (a permanent one)."""

import socket
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class SmtpHandler:
    answer: str = ""
    received: list[Received] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.answer == "550":
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.answer == "451":
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        return "250 2.0.0 Ok: queued"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpServer:
    """`with SmtpServer() as server:` then `server.port`, `server.handler.received`."""

    def __init__(self) -> None:
        self.handler = SmtpHandler()

    def __enter__(self) -> "SmtpServer":
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.controller.stop()
