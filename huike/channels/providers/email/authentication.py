"""Is the From address of an inbound mail the sender's? Read from the `Authentication-Results`
header (RFC 8601) that the receiving mail server we trust added — the mailbox provider an
IMAP channel reads, or the server in front of an inbound route — named by its authserv-id in
the channel's `trusted_authserv_id`.

Anyone can write any From address; what the receiving server checked is whether the domain
vouched for the message: DMARC passed for the From domain, or DKIM passed with a signing
domain (`header.d`, or the domain of `header.i`), or SPF passed for an envelope sender
(`smtp.mailfrom`), that is the From domain or a parent of it (relaxed alignment, as DMARC
defines it). Only the topmost header with the trusted authserv-id counts: the receiving server
adds its own above what the message came with, and a sender can forge any header below it.

Huike does not query DNS itself (no SPF or DKIM lookups): the result is that of the server
that received the mail from the Internet.
"""

import re
from dataclasses import dataclass
from email.message import Message
from typing import Literal

PASS: Literal["pass"] = "pass"
FAIL: Literal["fail"] = "fail"
_COMMENT = re.compile(r"\([^()]*\)")
_PROPERTY = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_.-]+)=(\"[^\"]*\"|[^\s;]+)")
_RESULT = re.compile(r"^([A-Za-z0-9_-]+)\s*=\s*([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class SenderAuthentication:
    result: Literal["pass", "fail"]
    # What vouched for the From domain ("dmarc", "dkim", "spf"), or why nothing did.
    detail: str


def _strip_comments(text: str) -> str:
    previous = None
    while previous != text:
        previous, text = text, _COMMENT.sub(" ", text)
    return text


def _domain(value: str) -> str:
    value = value.strip().strip('"').lower()
    return value.rsplit("@", 1)[-1].rstrip(".")


def _aligned(from_domain: str, domain: str) -> bool:
    return bool(domain) and (from_domain == domain or from_domain.endswith("." + domain))


def results_of(header: str) -> tuple[str, list[tuple[str, str, dict[str, str]]]]:
    """(authserv-id, [(method, result, {"ptype.property": value})]) of one header value."""
    parts = [part.strip() for part in _strip_comments(header).split(";")]
    authserv_id = parts[0].split()[0].lower() if parts and parts[0] else ""
    found = []
    for part in parts[1:]:
        match = _RESULT.match(part)
        if match is None:
            continue
        properties = {
            f"{ptype.lower()}.{name.lower()}": value.strip('"')
            for ptype, name, value in _PROPERTY.findall(part[match.end() :])
        }
        found.append((match.group(1).lower(), match.group(2).lower(), properties))
    return authserv_id, found


def sender_authentication(
    message: Message, from_address: str, trusted_authserv_id: str
) -> SenderAuthentication | None:
    """Whether the trusted server vouches for `from_address`; None when no server is trusted
    (nothing is checked)."""
    trusted = trusted_authserv_id.strip().lower()
    if not trusted:
        return None
    from_domain = _domain(from_address)
    for header in message.get_all("Authentication-Results", []):
        authserv_id, results = results_of(str(header))
        if authserv_id != trusted:
            continue
        for method, result, properties in results:
            if result != "pass":
                continue
            if method == "dmarc" and _domain(properties.get("header.from", from_domain)) == (
                from_domain
            ):
                return SenderAuthentication(PASS, "dmarc")
            if method == "dkim" and _aligned(
                from_domain, _domain(properties.get("header.d") or properties.get("header.i", ""))
            ):
                return SenderAuthentication(PASS, "dkim")
            if method == "spf" and _aligned(
                from_domain, _domain(properties.get("smtp.mailfrom", ""))
            ):
                return SenderAuthentication(PASS, "spf")
        return SenderAuthentication(FAIL, "no aligned pass")
    return SenderAuthentication(FAIL, "no result from the trusted server")
