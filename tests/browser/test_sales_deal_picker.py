"""On a phone, a rep creating a deal finds a customer who is not among the few the select
lists by typing in the picker's search box, picks them and creates the deal for them."""

from typing import Any

import pytest
from django.test import override_settings

from conftest import PASSWORD
from huike.accounts.access import Actor
from huike.customers.services import CustomerData, customer_create
from huike.sales.deals import pipeline_default
from huike.sales.models import Deal
from tests.browser.test_shell import STATIC_SETTINGS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@override_settings(**STATIC_SETTINGS)
def test_a_customer_beyond_the_listed_ones_is_found_by_search(
    live_server: Any, browser: Any, owner_actor: Actor
) -> None:
    # given a customer older than the 200 the select lists
    target = customer_create(actor=owner_actor, data=CustomerData(name="王小明 Target"))
    for number in range(205):
        customer_create(actor=owner_actor, data=CustomerData(name=f"Customer {number}"))
    pipeline_default(owner_actor.workspace)
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    base = live_server.url
    sign_in(page, base, "owner@acme.test", PASSWORD)
    page.goto(f"{base}/sales/deals/new/")
    assert page.locator(f"select[name=customer] option[value='{target.public_id}']").count() == 0
    # when they search for them and pick them
    page.fill("[data-testid=picker-search-customer]", "王小明")
    page.wait_for_selector(
        f"select[name=customer] option[value='{target.public_id}']", state="attached"
    )
    page.select_option("select[name=customer]", str(target.public_id))
    page.fill("input[name=name]", "Picked deal")
    page.click("main form.wide-form button[type=submit]")
    page.wait_for_url(f"{base}/sales/deals/*/")
    # then the deal is theirs, and the page fits the phone
    assert Deal.objects.get(name="Picked deal").customer_id == target.pk
    assert page.evaluate("document.documentElement.scrollWidth") <= 376
    assert errors == []
    context.close()
