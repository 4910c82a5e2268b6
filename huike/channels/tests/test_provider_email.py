"""The email provider against a real SMTP server (aiosmtpd), a real IMAP server on 127.0.0.1
and constructed MIME fixtures."""

import datetime as dt
import email.policy
import hashlib
import hmac
from email.parser import BytesParser
from pathlib import Path
from urllib.parse import urlencode

import pytest

from huike.channels.base import (
    ChannelContext,
    InboundMessage,
    OutboundMessage,
    SignatureError,
    StoredDelivery,
    WebhookRequest,
)
from huike.channels.providers.email import PROVIDERS
from huike.channels.providers.email.provider import EmailProvider
from huike.channels.tests.email_imap_server import ImapServer
from huike.channels.tests.email_smtp_server import SmtpServer, free_port
from huike.core.tasks import PermanentError, RetryableError

FIXTURES = Path(__file__).resolve().parents[1] / "providers" / "email" / "fixtures"
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
SIGNING_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"

provider = EmailProvider()


def channel(**config: str) -> ChannelContext:
    base = {
        "from_address": "sales@huike.example",
        "from_name": "Huike Sales",
        "smtp_host": "127.0.0.1",
        "smtp_security": "none",
        "inbound_signing_key": SIGNING_KEY,
    }
    return ChannelContext(
        channel_id=1,
        public_id="ch_email",
        workspace_id=1,
        kind="email",
        name="Sales mailbox",
        config={**base, **config},
        webhook_url="https://crm.example.com/hooks/ch_email",
    )


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def stored(raw: bytes, key: str = "k") -> StoredDelivery:
    return StoredDelivery(
        id=1, dedupe_key=key, body=raw, content_type="message/rfc822", meta={}, received_at=NOW
    )


def parse(raw: bytes, key: str = "k") -> InboundMessage:
    (item,) = provider.parse(channel(), stored(raw, key))
    assert isinstance(item, InboundMessage)
    return item


def test_package_exports_one_email_provider() -> None:
    assert [p.kind for p in PROVIDERS] == ["email"]
    assert PROVIDERS[0].polls is True


# --- SMTP ------------------------------------------------------------------------------------
def test_send_delivers_text_and_html_with_threading_headers() -> None:
    with SmtpServer() as server:
        # given
        ch = channel(smtp_port=str(server.port))
        message = OutboundMessage(
            to="renee@example.com",
            subject="Re: Angebot",
            text="Here is the contract.",
            html="<p>Here is the <b>contract</b>.</p>",
            reference="dlv_01J0ABC",
            properties={
                "in_reply_to": "<CAFx3=reply-2@mail.example.com>",
                "references": ["<root-1@mail.example.com>", "<dlv_01HZX@huike.example>"],
            },
        )
        # when
        result = provider.send(ch, message)
        # then
        (received,) = server.handler.received
    assert result.provider_message_id == "<dlv_01J0ABC@huike.example>"
    assert result.status == "sent"
    assert received.mail_from == "sales@huike.example"
    assert received.rcpt_tos == ["renee@example.com"]
    sent = BytesParser(policy=email.policy.default).parsebytes(received.content)
    assert sent["Message-ID"] == "<dlv_01J0ABC@huike.example>"
    assert sent["In-Reply-To"] == "<CAFx3=reply-2@mail.example.com>"
    assert sent["References"] == (
        "<root-1@mail.example.com> <dlv_01HZX@huike.example> <CAFx3=reply-2@mail.example.com>"
    )
    assert sent["From"] == "Huike Sales <sales@huike.example>"
    assert sent["Subject"] == "Re: Angebot"
    assert sent.get_body(("plain",)).get_content().strip() == "Here is the contract."
    assert "<b>contract</b>" in sent.get_body(("html",)).get_content()


def test_send_html_only_gets_a_text_part() -> None:
    with SmtpServer() as server:
        provider.send(
            channel(smtp_port=str(server.port)),
            OutboundMessage(to="a@example.com", subject="Hi", html="<p>Fish &amp; chips</p>"),
        )
        (received,) = server.handler.received
    sent = BytesParser(policy=email.policy.default).parsebytes(received.content)
    assert sent.get_body(("plain",)).get_content().strip() == "Fish & chips"


def test_send_451_is_retryable() -> None:
    with SmtpServer() as server:
        server.handler.answer = "451"
        with pytest.raises(RetryableError, match="451") as error:
            provider.send(
                channel(smtp_port=str(server.port)), OutboundMessage(to="a@example.com", text="x")
            )
        assert server.handler.received == []
    assert "try again later" in str(error.value)


def test_send_550_is_permanent_with_the_servers_message() -> None:
    with SmtpServer() as server:
        server.handler.answer = "550"
        with pytest.raises(PermanentError) as error:
            provider.send(
                channel(smtp_port=str(server.port)),
                OutboundMessage(to="nobody@example.com", text="x"),
            )
    assert str(error.value) == (
        "SMTP 550: 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown"
    )


def test_send_to_an_unreachable_server_is_retryable() -> None:
    with pytest.raises(RetryableError):
        provider.send(
            channel(smtp_port=str(free_port())), OutboundMessage(to="a@example.com", text="x")
        )


def test_connection_test_reports_smtp_login() -> None:
    with SmtpServer() as server:
        ok = provider.test_connection(channel(smtp_port=str(server.port)))
    failed = provider.test_connection(channel(smtp_port=str(free_port())))
    assert (ok.ok, ok.message) == (True, "Logged in to the SMTP server.")
    assert failed.ok is False
    assert failed.message.startswith("Could not log in to the SMTP server:")


# --- IMAP ------------------------------------------------------------------------------------
def imap_channel(server: ImapServer, **extra: str) -> ChannelContext:
    config = {
        "imap_host": "127.0.0.1",
        "imap_port": str(server.port),
        "imap_security": "none",
        "imap_username": "agent@huike.example",
        "imap_password": "imap-secret",
    }
    return channel(**{**config, **extra})


def test_poll_reads_new_messages_and_continues_from_the_cursor() -> None:
    with ImapServer() as server:
        # given
        server.mailbox.uidvalidity = 777
        server.mailbox.add(3, fixture("gbk_plain.eml"))
        server.mailbox.add(7, fixture("auto_reply.eml"))
        ch = imap_channel(server)
        # when
        first = provider.poll(ch, "")
        again = provider.poll(ch, first.cursor)
        server.mailbox.add(9, fixture("utf8_reply_html.eml"))
        later = provider.poll(ch, again.cursor)
    # then
    assert [d.dedupe_key for d in first.deliveries] == [
        "<20261201101500.gbk01@mail.example.cn>",
        "uid:777:7",  # the auto-reply has no Message-ID
    ]
    assert first.deliveries[0].body == fixture("gbk_plain.eml")
    assert first.deliveries[0].content_type == "message/rfc822"
    assert first.cursor == "777:7"
    assert (again.deliveries, again.cursor) == ([], "777:7")
    assert [d.dedupe_key for d in later.deliveries] == ["<CAFx3=reply-2@mail.example.com>"]
    assert later.cursor == "777:9"
    assert "EXAMINE" in server.mailbox.commands


def test_poll_rereads_the_folder_when_uidvalidity_changes() -> None:
    with ImapServer() as server:
        server.mailbox.uidvalidity = 2
        server.mailbox.add(1, fixture("gbk_plain.eml"))
        server.mailbox.add(2, fixture("utf8_reply_html.eml"))
        result = provider.poll(imap_channel(server), "1:40")
    assert len(result.deliveries) == 2
    assert result.cursor == "2:2"


def test_poll_takes_at_most_a_batch() -> None:
    with ImapServer() as server:
        for uid in range(1, 106):
            server.mailbox.add(uid, b"From: a@example.com\r\nSubject: n\r\n\r\nx\r\n")
        first = provider.poll(imap_channel(server), "")
        second = provider.poll(imap_channel(server), first.cursor)
    assert (len(first.deliveries), first.cursor) == (100, "1:100")
    assert (len(second.deliveries), second.cursor) == (5, "1:105")
    assert second.deliveries[0].dedupe_key == "uid:1:101"


def test_poll_without_imap_returns_nothing() -> None:
    result = provider.poll(channel(), "5:10")
    assert (result.deliveries, result.cursor) == ([], "5:10")


def test_poll_with_a_wrong_password_is_permanent() -> None:
    with ImapServer() as server, pytest.raises(PermanentError, match="IMAP login refused"):
        provider.poll(imap_channel(server, imap_password="wrong"), "")


def test_connection_test_logs_in_to_smtp_and_imap() -> None:
    with SmtpServer() as smtp_server, ImapServer() as imap_server:
        ok = provider.test_connection(imap_channel(imap_server, smtp_port=str(smtp_server.port)))
        bad = provider.test_connection(
            imap_channel(imap_server, smtp_port=str(smtp_server.port), imap_password="nope")
        )
    assert (ok.ok, ok.message) == (True, "Logged in to the SMTP and IMAP servers.")
    assert bad.ok is False
    assert bad.message.startswith("Could not log in to the IMAP server:")


# --- Mailgun route ---------------------------------------------------------------------------
def mailgun_request(mime: bytes, *, timestamp: int, signature: str | None = None) -> WebhookRequest:
    token = "c3d1f0e9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8"
    expected = hmac.new(
        SIGNING_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()
    form = {
        "timestamp": str(timestamp),
        "token": token,
        "signature": expected if signature is None else signature,
        "recipient": "sales@huike.example",
        "body-mime": mime.decode("utf-8"),
    }
    return WebhookRequest(
        method="POST",
        query={},
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=urlencode(form).encode(),
        received_at=NOW,
    )


def multipart_request(mime: bytes, timestamp: int) -> WebhookRequest:
    token = "t" * 50
    signature = hmac.new(
        SIGNING_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()
    parts = []
    for name, value in [
        ("timestamp", str(timestamp).encode()),
        ("token", token.encode()),
        ("signature", signature.encode()),
        ("body-mime", mime),
    ]:
        parts.append(
            b'--XyZ\r\nContent-Disposition: form-data; name="'
            + name.encode()
            + b'"\r\n\r\n'
            + value
            + b"\r\n"
        )
    body = b"".join(parts) + b"--XyZ--\r\n"
    return WebhookRequest(
        method="POST",
        query={},
        headers={"content-type": "multipart/form-data; boundary=XyZ"},
        body=body,
        received_at=NOW,
    )


def test_mailgun_valid_signature_is_accepted_and_split_by_message_id() -> None:
    request = mailgun_request(fixture("utf8_reply_html.eml"), timestamp=int(NOW.timestamp()) - 30)
    provider.verify(channel(), request)
    (delivery,) = provider.deliveries(channel(), request)
    assert delivery.dedupe_key == "<CAFx3=reply-2@mail.example.com>"
    assert delivery.content_type == "message/rfc822"
    assert parse(delivery.body).subject == "Re: Angebot für Sie ✓"
    assert provider.acknowledge(channel(), request, 1).status == 200


def test_mailgun_multipart_form_is_read() -> None:
    request = multipart_request(fixture("gbk_plain.eml"), int(NOW.timestamp()))
    provider.verify(channel(), request)
    (delivery,) = provider.deliveries(channel(), request)
    assert delivery.body == fixture("gbk_plain.eml")


def test_mailgun_tampered_signature_is_refused() -> None:
    request = mailgun_request(
        fixture("gbk_plain.eml"), timestamp=int(NOW.timestamp()), signature="0" * 64
    )
    with pytest.raises(SignatureError) as error:
        provider.verify(channel(), request)
    assert error.value.status == 403


def test_mailgun_expired_timestamp_is_refused() -> None:
    request = mailgun_request(fixture("gbk_plain.eml"), timestamp=int(NOW.timestamp()) - 301)
    with pytest.raises(SignatureError, match="window") as error:
        provider.verify(channel(), request)
    assert error.value.status == 403


def test_mailgun_without_a_signing_key_or_signature_is_unauthorized() -> None:
    request = mailgun_request(fixture("gbk_plain.eml"), timestamp=int(NOW.timestamp()))
    with pytest.raises(SignatureError) as no_key:
        provider.verify(channel(inbound_signing_key=""), request)
    unsigned = mailgun_request(
        fixture("gbk_plain.eml"), timestamp=int(NOW.timestamp()), signature=""
    )
    with pytest.raises(SignatureError) as no_signature:
        provider.verify(channel(), unsigned)
    assert (no_key.value.status, no_signature.value.status) == (401, 401)


# --- parsing -----------------------------------------------------------------------------------
def test_parse_gbk_mail_declared_gb2312() -> None:
    message = parse(fixture("gbk_plain.eml"))
    assert message.sender.identity_kind == "email"
    assert message.sender.identity_value == "zhang.wei@example.cn"
    assert message.sender.name == "张伟"
    assert message.subject == "询价：纪念版"
    assert message.text == "您好，我想咨询朱镕基纪念版的价格。\n谢谢！"
    assert message.external_id == "<20261201101500.gbk01@mail.example.cn>"
    assert message.thread_key == "<20261201101500.gbk01@mail.example.cn>"
    assert message.sent_at == dt.datetime(2026, 12, 1, 2, 15, tzinfo=dt.UTC)
    assert message.html == ""


def test_parse_utf8_reply_threads_on_the_root_and_lists_attachments() -> None:
    message = parse(fixture("utf8_reply_html.eml"))
    assert message.sender.name == "Renée Müller"
    assert message.text.startswith("Thanks, the offer looks good — see the attached contract.")
    assert message.thread_key == "<root-1@mail.example.com>"
    assert message.properties == {
        "message_id": "<CAFx3=reply-2@mail.example.com>",
        "in_reply_to": "<dlv_01HZX@huike.example>",
        "references": ["<root-1@mail.example.com>", "<dlv_01HZX@huike.example>"],
    }
    assert [(a.kind, a.name, a.mime_type, a.size, a.media_id) for a in message.attachments] == [
        ("image", "pixel.png", "image/png", 70, "4"),
        ("file", "Vertrag.pdf", "application/pdf", 37, "5"),
    ]


def test_parse_sanitizes_html() -> None:
    html = parse(fixture("utf8_reply_html.eml")).html
    assert "<script" not in html
    assert "alert(" not in html
    assert "onerror" not in html
    assert "onload" not in html
    assert "javascript:" not in html
    assert "<style" not in html
    assert "<iframe" not in html
    assert "<p>Thanks, the <b>offer</b> looks good.</p>" in html
    assert '<img src="https://cdn.example.com/logo.png" alt="logo">' in html
    assert '<a href="https://example.com/terms" rel="noopener noreferrer">terms</a>' in html


def test_parse_auto_reply_is_marked_and_threads_on_in_reply_to() -> None:
    message = parse(fixture("auto_reply.eml"), key="uid:777:7")
    assert message.properties["auto_submitted"] is True
    assert message.thread_key == "<dlv_01HZY@huike.example>"
    assert message.external_id == "uid:777:7"
    assert message.text == "I am out of the office until Monday."


def test_parse_without_from_is_rejected() -> None:
    with pytest.raises(ValueError, match="From"):
        parse(b"Subject: nobody\r\n\r\nhello\r\n")


def test_validate_config_names_bad_fields() -> None:
    errors = provider.validate_config(
        {"from_address": "not-an-address", "smtp_security": "tls", "smtp_port": "99999"}
    )
    assert errors == {
        "from_address": "Enter a valid email address.",
        "smtp_security": "Choose ssl, starttls or none.",
        "smtp_port": "Enter a port number between 1 and 65535.",
    }
    assert provider.validate_config({"from_address": "a@example.com"}) == {}


def test_poll_of_an_unreachable_server_is_retryable() -> None:
    unreachable = channel(
        imap_host="127.0.0.1", imap_port=str(free_port()), imap_security="none", imap_username="a"
    )
    with pytest.raises(RetryableError, match=r"IMAP 127\.0\.0\.1"):
        provider.poll(unreachable, "1:1")
