"""Polling a mailbox over IMAP (RFC 3501).

The cursor is `<UIDVALIDITY>:<last UID read>`. UIDs only grow within one UIDVALIDITY; when the
server changes UIDVALIDITY (a mailbox rebuilt, a migration) the old UIDs mean nothing, so the
folder is read again from the start — the Message-ID dedupe keys drop what we already have.
"""

import imaplib
import re
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress

from huike.channels.base import ChannelContext, IncomingDelivery, PollResult
from huike.channels.providers.email.parse import message_id_of, read_message
from huike.core.tasks import PermanentError, RetryableError

# One poll stores at most this many messages, so a first poll of a large mailbox finishes
# well inside a worker's time budget; the next poll continues from the cursor.
POLL_BATCH_SIZE = 100
IMAP_TIMEOUT_SECONDS = 30
DEFAULT_IMAP_PORT = "993"
DEFAULT_FOLDER = "INBOX"
_FETCH_UID = re.compile(rb"UID (\d+)")


@contextmanager
def imap_session(channel: ChannelContext) -> Iterator[imaplib.IMAP4]:
    """A logged-in connection; RetryableError when the server cannot be reached,
    PermanentError when it refuses the credentials."""
    host = channel.get("imap_host")
    port = int(channel.get("imap_port", DEFAULT_IMAP_PORT))
    security = channel.get("imap_security", "ssl")
    try:
        if security == "ssl":
            connection: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                host, port, ssl_context=ssl.create_default_context(), timeout=IMAP_TIMEOUT_SECONDS
            )
        else:
            connection = imaplib.IMAP4(host, port, timeout=IMAP_TIMEOUT_SECONDS)
            if security == "starttls":
                connection.starttls(ssl.create_default_context())
    except (OSError, imaplib.IMAP4.error) as error:
        raise RetryableError(f"IMAP {host}:{port}: {type(error).__name__}: {error}") from error
    try:
        try:
            connection.login(channel.get("imap_username"), channel.get("imap_password"))
        except imaplib.IMAP4.abort as error:
            raise RetryableError(f"IMAP login: {error}") from error
        except imaplib.IMAP4.error as error:
            raise PermanentError(f"IMAP login refused: {error}") from error
        yield connection
    except (OSError, imaplib.IMAP4.abort) as error:
        raise RetryableError(f"IMAP: {type(error).__name__}: {error}") from error
    except imaplib.IMAP4.error as error:
        raise PermanentError(f"IMAP: {error}") from error
    finally:
        # The server may already have closed the connection; nothing is lost.
        with suppress(OSError, imaplib.IMAP4.error):
            connection.logout()


def parse_cursor(cursor: str) -> tuple[str, int]:
    validity, _, last = cursor.partition(":")
    return (validity, int(last)) if validity and last.isdigit() else ("", 0)


def poll_mailbox(channel: ChannelContext, cursor: str) -> PollResult:
    with imap_session(channel) as connection:
        folder = channel.get("imap_folder", DEFAULT_FOLDER)
        status, data = connection.select(_quoted(folder), readonly=True)
        if status != "OK":
            raise PermanentError(f"IMAP SELECT {folder}: {_text(data)}")
        validity = _text(connection.response("UIDVALIDITY")[1])
        known_validity, last_uid = parse_cursor(cursor)
        if validity != known_validity:
            last_uid = 0

        status, data = connection.uid("SEARCH", f"UID {last_uid + 1}:*")
        if status != "OK":
            raise RetryableError(f"IMAP UID SEARCH: {_text(data)}")
        # "n:*" always matches the highest UID, even one below n: filter.
        uids = sorted(
            uid for uid in (int(token) for token in _text(data).split()) if uid > last_uid
        )
        batch = uids[:POLL_BATCH_SIZE]
        deliveries = []
        if batch:
            status, data = connection.uid("FETCH", ",".join(map(str, batch)), "(UID RFC822)")
            if status != "OK":
                raise RetryableError(f"IMAP UID FETCH: {_text(data)}")
            for uid, raw in sorted(_fetched(data)):
                key = message_id_of(read_message(raw)) or f"uid:{validity}:{uid}"
                deliveries.append(
                    IncomingDelivery(
                        dedupe_key=key,
                        body=raw,
                        content_type="message/rfc822",
                        meta={"source": "imap", "uid": str(uid), "uidvalidity": validity},
                    )
                )
            last_uid = batch[-1]
        return PollResult(deliveries=deliveries, cursor=f"{validity}:{last_uid}")


def check_login(channel: ChannelContext) -> None:
    with imap_session(channel) as connection:
        folder = channel.get("imap_folder", DEFAULT_FOLDER)
        status, data = connection.select(_quoted(folder), readonly=True)
        if status != "OK":
            raise PermanentError(f"IMAP SELECT {folder}: {_text(data)}")


def _fetched(data: Sequence[object]) -> Iterator[tuple[int, bytes]]:
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            envelope, raw = item
            match = _FETCH_UID.search(envelope) if isinstance(envelope, bytes) else None
            if match and isinstance(raw, bytes):
                yield int(match.group(1)), raw


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(data: Sequence[object] | None) -> str:
    parts = [
        item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
        for item in data or []
        if item is not None
    ]
    return " ".join(parts)
