"""The order pages in headless Chromium: marking an order paid from its page, and the catalog,
order list, order page and import page fitting a 375 px phone screen (no sideways scroll)."""

from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.accounts.services import workspace_create
from huike.customers.models import Customer
from huike.sales import orders
from huike.sales.orders import OrderData, OrderLineData, ProductData
from tests.browser.test_shell import STATIC_SETTINGS

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


def _sign_in(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/account/login/")
    page.fill("input[name=username]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base_url}/")


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
    _sign_in(page, base)
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
        "/sales/orders/import/",
    ):
        page.goto(f"{base}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide"
    assert errors == []
    context.close()
