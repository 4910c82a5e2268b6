"""A person selects two customers in the list, merges them through the compare page, finds the
survivor with the merge, undoes it and sees both back; the list and the 360 page fit a 375 px
wide phone screen."""

import datetime as dt
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.accounts.services import workspace_create
from huike.customers.events import event_record
from huike.customers.identities import identity_key
from huike.customers.models import Customer, CustomerMerge
from huike.customers.services import (
    CustomerData,
    consent_record,
    custom_field_create,
    customer_create,
    customer_tags_add,
    tag_create,
)
from tests.browser.test_shell import STATIC_SETTINGS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "owner@merge.test"
PASSWORD = "correct-horse-battery-42"


def _owner_actor() -> Actor:
    workspace_create(slug="merge", name="Merge Co", owner_email=EMAIL, owner_password=PASSWORD)
    membership = Membership.objects.select_related("workspace", "role", "user").get(
        user__email=EMAIL
    )
    return Actor.for_membership(membership)


def _customer(actor: Actor, name: str, **identities: str) -> Customer:
    return customer_create(
        actor=actor,
        data=CustomerData(name=name),
        identity_keys=[identity_key(kind, value) for kind, value in identities.items()],
    )


def _list_names(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        "#customer-results tbody td[data-label=Name] a", "links => links.map(a => a.textContent)"
    )


def _assert_page_fits(page: Any, width: int) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width + 1, f"{page.url} is {overflow}px wide on a {width}px screen"


@override_settings(**STATIC_SETTINGS)
def test_merge_two_customers_from_the_list_and_undo_it(live_server: Any, browser: Any) -> None:
    # given two customers who are one person
    actor = _owner_actor()
    wang = _customer(actor, "Wang Fang", phone="13912345678")
    fang = _customer(actor, "Fang W.", email="fang@example.com")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    base = live_server.url
    sign_in(page, base, EMAIL, PASSWORD)
    # and the phone is revealed in place (htmx), once asked
    page.goto(f"{base}/customers/{wang.public_id}/")
    assert "+86*******5678" in page.inner_text("#identities")
    page.click("#identities button:has-text('Reveal')")
    page.wait_for_selector("[data-testid=revealed]")
    assert page.inner_text("[data-testid=revealed]") == "+8613912345678"
    # when both are selected in the list and merged
    page.goto(f"{base}/customers/")
    assert sorted(_list_names(page)) == ["Fang W.", "Wang Fang"]
    page.check("input[aria-label='Select Wang Fang']")
    page.check("input[aria-label='Select Fang W.']")
    page.select_option("select[name=action]", "merge")
    page.click("[data-testid=bulk-apply]")
    page.wait_for_url(f"{base}/customers/merge/**")
    sides = page.locator("[data-testid=compare-side]")
    assert sides.count() == 2
    page.check(f"input[name=survivor][value='{wang.public_id}']")
    page.click("[data-testid=merge-submit]")
    # then the survivor's page shows the merge and the absorbed email
    page.wait_for_url(f"{base}/customers/{wang.public_id}/")
    assert "Fang W. was merged into Wang Fang." in page.inner_text(".messages")
    assert "Fang W. → Wang Fang" in " ".join(page.inner_text("#merges").split())
    assert "f***@example.com" in page.inner_text("#identities")
    # and the merged one is gone from the list
    page.goto(f"{base}/customers/")
    assert _list_names(page) == ["Wang Fang"]
    # when the merge is undone from the survivor's page
    page.goto(f"{base}/customers/{wang.public_id}/")
    page.click("[data-testid=undo-merge]")
    page.wait_for_url(f"{base}/customers/{wang.public_id}/")
    # then both customers are back
    assert "is a customer of its own again" in page.inner_text(".messages")
    page.goto(f"{base}/customers/")
    assert sorted(_list_names(page)) == ["Fang W.", "Wang Fang"]
    fang.refresh_from_db()
    assert fang.status == Customer.Status.ACTIVE
    assert CustomerMerge.objects.get().undone_at is not None
    assert errors == []
    context.close()


@override_settings(**STATIC_SETTINGS)
def test_list_and_360_page_fit_a_phone_screen(live_server: Any, browser: Any) -> None:
    # given a customer with long values, tags, consent, custom fields and a busy timeline
    actor = _owner_actor()
    custom_field_create(actor=actor, key="member_level", label="Membership level", type="text")
    customer = customer_create(
        actor=actor,
        data=CustomerData(
            name="欧阳娜娜 Nana Ouyang-Featherstonehaugh",
            custom_fields={"member_level": "platinum-plus-with-a-very-long-label-value"},
            address="上海市浦东新区世纪大道100号环球金融中心79层",
        ),
        identity_keys=[
            identity_key("phone", "13912345678"),
            identity_key("email", "nana.ouyang.featherstonehaugh@a-very-long-domain.example.com"),
            identity_key("wechat_openid:wx1234567890abcdef", "oAbCdEfGhIjKlMnOpQrStUvWxYz012345"),
        ],
    )
    tags = [tag_create(actor=actor, name=f"Interest {n} long tag name") for n in range(6)]
    customer_tags_add(actor=actor, customers=[customer], tags=tags)
    consent_record(
        actor=actor, customer=customer, purpose="marketing", status="granted", channel="sms"
    )
    for day in range(30):
        event_record(
            customer=customer,
            kind="page.viewed",
            channel="web",
            occurred_at=timezone.now() - dt.timedelta(days=day * 2),
            properties={"url": f"https://shop.example.com/products/category/item-{day}?ref=x"},
        )
    for number in range(5):
        _customer(actor, f"Customer number {number} with a long name")
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="en-US")
    page = context.new_page()
    base = live_server.url
    sign_in(page, base, EMAIL, PASSWORD)
    # then the list fits
    page.goto(f"{base}/customers/")
    assert len(_list_names(page)) == 6
    _assert_page_fits(page, 375)
    # and so does the 360 page, after more of the timeline is loaded
    page.goto(f"{base}/customers/{customer.public_id}/")
    _assert_page_fits(page, 375)
    page.click("text=Load more")
    page.wait_for_function("document.querySelectorAll('#timeline .timeline-item').length > 20")
    _assert_page_fits(page, 375)
    context.close()
