"""Whole flows through real providers and local servers that speak their protocols: a WeCom
contact added by staff (owner set, welcome message sent with the WelcomeCode), an SMS STOP
(consent withdrawn, the next send refused), and an email thread read by IMAP and answered
over SMTP in the same thread."""

import email
import email.policy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client, TestCase
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.channels.base import SendRefused
from huike.channels.intake import contexts_clear
from huike.channels.models import ChannelStaff, InboundDelivery, MessageTemplate
from huike.channels.polling import channel_poll
from huike.channels.providers.wechat.crypto import encrypt, signature
from huike.channels.sending import OutboundContent, message_send
from huike.channels.services import channel_create
from huike.channels.testing import FakePlatform
from huike.channels.tests.email_imap_server import ImapServer
from huike.channels.tests.email_smtp_server import SmtpServer
from huike.customers.models import ConsentRecord, Customer, Event, Identity
from huike.inbox.models import Conversation, Message
from huike.inbox.services import reply_send

PROVIDERS = Path(__file__).resolve().parents[1] / "providers"
CORP_ID = "ww1a2b3c4d5e6f7a8b"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
TOKEN = "QDG6eK"


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    contexts_clear()
    cache.clear()
    yield
    contexts_clear()
    cache.clear()


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    with FakePlatform() as fake:
        yield fake


def _deliver(path: str, body: bytes, query: dict[str, str], content_type: str) -> Any:
    with TestCase.captureOnCommitCallbacks(execute=True):
        return Client().post(
            f"{path}?{'&'.join(f'{k}={v}' for k, v in query.items())}",
            data=body,
            content_type=content_type,
        )


# --- WeCom --------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_contact_added_by_staff_is_owned_by_them_and_welcomed(
    owner_actor: Actor, member: Membership, platform: FakePlatform
) -> None:
    platform.route(
        "GET", "/cgi-bin/gettoken", (200, {"errcode": 0, "access_token": "T", "expires_in": 7200})
    )
    platform.route(
        "POST", "/cgi-bin/externalcontact/send_welcome_msg", (200, {"errcode": 0, "errmsg": "ok"})
    )
    channel = channel_create(
        actor=owner_actor,
        kind="wecom",
        name="WeCom",
        config={
            "corp_id": CORP_ID,
            "agent_id": "1000002",
            "secret": "app-secret",
            "token": TOKEN,
            "encoding_aes_key": AES_KEY,
            "api_base_url": platform.url,
        },
    )
    ChannelStaff.objects.create(
        workspace=channel.workspace, channel=channel, external_id="zhangsan", membership=member
    )
    MessageTemplate.objects.create(
        workspace=channel.workspace,
        name="Welcome",
        purpose=MessageTemplate.Purpose.WELCOME,
        body_zh_hans="{{customer.name}}您好, 欢迎!",
        body_en="Hello {{customer.name}}, welcome!",
    )
    plaintext = (PROVIDERS / "wechat/fixtures/wecom_add_external_contact.xml").read_bytes()
    timestamp = str(int(timezone.now().timestamp()))
    ciphertext = encrypt(AES_KEY, plaintext, CORP_ID)
    body = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>"
    ).encode()
    query = {
        "msg_signature": signature(TOKEN, timestamp, "42", ciphertext),
        "timestamp": timestamp,
        "nonce": "42",
    }

    response = _deliver(f"/hooks/wecom/{channel.public_id}", body, query, "text/xml")

    assert response.status_code == 200
    customer = Customer.objects.get(workspace=channel.workspace)
    assert customer.owner_id == member.pk
    identity = Identity.objects.get(customer=customer)
    assert identity.kind == f"wecom_external_userid:{CORP_ID}"
    event = Event.objects.get(customer=customer)
    assert event.kind == "channel.contact_added"
    assert event.properties["state"] == "spring_fair"  # the attribution of the live code
    [welcome] = platform.calls_to("/cgi-bin/externalcontact/send_welcome_msg")
    assert welcome.json["welcome_code"] == "WELCOMECODE_abc123"
    assert (
        "welcome" in welcome.json["text"]["content"].lower()
        or "欢迎" in welcome.json["text"]["content"]
    )

    # WeCom retries the same callback: nothing new, no second welcome.
    _deliver(f"/hooks/wecom/{channel.public_id}", body, query, "text/xml")
    assert InboundDelivery.objects.filter(channel=channel).count() == 1
    assert len(platform.calls_to("/cgi-bin/externalcontact/send_welcome_msg")) == 1


# --- SMS ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_an_sms_stop_reply_withdraws_consent_and_refuses_the_next_send(
    owner_actor: Actor, platform: FakePlatform
) -> None:
    channel = channel_create(
        actor=owner_actor,
        kind="sms",
        name="SMS",
        config={
            "provider": "aliyun",
            "access_key_id": "id",
            "access_key_secret": "secret",
            "sign_name": "汇客",
            "template_code": "SMS_1",
            "callback_token": "cb-token",
            "api_base_url": platform.url,
        },
    )
    replies = [
        {
            "phone_number": "13912345678",
            "send_time": "2026-12-01 10:05:00",
            "content": "TD",
            "sign_name": "汇客",
            "dest_code": "1234",
            "sequence_id": 1,
        }
    ]

    response = _deliver(
        f"/hooks/sms/{channel.public_id}",
        json.dumps(replies).encode(),
        {"token": "cb-token"},
        "application/json",
    )

    assert response.status_code == 200
    customer = Customer.objects.get(workspace=channel.workspace)
    consent = ConsentRecord.objects.get(customer=customer)
    assert (consent.status, consent.channel) == (ConsentRecord.Status.WITHDRAWN, "sms")
    kinds = set(Event.objects.filter(customer=customer).values_list("kind", flat=True))
    assert kinds == {"message.received", "channel.opted_out", "consent.withdrawn"}
    phone = Identity.objects.get(customer=customer, kind="phone")
    with pytest.raises(SendRefused):
        message_send(
            channel=channel,
            customer=customer,
            identity=phone,
            content=OutboundContent(text="", template="SMS_1"),
        )
    assert not platform.calls


@pytest.mark.django_db
def test_a_wrong_callback_token_stores_nothing(owner_actor: Actor) -> None:
    channel = channel_create(
        actor=owner_actor,
        kind="sms",
        name="SMS",
        config={"provider": "console", "callback_token": "cb-token"},
    )
    body = json.dumps([{"phone_number": "13912345678", "content": "TD", "sequence_id": 1}])

    response = _deliver(
        f"/hooks/sms/{channel.public_id}", body.encode(), {"token": "nope"}, "application/json"
    )

    assert response.status_code in (401, 403)
    assert not InboundDelivery.objects.exists()


# --- email ----------------------------------------------------------------------------------
ROOT = b"""From: Lin Wei <lin@example.cn>
To: sales@huike.example
Subject: Quote for 200 units
Date: Tue, 01 Dec 2026 09:00:00 +0800
Message-ID: <root-1@mail.example.cn>
Content-Type: text/plain; charset=utf-8

Could you send a quote?
"""
FOLLOW_UP = b"""From: Lin Wei <lin@example.cn>
To: sales@huike.example
Subject: Re: Quote for 200 units
Date: Tue, 01 Dec 2026 10:00:00 +0800
Message-ID: <second-2@mail.example.cn>
In-Reply-To: <root-1@mail.example.cn>
References: <root-1@mail.example.cn>
Content-Type: text/plain; charset=utf-8

Also, delivery by Friday?
"""


@pytest.mark.django_db
def test_an_email_thread_read_by_imap_is_one_conversation_answered_in_thread(
    owner_actor: Actor,
) -> None:
    with ImapServer() as imap, SmtpServer() as smtp:
        channel = channel_create(
            actor=owner_actor,
            kind="email",
            name="Sales mailbox",
            config={
                "from_address": "sales@huike.example",
                "smtp_host": "127.0.0.1",
                "smtp_port": str(smtp.port),
                "smtp_security": "none",
                "imap_host": "127.0.0.1",
                "imap_port": str(imap.port),
                "imap_security": "none",
                "imap_username": imap.mailbox.username,
                "imap_password": imap.mailbox.password,
            },
        )
        imap.mailbox.add(1, ROOT)
        with TestCase.captureOnCommitCallbacks(execute=True):
            assert channel_poll(channel) == 1
        imap.mailbox.add(2, FOLLOW_UP)
        channel.refresh_from_db()
        with TestCase.captureOnCommitCallbacks(execute=True):
            assert channel_poll(channel) == 1
        channel.refresh_from_db()
        with TestCase.captureOnCommitCallbacks(execute=True):
            assert channel_poll(channel) == 0  # the cursor moved on

        conversation = Conversation.objects.get(workspace=channel.workspace)
        assert conversation.thread_key == "<root-1@mail.example.cn>"
        assert conversation.subject == "Quote for 200 units"
        assert Message.objects.filter(conversation=conversation).count() == 2

        with TestCase.captureOnCommitCallbacks(execute=True):
            reply_send(actor=owner_actor, conversation=conversation, text="Yes, by Friday.")

        [sent] = smtp.handler.received
        mail = email.message_from_bytes(sent.content, policy=email.policy.default)
        assert sent.rcpt_tos == ["lin@example.cn"]
        assert mail["In-Reply-To"] == "<second-2@mail.example.cn>"
        assert "<root-1@mail.example.cn>" in mail["References"]
        assert mail["Subject"] == "Re: Quote for 200 units"
        assert "Yes, by Friday." in mail.get_body(preferencelist=("plain",)).get_content()


@pytest.mark.django_db
def test_a_sender_whose_only_address_is_junk_is_recorded_without_a_customer(
    owner_actor: Actor,
) -> None:
    channel = channel_create(
        actor=owner_actor,
        kind="sms",
        name="SMS",
        config={
            "provider": "aliyun",
            "access_key_id": "i",
            "access_key_secret": "s",
            "sign_name": "汇客",
            "template_code": "SMS_1",
            "callback_token": "cb",
        },
    )
    junk = [
        {
            "phone_number": "13800138000",
            "content": "hi",
            "sequence_id": 9,
            "send_time": "2026-12-01 10:05:00",
        }
    ]

    response = _deliver(
        f"/hooks/sms/{channel.public_id}",
        json.dumps(junk).encode(),
        {"token": "cb"},
        "application/json",
    )

    assert response.status_code == 200
    delivery = InboundDelivery.objects.get()
    assert delivery.status == InboundDelivery.Status.PROCESSED
    assert delivery.items == 0
    assert "no usable identity" in delivery.error
    assert not Customer.objects.exists()
