"""Claim limits per rep in headless Chromium: an admin gives one rep a limit of their own on the
lead settings page, in Chinese on a phone, and the rep's pool says what they may still claim."""

from typing import Any

import pytest
from django.test import override_settings

from huike.accounts.models import Membership, Role
from huike.accounts.services import user_get_or_create, workspace_create
from huike.sales.models import RepClaimLimit
from tests.browser.test_shell import STATIC_SETTINGS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery-42"
PHONE = {"width": 375, "height": 800}


@override_settings(**STATIC_SETTINGS)
def test_an_admin_sets_a_reps_own_limit_in_chinese_on_a_phone(
    live_server: Any, browser: Any
) -> None:
    # given a workspace with a rep
    workspace = workspace_create(
        slug="limits", name="Limits Co", owner_email="boss@limits.test", owner_password=PASSWORD
    )
    user = user_get_or_create(email="rep@limits.test", password=PASSWORD)
    user.full_name = "诸葛小明"
    user.save(update_fields=["full_name"])
    rep = Membership.objects.create(
        workspace=workspace, user=user, role=Role.objects.get(workspace=workspace, key="sales")
    )
    base = live_server.url
    errors: list[str] = []
    admin_context = browser.new_context(viewport=PHONE, locale="zh-CN")
    admin = admin_context.new_page()
    admin.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(admin, base, "boss@limits.test", PASSWORD)
    # when the admin gives the rep 3 on the lead settings page
    admin.goto(f"{base}/sales/leads/settings/")
    assert "每位销售的领取上限" in admin.inner_text("main")
    limits = admin.locator("[data-testid=rep-limits]")
    limits.get_by_label("诸葛小明").fill("3")
    assert admin.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    limits.locator("button[name=save_reps]").click()
    # then it is saved and shown as the limit that applies
    admin.wait_for_selector("text=领取上限已保存")
    assert RepClaimLimit.objects.get(membership=rep).claim_limit == 3
    row = admin.locator("[data-testid=rep-limits] tr", has_text="诸葛小明")
    assert row.get_by_label("诸葛小明").input_value() == "3"
    assert admin.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # and the rep's pool counts against 3, not the pool's 200
    rep_context = browser.new_context(viewport=PHONE, locale="zh-CN")
    rep_page = rep_context.new_page()
    sign_in(rep_page, base, "rep@limits.test", PASSWORD)
    rep_page.goto(f"{base}/sales/leads/pool/")
    allowance = rep_page.inner_text("[data-testid=claim-allowance]")
    assert "3" in allowance
    assert "200" not in allowance
    assert errors == []
    admin_context.close()
    rep_context.close()
