"""A rep shares a customer they own with a colleague from the 360 page, on a phone, in Chinese;
the colleague then opens the customer, and loses it again when the share is taken back."""

from typing import Any

import pytest
from django.test import override_settings

from conftest import PASSWORD
from huike.accounts.access import Actor
from huike.customers.services import CustomerData, customer_create
from tests.browser.test_shell import STATIC_SETTINGS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _signed_in(browser: Any, base: str, email: str) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="zh-CN")
    page = context.new_page()
    sign_in(page, base, email, PASSWORD)
    return context, page


@override_settings(**STATIC_SETTINGS)
def test_a_rep_shares_a_customer_with_a_colleague(
    live_server: Any, browser: Any, owner_actor: Actor, make_member: Any
) -> None:
    # given a customer of one rep, whom another rep cannot open
    rep = make_member("rep@acme.test", "sales")
    colleague = make_member("colleague@acme.test", "sales")
    customer = customer_create(actor=owner_actor, data=CustomerData(name="周敏", owner=rep))
    base = live_server.url
    url = f"{base}/customers/{customer.public_id}/"
    other_context, other = _signed_in(browser, base, colleague.user.email)
    assert other.goto(url).status == 404
    errors: list[str] = []
    context, page = _signed_in(browser, base, rep.user.email)
    page.on("pageerror", lambda error: errors.append(str(error)))
    # when the rep shares it from the "shared with" panel
    page.goto(url)
    panel = page.locator("#shares")
    assert "共享" in panel.inner_text()
    panel.locator("select[name=grantee]").select_option(f"member:{colleague.public_id}")
    panel.locator("button[type=submit]").last.click()
    page.wait_for_selector("#shares [data-testid=shares] li form")
    # then the colleague opens it
    assert other.goto(url).status == 200
    assert "周敏" in other.inner_text("main")
    # when the rep stops sharing it, it is gone for the colleague
    page.locator("#shares [data-testid=shares] li form button").click()
    page.wait_for_selector("#shares [data-testid=shares] li.helptext")
    assert other.goto(url).status == 404
    assert page.evaluate("document.documentElement.scrollWidth") <= 376
    assert errors == []
    context.close()
    other_context.close()
