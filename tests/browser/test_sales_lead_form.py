"""A visitor fills in the lead form embedded with its one-line snippet on a shop's own page
(another origin, on a phone), and the lead appears in the sales rep's list with its campaign."""

from typing import Any

import pytest

from conftest import PASSWORD
from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.sales.models import Lead
from huike.sales.web_forms import WebFormData, web_form_create
from tests.browser.test_webchat import shop_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Waits for things to appear (not a measurement): generous for a loaded CI machine.
WAIT_MS = 8000


def _shop_page(snippet: str, lang: str) -> str:
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Shop</title></head><body><h1>Our shop</h1><p>Ask us for a quote.</p>"
        f"{snippet}</body></html>"
    )


def test_visitor_submits_the_embedded_form_and_the_lead_appears(
    live_server: Any, browser: Any, owner: Membership, owner_actor: Actor
) -> None:
    pages: dict[str, str] = {}
    with shop_server(pages) as shop:
        # given a web form allowed on the shop, its snippet on the shop's page
        form = web_form_create(
            actor=owner_actor,
            data=WebFormData(
                name="Get a quote",
                fields=[
                    {"name": "name", "required": True},
                    {"name": "phone", "required": False},
                    {"name": "email", "required": False},
                    {"name": "company_name", "required": False},
                ],
                allowed_origins=[shop],
                consent_text="Send me product news.",
            ),
        )
        snippet = (
            f'<script src="{live_server.url}/forms/{form.public_key}/embed.js" async></script>'
        )
        landing = "/pricing?utm_source=baidu&utm_medium=cpc&utm_campaign=spring"
        pages[landing] = _shop_page(snippet, "en")  # the shop's server matches the full path
        pages["/zh"] = _shop_page(snippet, "zh-CN")
        errors: list[str] = []
        visitor_context = browser.new_context(viewport={"width": 375, "height": 740})
        visitor = visitor_context.new_page()
        visitor.on("pageerror", lambda error: errors.append(str(error)))

        # the form speaks the page's language
        visitor.goto(f"{shop}/zh")
        visitor.wait_for_selector("form.hk-lf", timeout=WAIT_MS)
        assert visitor.get_attribute("form.hk-lf", "lang") == "zh-hans"

        # when a visitor from a campaign fills it in on a phone
        visitor.goto(f"{shop}{landing}")
        visitor.wait_for_selector("form.hk-lf", timeout=WAIT_MS)
        assert visitor.evaluate("document.documentElement.scrollWidth") <= 375
        visitor.click("form.hk-lf button[type=submit]")  # the name is required
        assert "This field is required." in visitor.inner_text("form.hk-lf")
        visitor.fill("form.hk-lf input[name=name]", "Gao Yuan")
        visitor.fill("form.hk-lf input[name=phone]", "13955556666")
        visitor.fill("form.hk-lf input[name=company_name]", "Gaoshan Tea")
        visitor.check("form.hk-lf input[name=consent]")
        # a person takes a few seconds; the form refuses a script's instant post
        visitor.wait_for_timeout(3200)
        visitor.click("form.hk-lf button[type=submit]")

        # then the visitor is thanked
        visitor.wait_for_selector(
            ".hk-done:has-text('Thank you! We will get back to you soon.')", timeout=WAIT_MS
        )
        assert errors == []
        visitor_context.close()

    # and the lead is in the list, with its campaign
    lead = Lead.objects.get()
    assert (lead.name, lead.source, lead.source_detail["utm_campaign"]) == (
        "Gao Yuan",
        "web_form",
        "spring",
    )
    assert lead.source_detail["landing_page"].startswith(f"{shop}/pricing?utm_source=baidu")
    # (on a phone too: the list and the lead's page fit 375 px without sideways scrolling)
    staff_context = browser.new_context(locale="en-US", viewport={"width": 375, "height": 740})
    staff = staff_context.new_page()
    staff.goto(f"{live_server.url}/account/login/")
    staff.fill("input[name=username]", owner.user.email)
    staff.fill("input[name=password]", PASSWORD)
    staff.click("main button[type=submit]")
    staff.wait_for_url(f"{live_server.url}/")
    staff.goto(f"{live_server.url}/sales/leads/")
    row = staff.locator("[data-testid=lead-row]", has_text="Gao Yuan")
    assert row.count() == 1
    assert "Gaoshan Tea" in row.inner_text()
    assert "baidu" in row.inner_text()
    assert staff.evaluate("document.documentElement.scrollWidth") <= 375
    row.locator("a").first.click()
    staff.wait_for_url(f"{live_server.url}/sales/leads/{lead.public_id}/")
    assert "Gaoshan Tea" in staff.inner_text("main")
    assert staff.evaluate("document.documentElement.scrollWidth") <= 375
    staff.goto(f"{live_server.url}/sales/leads/settings/")
    assert staff.evaluate("document.documentElement.scrollWidth") <= 375
    staff_context.close()
