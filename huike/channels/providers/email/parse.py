"""Reading one RFC 822 message (from IMAP or the Mailgun route) into an InboundMessage.

Mail from China often declares GB2312 while using GBK or GB18030 characters, so those charsets
are decoded as GB18030, their superset; the HTML part is sanitized before anyone renders it.
"""

import datetime as dt
import email.policy
import hashlib
import html
import re
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses

import nh3

from huike.channels.base import Attachment, ContentType, InboundMessage, Sender
from huike.channels.providers.email.authentication import sender_authentication

# GB18030 decodes everything GB2312 and GBK do, and more.
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
}
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")

# What a reader needs of a formatted email; nothing that runs, styles or moves the page.
ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "div", "dl", "dt",
        "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol",
        "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "table",
        "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align", "valign"},
    "th": {"colspan", "rowspan", "align", "valign"},
    "table": {"align", "width"},
    "font": {"color"},
    "*": {"dir", "lang"},
}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})


def read_message(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)  # policy.default builds EmailMessage
    return message


def message_ids(value: str | None) -> list[str]:
    """The `<id@host>` tokens of a Message-ID, In-Reply-To or References header, in order."""
    return _MESSAGE_ID.findall(str(value or ""))


def message_id_of(message: Message) -> str:
    ids = message_ids(message.get("Message-ID"))
    return ids[0] if ids else ""


def dedupe_key_of(raw: bytes) -> str:
    """The Message-ID, or a digest of the bytes for mail without one."""
    return message_id_of(read_message(raw)) or "sha256:" + hashlib.sha256(raw).hexdigest()


def sanitize_html(value: str) -> str:
    return nh3.clean(
        value,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def html_to_text(value: str) -> str:
    """Plain text of an HTML body, for mail that has no text part."""
    return html.unescape(nh3.clean(value, tags=set())).strip()


def decode_part(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = (part.get_content_charset() or "utf-8").lower()
    charset = _CHARSET_ALIASES.get(charset, charset)
    try:
        text = payload.decode(charset, errors="replace")
    except LookupError:
        text = payload.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n")


def is_auto_submitted(message: Message) -> bool:
    """Auto-replies and bounces: RFC 3834 Auto-Submitted, RFC 3464 reports, common vendor
    headers. They are kept as messages; automations should not answer them."""
    auto_submitted = str(message.get("Auto-Submitted", "no")).strip().lower()
    precedence = str(message.get("Precedence", "")).strip().lower()
    return (
        auto_submitted != "no"
        or message.get_content_type() == "multipart/report"
        or "X-Autoreply" in message
        or "X-Autorespond" in message
        or precedence == "auto_reply"
    )


def parse_email(
    raw: bytes, *, dedupe_key: str, received_at: dt.datetime, trusted_authserv_id: str = ""
) -> InboundMessage:
    """The InboundMessage of `raw`; ValueError when it names no sender. With a
    `trusted_authserv_id`, its properties say whether that server vouched for the From
    address (`sender_authentication`: pass or fail; see authentication.py)."""
    message = read_message(raw)
    addresses = getaddresses([str(value) for value in message.get_all("From", [])])
    name, address = addresses[0] if addresses else ("", "")
    if "@" not in address:
        raise ValueError("the message has no From address")

    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    raw_html = decode_part(html_part) if html_part is not None else ""
    text = decode_part(text_part) if text_part is not None else html_to_text(raw_html)
    body_parts = {id(part) for part in (text_part, html_part) if part is not None}

    attachments: list[Attachment] = []
    for index, part in enumerate(message.walk()):
        if part.is_multipart() or id(part) in body_parts:
            continue
        filename = part.get_filename() or ""
        if part.get_content_disposition() != "attachment" and not filename:
            continue
        payload = part.get_payload(decode=True)
        attachments.append(
            Attachment(
                kind="image" if part.get_content_maintype() == "image" else "file",
                media_id=str(index),
                name=filename,
                mime_type=part.get_content_type(),
                size=len(payload) if isinstance(payload, bytes) else None,
            )
        )

    own_id = message_id_of(message)
    in_reply_to = message_ids(message.get("In-Reply-To"))
    references = message_ids(message.get("References"))
    thread_root = (references or in_reply_to or [own_id or dedupe_key])[0]

    properties: dict[str, object] = {
        "message_id": own_id,
        "in_reply_to": in_reply_to[0] if in_reply_to else "",
        "references": references,
    }
    if is_auto_submitted(message):
        properties["auto_submitted"] = True
    checked = sender_authentication(message, address, trusted_authserv_id)
    if checked is not None:
        properties["sender_authentication"] = checked.result
        properties["sender_authentication_detail"] = checked.detail

    content_type: ContentType = "text"
    if not text.strip() and not raw_html and attachments:
        content_type = attachments[0].kind
    return InboundMessage(
        sender=Sender("email", address.strip().lower(), name=name.strip()),
        external_id=own_id or dedupe_key,
        sent_at=_sent_at(message, received_at),
        content_type=content_type,
        text=text.strip(),
        html=sanitize_html(raw_html) if raw_html else "",
        subject=str(message.get("Subject", "")).strip(),
        attachments=tuple(attachments),
        properties=properties,
        thread_key=thread_root,
    )


def _sent_at(message: Message, received_at: dt.datetime) -> dt.datetime:
    header = message.get("Date")
    sent_at = getattr(header, "datetime", None)
    if not isinstance(sent_at, dt.datetime):
        return received_at
    # "-0000" (unknown zone) parses naive: RFC 5322 says the time is UTC.
    return sent_at if sent_at.tzinfo is not None else sent_at.replace(tzinfo=dt.UTC)
