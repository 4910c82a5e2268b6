"""A small IMAP4rev1 server on 127.0.0.1 for the email provider's tests: CAPABILITY, LOGIN,
SELECT/EXAMINE (with UIDVALIDITY), UID SEARCH, UID FETCH (UID RFC822), NOOP and LOGOUT over
one in-memory folder. Enough of RFC 3501 for imaplib; nothing else."""

import re
import socketserver
import threading
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(rb'"((?:[^"\\]|\\.)*)"|(\S+)')


@dataclass
class Mailbox:
    username: str = "agent@huike.example"
    password: str = "imap-secret"
    folder: str = "INBOX"
    uidvalidity: int = 1
    messages: dict[int, bytes] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)

    def add(self, uid: int, raw: bytes) -> None:
        self.messages[uid] = raw


def _tokens(line: bytes) -> list[str]:
    return [
        (quoted.replace(b'\\"', b'"').replace(b"\\\\", b"\\") if quoted else atom).decode()
        for quoted, atom in _TOKEN.findall(line)
    ]


def _uid_set(spec: str, uids: list[int]) -> list[int]:
    chosen: set[int] = set()
    highest = max(uids, default=0)
    for item in spec.split(","):
        start, _, end = item.partition(":")
        low = highest if start == "*" else int(start)
        high = low if not end else (highest if end == "*" else int(end))
        low, high = min(low, high), max(low, high)
        chosen.update(uid for uid in uids if low <= uid <= high)
    return sorted(chosen)


class _Handler(socketserver.StreamRequestHandler):
    server: "_Server"

    def send(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def handle(self) -> None:
        box = self.server.mailbox
        self.send(b"* OK IMAP4rev1 test server ready\r\n")
        while line := self.rfile.readline():
            tag, *args = _tokens(line.rstrip(b"\r\n"))
            command = " ".join(args[:2] if args and args[0].upper() == "UID" else args[:1])
            box.commands.append(command.upper())
            verb = args[0].upper() if args else ""
            if verb == "CAPABILITY":
                self.send(b"* CAPABILITY IMAP4rev1\r\n" + f"{tag} OK done\r\n".encode())
            elif verb == "LOGIN":
                if args[1:3] == [box.username, box.password]:
                    self.send(f"{tag} OK logged in\r\n".encode())
                else:
                    self.send(f"{tag} NO [AUTHENTICATIONFAILED] invalid credentials\r\n".encode())
            elif verb in ("SELECT", "EXAMINE"):
                self._select(tag, args[1])
            elif verb == "UID" and args[1].upper() == "SEARCH":
                # "UID SEARCH UID a:b" — the only search the provider makes.
                found = _uid_set(args[3], sorted(box.messages))
                self.send(b"* SEARCH " + " ".join(map(str, found)).encode() + b"\r\n")
                self.send(f"{tag} OK search done\r\n".encode())
            elif verb == "UID" and args[1].upper() == "FETCH":
                self._fetch(tag, args[2])
            elif verb == "NOOP":
                self.send(f"{tag} OK\r\n".encode())
            elif verb == "LOGOUT":
                self.send(b"* BYE logging out\r\n" + f"{tag} OK bye\r\n".encode())
                return
            else:
                self.send(f"{tag} BAD unknown command\r\n".encode())

    def _select(self, tag: str, folder: str) -> None:
        box = self.server.mailbox
        if folder != box.folder:
            self.send(f"{tag} NO no such folder\r\n".encode())
            return
        self.send(
            f"* {len(box.messages)} EXISTS\r\n* 0 RECENT\r\n"
            f"* OK [UIDVALIDITY {box.uidvalidity}] UIDs valid\r\n"
            f"* OK [UIDNEXT {max(box.messages, default=0) + 1}] next UID\r\n"
            f"{tag} OK [READ-ONLY] done\r\n".encode()
        )

    def _fetch(self, tag: str, spec: str) -> None:
        box = self.server.mailbox
        ordered = sorted(box.messages)
        for uid in _uid_set(spec, ordered):
            raw = box.messages[uid]
            sequence = ordered.index(uid) + 1
            head = f"* {sequence} FETCH (UID {uid} RFC822 {{{len(raw)}}}\r\n".encode()
            self.send(head + raw + b")\r\n")
        self.send(f"{tag} OK fetch done\r\n".encode())


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    mailbox: Mailbox


class ImapServer:
    """`with ImapServer() as server:` then `server.port`, `server.mailbox`."""

    def __init__(self, mailbox: Mailbox | None = None) -> None:
        self.mailbox = mailbox or Mailbox()

    def __enter__(self) -> "ImapServer":
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.mailbox = self.mailbox
        # A short poll interval keeps shutdown (and so each test) fast.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return self

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
