"""Inbound mail through a Mailgun route that forwards the raw MIME (a route action
`forward("https://…/webhook…")` to a URL ending in `mime`).

Mailgun signs each POST with form fields, not headers: `signature` is the hex
HMAC-SHA256 of `timestamp + token` keyed with the domain's HTTP webhook signing key. The
signature does not cover the message, so the timestamp window bounds how long a captured
request could be replayed; the Message-ID dedupe key drops a replay inside it.
"""

import datetime as dt
import email.policy
import hashlib
import hmac
from email.message import Message
from email.parser import BytesParser
from urllib.parse import parse_qsl

from huike.channels.base import SignatureError, WebhookRequest

# Mailgun's own libraries accept a signature for a few minutes; clocks drift a little.
SIGNATURE_WINDOW_SECONDS = 300


def form_fields(request: WebhookRequest) -> dict[str, str | bytes]:
    """The POST's fields: Mailgun sends urlencoded or multipart/form-data."""
    content_type = request.header("content-type")
    if content_type.lower().startswith("multipart/form-data"):
        envelope = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
        form = BytesParser(policy=email.policy.HTTP).parsebytes(envelope + request.body)
        fields: dict[str, str | bytes] = {}
        for part in form.iter_parts() if form.is_multipart() else ():
            name = _field_name(part)
            payload = part.get_payload(decode=True)
            if name and isinstance(payload, bytes):
                fields[name] = payload
        return fields
    try:
        pairs = parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as error:
        raise ValueError("the form is not UTF-8") from error
    return dict(pairs)


def _field_name(part: Message) -> str:
    name = part.get_param("name", header="content-disposition")
    return name if isinstance(name, str) else ""


def field_text(fields: dict[str, str | bytes], name: str) -> str:
    value = fields.get(name, "")
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def field_bytes(fields: dict[str, str | bytes], name: str) -> bytes:
    value = fields.get(name, b"")
    return value if isinstance(value, bytes) else value.encode("utf-8")


def mailgun_signature(signing_key: str, timestamp: str, token: str) -> str:
    message = (timestamp + token).encode("utf-8")
    return hmac.new(signing_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_mailgun(signing_key: str, request: WebhookRequest) -> None:
    if not signing_key:
        raise SignatureError("no inbound signing key is configured", status=401)
    try:
        fields = form_fields(request)
    except ValueError as error:
        raise SignatureError(f"unreadable form: {error}", status=401) from error
    timestamp = field_text(fields, "timestamp")
    token = field_text(fields, "token")
    signature = field_text(fields, "signature")
    if not (timestamp and token and signature):
        raise SignatureError("timestamp, token or signature missing", status=401)
    if not timestamp.isdigit():
        raise SignatureError("timestamp is not a number")
    signed_at = dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)
    if abs((request.received_at - signed_at).total_seconds()) > SIGNATURE_WINDOW_SECONDS:
        raise SignatureError("timestamp outside the signature window")
    expected = mailgun_signature(signing_key, timestamp, token)
    if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
        raise SignatureError("signature does not match")
