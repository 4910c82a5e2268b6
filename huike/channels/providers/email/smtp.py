"""Sending over the channel's own SMTP server with Django's SMTP backend.

SMTP says in the reply code whether to try again: 4xx is transient (greylisting, a full
queue), 5xx is final (no such mailbox, rejected as spam).
"""

import smtplib
from collections.abc import Iterable, Mapping
from email.utils import formataddr, make_msgid
from typing import Any

from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.smtp import EmailBackend

from huike.channels.base import ChannelContext, OutboundMessage, SendResult
from huike.channels.providers.email.parse import html_to_text, message_ids
from huike.core.tasks import PermanentError, RetryableError

# A server that does not answer in this long is retried later; the worker must not hang.
SMTP_TIMEOUT_SECONDS = 20
DEFAULT_SMTP_PORT = "465"


def smtp_backend(channel: ChannelContext) -> EmailBackend:
    security = channel.get("smtp_security", "ssl")
    # Built from the channel, not from settings.MAILERS: each channel is its own mailer.
    # The alias only names it in Django's error messages.
    return EmailBackend(
        alias=f"channel-{channel.public_id}",
        host=channel.get("smtp_host"),
        port=int(channel.get("smtp_port", DEFAULT_SMTP_PORT)),
        username=channel.get("smtp_username"),
        password=channel.get("smtp_password"),
        use_tls=security == "starttls",
        use_ssl=security == "ssl",
        timeout=SMTP_TIMEOUT_SECONDS,
    )


def from_domain(channel: ChannelContext) -> str:
    return channel.get("from_address").rpartition("@")[2] or "localhost"


def outbound_message_id(channel: ChannelContext, reference: str) -> str:
    """`<reference@from-domain>`: the same on every retry of one send, so a receiving server
    that already has it can drop the duplicate."""
    if reference:
        return f"<{reference}@{from_domain(channel)}>"
    return make_msgid(domain=from_domain(channel))


def _ids(value: Any) -> list[str]:
    if isinstance(value, str):
        return message_ids(value)
    if isinstance(value, Iterable):
        return [token for item in value for token in message_ids(str(item))]
    return []


def threading_headers(properties: Mapping[str, Any]) -> dict[str, str]:
    """In-Reply-To and References (RFC 5322 3.6.4) so the reply joins the customer's thread."""
    in_reply_to = _ids(properties.get("in_reply_to"))
    references = _ids(properties.get("references"))
    if in_reply_to and in_reply_to[-1] not in references:
        references.append(in_reply_to[-1])
    headers = {}
    if in_reply_to:
        headers["In-Reply-To"] = in_reply_to[-1]
    if references:
        headers["References"] = " ".join(references)
    return headers


def build_email(
    channel: ChannelContext, message: OutboundMessage, message_id: str
) -> EmailMultiAlternatives:
    sender = formataddr((channel.get("from_name"), channel.get("from_address")))
    text = message.text or (html_to_text(message.html) if message.html else "")
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=text,
        from_email=sender,
        to=[message.to],
        headers={"Message-ID": message_id, **threading_headers(message.properties)},
    )
    if message.html:
        email.attach_alternative(message.html, "text/html")
    return email


def send_email(channel: ChannelContext, message: OutboundMessage) -> SendResult:
    message_id = outbound_message_id(channel, message.reference)
    email = build_email(channel, message, message_id)
    try:
        smtp_backend(channel).send_messages([email])
    except Exception as error:
        raise smtp_failure(error) from error
    return SendResult(provider_message_id=message_id)


def smtp_failure(error: Exception) -> Exception:
    """RetryableError or PermanentError for what the SMTP conversation raised."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(error.recipients.values()), (550, b"recipient refused"))
        return _by_code(code, reply)
    if isinstance(error, smtplib.SMTPResponseException):
        return _by_code(error.smtp_code, error.smtp_error)
    if isinstance(error, smtplib.SMTPServerDisconnected | TimeoutError | ConnectionError):
        return RetryableError(f"SMTP: {type(error).__name__}: {error}")
    if isinstance(error, smtplib.SMTPException):
        return PermanentError(f"SMTP: {error}")
    if isinstance(error, OSError):
        return RetryableError(f"SMTP: {type(error).__name__}: {error}")
    return error


def _by_code(code: int, reply: bytes | str) -> Exception:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    message = f"SMTP {code}: {text}"
    return RetryableError(message) if code < 500 else PermanentError(message)


def check_login(channel: ChannelContext) -> None:
    """Connect and authenticate; raises what `smtp_failure` maps."""
    backend = smtp_backend(channel)
    try:
        backend.open()
    except Exception as error:
        raise smtp_failure(error) from error
    finally:
        backend.close()
