"""Sample channels and conversations for the demo workspace: a website chat (its widget can be
tried from the channel's page), an SMS channel on the console provider, a welcome template,
canned replies, and conversations that arrived through the real pipeline (inbound log →
identity resolution → timeline → inbox). Idempotent: skipped once the workspace has channels."""

import json

from django.db import transaction

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.channels.base import IncomingDelivery
from huike.channels.intake import deliveries_store
from huike.channels.models import Channel
from huike.channels.processing import delivery_process
from huike.channels.services import channel_create, template_create
from huike.inbox.configure import canned_reply_create
from huike.inbox.models import Conversation
from huike.inbox.services import note_add, reply_send

ADMIN_EMAIL = "admin@demo.huike.local"
# (visitor id, name, messages)
VISITORS = (
    ("5d41402abc4b2a76b9719d911017c592", "", ("你好，请问今天下单能发货吗？", "地址在杭州")),
    ("7d793037a0760186574b0282f2f435e7", "", ("Hi, do you ship to Singapore?",)),
    ("9e107d9d372bb6826bd81d3542a419d6", "", ("会员积分怎么兑换？",)),
)


def _visitor_message(channel: Channel, visitor_id: str, number: int, text: str) -> None:
    frame = {
        "type": "message",
        "visitor_id": visitor_id,
        "client_id": f"demo{number:06d}",
        "text": text,
    }
    [delivery_id] = deliveries_store(
        channel,
        [
            IncomingDelivery(
                dedupe_key=f"{visitor_id}:demo{number:06d}",
                body=json.dumps(frame, ensure_ascii=False).encode(),
                content_type="application/json",
            )
        ],
        enqueue=False,
    )
    delivery_process(delivery_id)


def inbox_demo_seed(workspace_id: int) -> None:
    if Channel.objects.filter(workspace_id=workspace_id).exists():
        return
    admin = Membership.objects.select_related("workspace", "role", "user", "team").get(
        workspace_id=workspace_id, user__email=ADMIN_EMAIL
    )
    actor = Actor.for_membership(admin)
    with transaction.atomic():
        webchat = channel_create(
            actor=actor,
            kind="webchat",
            name="官网在线聊天 Website chat",
            config={"welcome_text": "您好！有什么可以帮您？ Hello! How can we help?"},
        )
        channel_create(
            actor=actor,
            kind="sms",
            name="短信 SMS (console)",
            config={"provider": "console"},
        )
        template_create(
            actor=actor,
            data={
                "name": "欢迎语 Welcome",
                "purpose": "welcome",
                "body_zh_hans": "{{customer.first_name}}您好，欢迎关注{{workspace.name}}！",
                "body_en": "Hello {{customer.first_name}}, welcome to {{workspace.name}}!",
            },
        )
        template_create(
            actor=actor,
            data={
                "name": "生日祝福 Birthday",
                "purpose": "birthday",
                "body_zh_hans": "{{customer.first_name}}，生日快乐！送您一张生日券。",
                "body_en": "Happy birthday, {{customer.first_name}}! A birthday voucher is yours.",
            },
        )
        canned_reply_create(
            actor=actor,
            shortcut="thanks",
            title="感谢 Thanks",
            body_zh_hans="感谢您的耐心等待，{{customer.first_name}}！",
            body_en="Thank you for waiting, {{customer.first_name}}!",
        )
        canned_reply_create(
            actor=actor,
            shortcut="shipping",
            title="发货时间 Shipping",
            body_zh_hans="下午4点前下单当天发货，一般2-3天送达。",
            body_en="Orders placed before 4 pm ship the same day and arrive in 2-3 days.",
        )
        number = 0
        for visitor_id, _name, texts in VISITORS:
            for text in texts:
                number += 1
                _visitor_message(webchat, visitor_id, number, text)
        first = (
            Conversation.objects.filter(workspace_id=workspace_id, channel=webchat)
            .order_by("created_at", "pk")
            .first()
        )
        if first is not None:
            reply_send(actor=actor, conversation=first, text="您好，今天16点前下单当天发货。")
            note_add(actor=actor, conversation=first, text="老客户，优先处理。")
