"""Demo products and orders: a small catalog and about twenty orders of the last months on the
demo customers, most of them paid, so the customers' profiles show what they spent. Written
through the services, like real data. Idempotent: skipped once the workspace has products."""

import datetime as dt
import random
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.customers.models import Customer
from huike.sales.models import OrderSource, OrderStatus, PaymentStatus, Product
from huike.sales.orders import OrderData, OrderLineData, ProductData, order_upsert, product_create

ADMIN_EMAIL = "admin@demo.huike.local"
PRODUCTS = (
    ("HK-CRM-STD", "汇客 CRM 标准版（年）", "4800.00"),
    ("HK-CRM-PRO", "汇客 CRM 专业版（年）", "9800.00"),
    ("HK-SEAT", "追加坐席（年）", "600.00"),
    ("HK-WECOM", "企业微信连接器", "1200.00"),
    ("HK-SMS-10K", "短信包 10,000 条", "450.00"),
    ("HK-ONBOARD", "上线实施服务", "3000.00"),
    ("HK-TRAIN", "现场培训（天）", "2000.00"),
    ("HK-SUPPORT", "高级支持（年）", "1500.00"),
)
ORDER_COUNT = 20
# Of the demo orders, this share is paid; the rest are waiting for payment.
PAID_SHARE = 0.8
DAYS_BACK = 180


def orders_demo_seed(workspace_id: int) -> None:
    if Product.objects.filter(workspace_id=workspace_id).exists():
        return
    admin = (
        Membership.objects.select_related("workspace", "role", "user", "team")
        .filter(workspace_id=workspace_id, user__email=ADMIN_EMAIL)
        .first()
    )
    if admin is None:
        return
    actor = Actor.for_membership(admin)
    customers = list(
        Customer.objects.filter(workspace_id=workspace_id, status=Customer.Status.ACTIVE).order_by(
            "pk"
        )[:40]
    )
    rng = random.Random(workspace_id)  # noqa: S311 (sample data, not secrets)
    now = timezone.now()
    with transaction.atomic():
        products = [
            product_create(actor=actor, data=ProductData(sku=sku, name=name, price=Decimal(price)))
            for sku, name, price in PRODUCTS
        ]
        if not customers:
            return
        for number in range(1, ORDER_COUNT + 1):
            customer = rng.choice(customers)
            ordered_at = now - dt.timedelta(
                days=rng.randint(1, DAYS_BACK), hours=rng.randint(0, 23)
            )
            picked = rng.sample(products, rng.randint(1, 3))
            is_paid = rng.random() < PAID_SHARE
            order_upsert(
                actor=actor,
                data=OrderData(
                    external_id=f"DEMO-{number:04d}",
                    customer_id=customer.public_id,
                    lines=[
                        OrderLineData(sku=product.sku, quantity=Decimal(rng.randint(1, 3)))
                        for product in picked
                    ],
                    status=OrderStatus.COMPLETED if is_paid else OrderStatus.CONFIRMED,
                    payment_status=PaymentStatus.PAID if is_paid else PaymentStatus.UNPAID,
                    ordered_at=ordered_at,
                    paid_at=ordered_at + dt.timedelta(hours=rng.randint(1, 48))
                    if is_paid
                    else None,
                    source=OrderSource.MANUAL,
                ),
            )
