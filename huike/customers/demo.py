"""Sample customers for the demo workspace: people known on several channels, with tags,
a company, consent, a purchase history, a review-queue pair — enough to see every page filled.
Written through the services, like real data. Idempotent: skipped once the workspace has
customers."""

import datetime as dt
import random

from django.db import transaction
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.customers.identities import identity_key
from huike.customers.ingest import events_ingest
from huike.customers.models import Customer
from huike.customers.resolution import identity_resolve
from huike.customers.services import (
    CustomerData,
    company_create,
    consent_record,
    custom_field_create,
    customer_create,
    customer_tags_add,
    tag_create,
    tag_group_create,
)

ADMIN_EMAIL = "admin@demo.huike.local"
OWNER_EMAILS = ("sales@demo.huike.local", "manager@demo.huike.local")
FAMILY_NAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN_NAMES = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "磊",
    "洋",
    "艳",
    "勇",
    "军",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
)
CUSTOMER_COUNT = 40
STAGES = ("visitor", "lead", "lead", "customer", "customer", "loyal", "churned")
PAGES = ("/", "/pricing", "/products/crm", "/blog/scrm-guide", "/contact")


def customers_demo_seed(workspace_id: int) -> None:
    if Customer.objects.filter(workspace_id=workspace_id).exists():
        return
    admin = Membership.objects.select_related("workspace", "role", "user", "team").get(
        workspace_id=workspace_id, user__email=ADMIN_EMAIL
    )
    actor = Actor.for_membership(admin)
    owners = list(
        Membership.objects.select_related("team").filter(
            workspace_id=workspace_id, user__email__in=OWNER_EMAILS
        )
    )
    # The same sample every time, so screenshots and the docs match.
    rng = random.Random(2026)  # noqa: S311 - sample data, not secrets
    now = timezone.now()
    with transaction.atomic():
        group = tag_group_create(actor=actor, name="价值 Value", color="#b45309")
        tags = [
            tag_create(actor=actor, name="VIP", color="#b45309", group=group),
            tag_create(actor=actor, name="高意向 Hot lead", color="#dc2626", group=group),
            tag_create(actor=actor, name="新客 New", color="#2563eb"),
            tag_create(actor=actor, name="老客户 Returning", color="#059669"),
        ]
        custom_field_create(
            actor=actor,
            key="membership_level",
            label="会员等级 Membership",
            type="choice",
            choices=["普通 Basic", "银卡 Silver", "金卡 Gold"],
        )
        company = company_create(
            actor=actor,
            data={
                "name": "上海云帆科技有限公司",
                "domain": "yunfan.example.cn",
                "industry": "SaaS",
            },
        )
        customers = []
        for number in range(CUSTOMER_COUNT):
            owner = owners[number % len(owners)] if owners and number % 4 else None
            name = (
                rng.choice(FAMILY_NAMES) + rng.choice(GIVEN_NAMES) + rng.choice(("", *GIVEN_NAMES))
            )
            customer = customer_create(
                actor=actor,
                data=CustomerData(
                    name=name,
                    lifecycle_stage=rng.choice(STAGES),
                    owner=owner,
                    team=owner.team if owner else None,
                    company=company if number % 7 == 0 else None,
                    source_channel=rng.choice(("wechat_oa", "webchat", "email", "douyin")),
                    custom_fields={"membership_level": rng.choice(["普通 Basic", "金卡 Gold"])},
                    birthday=dt.date(1970 + number % 30, 1 + number % 12, 1 + number % 28),
                ),
                identity_keys=[
                    identity_key("phone", f"1391234{5000 + number:04d}"),
                    identity_key("email", f"demo.customer{number}@example.cn"),
                    identity_key("wechat_openid", f"oDemo{number:04d}"),
                ],
            )
            customers.append(customer)
            customer_tags_add(
                actor=actor, customers=[customer], tags=rng.sample(tags, k=rng.randint(0, 2))
            )
            if number % 3 == 0:
                consent_record(
                    actor=actor,
                    customer=customer,
                    purpose="marketing",
                    status="granted",
                    channel="email",
                    source="web form",
                    evidence="Ticked “send me offers” on the signup form",
                )
        items = []
        for number, _customer in enumerate(customers):
            for visit in range(rng.randint(1, 6)):
                occurred = now - dt.timedelta(days=rng.randint(0, 80), minutes=rng.randint(0, 600))
                items.append(
                    {
                        "id": f"demo-view-{number}-{visit}",
                        "kind": "page.viewed",
                        "occurred_at": occurred.isoformat(),
                        "channel": "web",
                        "identities": {"wechat_openid": f"oDemo{number:04d}"},
                        "properties": {"path": rng.choice(PAGES)},
                    }
                )
            for order in range(rng.randint(0, 3)):
                occurred = now - dt.timedelta(days=rng.randint(0, 300))
                items.append(
                    {
                        "id": f"demo-order-{number}-{order}",
                        "kind": "order.paid",
                        "occurred_at": occurred.isoformat(),
                        "channel": "shop",
                        "identities": {"phone": f"1391234{5000 + number:04d}"},
                        "properties": {"amount": str(rng.randint(99, 4999)), "currency": "CNY"},
                    }
                )
        events_ingest(actor=actor, items=items, source="demo")
        # One person who wrote from a second address: the review queue has something to decide.
        identity_resolve(
            workspace_id=workspace_id,
            identity_keys=[
                identity_key("email", "demo.customer1@example.cn"),
                identity_key("phone", "13912345002"),
            ],
            source="demo",
        )
