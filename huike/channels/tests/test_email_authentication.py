"""Whether an inbound mail's From address is the sender's, from the Authentication-Results
header of the trusted receiving server: DMARC, aligned DKIM or aligned SPF pass; anything
else — a failed check, a signature of another domain, a header another server (or the
sender) wrote, no header at all — marks the message as from an unverified sender, which the
agent sees in the conversation."""

import datetime as dt

import pytest
from django.test import Client

from huike.accounts.access import Actor
from huike.channels.base import IncomingDelivery
from huike.channels.intake import deliveries_store
from huike.channels.processing import delivery_process
from huike.channels.providers.email.parse import parse_email
from huike.channels.services import channel_create
from huike.inbox.models import Conversation

TRUSTED = "mx.mailhost.example"
RECEIVED = dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.UTC)


def _mail(*results: str, sender: str = "li@shop.example.cn", name: str = "Li") -> bytes:
    headers = "".join(f"Authentication-Results: {value}\r\n" for value in results)
    return (
        f"{headers}From: {name} <{sender}>\r\nTo: support@acme.test\r\n"
        f"Subject: Order 42\r\nMessage-ID: <{name}.42@shop.example.cn>\r\n"
        "Date: Thu, 03 Dec 2026 08:00:00 +0000\r\n\r\nWhere is my order?\r\n"
    ).encode()


def _checked(raw: bytes, trusted: str = TRUSTED) -> tuple[object, object]:
    message = parse_email(raw, dedupe_key="k", received_at=RECEIVED, trusted_authserv_id=trusted)
    return (
        message.properties.get("sender_authentication"),
        message.properties.get("sender_authentication_detail"),
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"{TRUSTED}; dmarc=pass (p=REJECT) header.from=shop.example.cn", ("pass", "dmarc")),
        (
            f"{TRUSTED} 1; spf=softfail smtp.mailfrom=x@other.example; "
            "dkim=pass (2048-bit key) header.d=example.cn header.s=s1",
            ("pass", "dkim"),  # a parent domain signed: relaxed alignment
        ),
        (f"{TRUSTED}; dkim=pass header.i=@shop.example.cn", ("pass", "dkim")),
        (f"{TRUSTED}; spf=pass smtp.mailfrom=bounce@shop.example.cn", ("pass", "spf")),
        (
            f"{TRUSTED}; dkim=pass header.d=spam.example; spf=pass smtp.mailfrom=a@spam.example",
            ("fail", "no aligned pass"),
        ),
        (
            f"{TRUSTED}; dmarc=fail header.from=shop.example.cn; dkim=fail",
            ("fail", "no aligned pass"),
        ),
        (f"{TRUSTED.upper()}; dkim=none; spf=neutral", ("fail", "no aligned pass")),
        (
            "other.example; dmarc=pass header.from=shop.example.cn",
            ("fail", "no result from the trusted server"),
        ),
    ],
)
def test_what_the_trusted_server_vouches_for(header: str, expected: tuple[str, str]) -> None:
    assert _checked(_mail(header)) == expected


def test_only_the_topmost_header_of_the_trusted_server_counts() -> None:
    # the receiving server's own result is added above a forged one the sender wrote
    forged = _mail(
        f"{TRUSTED}; dmarc=fail header.from=shop.example.cn",
        f"{TRUSTED}; dmarc=pass header.from=shop.example.cn",
    )
    assert _checked(forged) == ("fail", "no aligned pass")


def test_without_a_trusted_server_nothing_is_checked() -> None:
    assert _checked(_mail(f"{TRUSTED}; dmarc=fail"), trusted="") == (None, None)


@pytest.mark.django_db
def test_the_agent_sees_an_unverified_sender_in_the_conversation(
    owner_actor: Actor, owner_client: Client
) -> None:
    # given a mailbox channel that trusts its receiving server
    channel = channel_create(
        actor=owner_actor,
        kind="email",
        name="Support",
        config={
            "from_address": "support@acme.test",
            "smtp_host": "127.0.0.1",
            "trusted_authserv_id": TRUSTED,
        },
    )
    forged = _mail(f"{TRUSTED}; spf=fail smtp.mailfrom=li@shop.example.cn; dkim=none")
    honest = _mail(
        f"{TRUSTED}; dmarc=pass header.from=bank.example", sender="wang@bank.example", name="Wang"
    )
    # when both mails come in and are processed
    for number, raw in enumerate((forged, honest)):
        ids = deliveries_store(
            channel,
            [
                IncomingDelivery(
                    dedupe_key=f"mail-{number}", body=raw, content_type="message/rfc822"
                )
            ],
            enqueue=False,
        )
        delivery_process(ids[0])
    # then the forged one is flagged where the agent reads it, the authenticated one is not
    pages = {
        conversation.customer.name: owner_client.get(
            f"/inbox/{conversation.public_id}/"
        ).content.decode()
        for conversation in Conversation.objects.select_related("customer")
    }
    assert 'data-testid="sender-unverified"' in pages["Li"]
    assert "Sender not verified" in pages["Li"]
    assert 'data-testid="sender-unverified"' not in pages["Wang"]
