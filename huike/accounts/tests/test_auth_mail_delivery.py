"""Password-reset and invitation mail through a real SMTP conversation on 127.0.0.1: which
answers of the mail server are retried and which fail the task at once."""

import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.tasks import TaskResultStatus

from huike.accounts.models import Membership
from huike.accounts.tasks import deliver_account_link


@dataclass
class SmtpScript:
    """What the server answers to RCPT TO, one answer per connection (then 250)."""

    recipient_answers: list[str]
    delivered: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self) -> str:
        with self.lock:
            return self.recipient_answers.pop(0) if self.recipient_answers else "250 OK"


class _SmtpHandler(socketserver.StreamRequestHandler):
    server: "_SmtpServer"

    def _send(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        script = self.server.script
        answer = script.next_answer()
        self._send("220 127.0.0.1 test ESMTP")
        while line := self.rfile.readline():
            command = line.decode().strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self._send("250-127.0.0.1")
                self._send("250 8BITMIME")
            elif command.startswith(("MAIL FROM", "RSET", "NOOP")):
                self._send("250 OK")
            elif command.startswith("RCPT TO"):
                self._send(answer)
                if not answer.startswith("250"):
                    with script.lock:
                        script.refused.append(answer)
            elif command == "DATA":
                self._send("354 go ahead")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk.decode())
                with script.lock:
                    script.delivered.append("".join(data))
                self._send("250 queued")
            elif command == "QUIT":
                self._send("221 bye")
                return
            else:
                self._send("502 not implemented")


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, script: SmtpScript) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpHandler)
        self.script = script


@pytest.fixture
def smtp(settings: Any) -> Iterator[SmtpScript]:
    script = SmtpScript(recipient_answers=[])
    server = _SmtpServer(script)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": server.server_address[1], "timeout": 5},
        }
    }
    settings.SITE_URL = "https://crm.example.com"
    try:
        yield script
    finally:
        server.shutdown()
        server.server_close()


def test_mail_goes_out_through_smtp(member: Membership, smtp: SmtpScript) -> None:
    # when the task runs against a mail server that accepts the message
    result = deliver_account_link.enqueue(
        user_id=member.user_id, kind="password_reset", language="en"
    )
    # then one message went out with a link to the configured site
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert len(smtp.delivered) == 1
    assert "https://crm.example.com/account/reset/" in smtp.delivered[0]


def test_temporary_refusal_is_retried(member: Membership, smtp: SmtpScript) -> None:
    # given a mail server that greylists the first try (451), then accepts
    smtp.recipient_answers.append("451 4.7.1 greylisted, try again later")
    # when the task runs (the immediate backend of tests runs the retry at once)
    deliver_account_link.enqueue(
        user_id=member.user_id,
        kind="invitation",
        language="en",
        workspace_name="Acme",
        inviter="owner@acme.test",
    )
    # then the second attempt delivered the invitation
    assert smtp.refused == ["451 4.7.1 greylisted, try again later"]
    assert len(smtp.delivered) == 1
    assert 'added you to the workspace "Acme"' in smtp.delivered[0]


def test_permanent_refusal_fails_without_retrying(member: Membership, smtp: SmtpScript) -> None:
    # given a mail server that refuses the recipient for good
    smtp.recipient_answers.append("550 5.1.1 no such mailbox")
    # when the task runs
    result = deliver_account_link.enqueue(
        user_id=member.user_id, kind="password_reset", language="en"
    )
    # then it fails once, and nothing is tried again
    assert result.status == TaskResultStatus.FAILED
    assert smtp.refused == ["550 5.1.1 no such mailbox"]
    assert smtp.delivered == []
