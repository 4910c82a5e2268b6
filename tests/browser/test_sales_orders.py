"""The order pages in headless Chromium: marking an order paid from its page; the catalog,
order list, order page and import page fitting a 375 px phone screen (no sideways scroll); and
importing an order file in Chinese through the import wizard (tasks run at once: see
conftest's TASKS)."""

from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.accounts.services import workspace_create
from huike.customers.models import Customer, ImportJob
from huike.customers.tests.test_import_support import csv_bytes, import_storage  # noqa: F401
from huike.sales import orders
from huike.sales.models import Order
from huike.sales.orders import OrderData, OrderLineData, ProductData
from tests.browser.test_shell import STATIC_SETTINGS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "owner@orders.test"
PASSWORD = "correct-horse-battery-42"
PHONE = {"width": 375, "height": 800}


def _seed() -> tuple[Actor, Customer]:
    workspace_create(slug="orders", name="Orders Co", owner_email=EMAIL, owner_password=PASSWORD)
    membership = Membership.objects.select_related("workspace", "role", "user").get(
        user__email=EMAIL
    )
    actor = Actor.for_membership(membership)
    customer = Customer.objects.create(workspace=actor.workspace, name="欧阳娜娜 Nana Ouyang")
    orders.product_create(
        actor=actor,
        data=ProductData(sku="HK-CRM-PRO-2027-ANNUAL", name="汇客 CRM 专业版（年）", price="9800"),
    )
    return actor, customer


@override_settings(**STATIC_SETTINGS)
def test_mark_paid_on_a_phone_and_every_order_page_fits(live_server: Any, browser: Any) -> None:
    # given an unpaid order with a long line
    actor, customer = _seed()
    order, _created = orders.order_upsert(
        actor=actor,
        data=OrderData(
            external_id="TMALL-20261202-000012345678",
            customer_id=customer.public_id,
            lines=[OrderLineData(sku="HK-CRM-PRO-2027-ANNUAL", quantity="2")],
        ),
    )
    context = browser.new_context(viewport=PHONE, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    base = live_server.url
    sign_in(page, base, EMAIL, PASSWORD)
    # when the payment is marked on the order's page
    page.goto(f"{base}/sales/orders/{order.public_id}/")
    page.select_option("select[name=payment_status]", "paid")
    page.click("text=Save payment")
    # then
    page.wait_for_selector("[data-testid=order-payment]:has-text('Paid')")
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent) == (1, Decimal("19600.00"))
    # and no page scrolls sideways at phone width
    for path in (
        "/sales/orders/",
        f"/sales/orders/{order.public_id}/",
        "/sales/products/",
        "/customers/imports/new/?kind=orders",
    ):
        page.goto(f"{base}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide"
    assert errors == []
    context.close()


ORDER_FILE = csv_bytes(
    [
        ["订单号", "手机", "客户", "商品编码", "商品名称", "数量", "单价", "支付状态"],
        ["TB-1001", "13912345678", "张三", "HK-CRM-PRO-2027-ANNUAL", "", "1", "", "paid"],
        ["TB-1001", "13912345678", "张三", "", "礼品包装", "1", "20", "paid"],
        ["TB-1002", "13912345679", "李四", "", "茶叶", "不知道", "30", ""],
    ]
)


@pytest.mark.usefixtures("import_storage")
@override_settings(**STATIC_SETTINGS)
def test_an_order_file_is_imported_in_chinese_on_a_phone(live_server: Any, browser: Any) -> None:
    # given the owner, signed in on a phone, in Chinese
    _seed()
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    base = live_server.url
    sign_in(page, base, EMAIL, PASSWORD)
    # when they follow "import orders" on the order list and upload the file
    page.goto(f"{base}/sales/orders/")
    page.click("[data-testid=order-import]")
    assert page.input_value("select[name=kind]") == "orders"
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "淘宝订单.csv", "mimeType": "text/csv", "buffer": ORDER_FILE}],
    )
    page.click("[data-testid=upload]")
    page.wait_for_selector("[data-testid=mapping-form]")
    # then the columns are mapped from their Chinese names
    assert [page.input_value(f"select[name=column_{n}]") for n in range(8)] == [
        "order_id",
        "phone",
        "customer_name",
        "sku",
        "name",
        "quantity",
        "unit_price",
        "payment_status",
    ]
    # when they dry run, then start
    page.click("[data-testid=dry-run]")
    result = page.wait_for_selector("[data-testid=dry-run-result]")
    assert "已检查 3 行" in result.inner_text()
    assert not Order.objects.exists()
    page.click("[data-testid=start]")
    page.wait_for_selector("[data-testid=progress]")
    # then the order with both lines is written, the unreadable one reported, and the page
    # leads back to the orders
    assert page.inner_text("[data-testid=count-created]") == "2"
    assert page.inner_text("[data-testid=count-errors]") == "1"
    assert page.is_visible("[data-testid=error-file]")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.click("[data-testid=records-link]")
    page.wait_for_url(f"{base}/sales/orders/")
    order = Order.objects.get()
    assert (order.external_id, order.total, order.payment_status) == (
        "TB-1001",
        Decimal("9820.00"),
        "paid",
    )
    assert page.is_visible("text=TB-1001")
    assert ImportJob.objects.get().kind == "orders"
    assert errors == []
    context.close()
