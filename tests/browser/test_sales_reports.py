"""The funnel and forecast pages in headless Chromium on a 375 px wide phone: nothing scrolls
sideways and the charts are drawn. Run with `-m browser`."""

import datetime as dt
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from huike.accounts.models import Membership
from huike.accounts.services import workspace_create
from huike.sales.models import ForecastCategory
from huike.sales.tests.test_reports_data import make_deal, make_pipeline, move
from tests.browser.test_shell import STATIC_SETTINGS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "owner@reports.test"
PASSWORD = "correct-horse-battery-42"


def _seed() -> Any:
    workspace = workspace_create(
        slug="reports", name="Reports Co", owner_email=EMAIL, owner_password=PASSWORD
    )
    owner = Membership.objects.get(workspace=workspace, user__email=EMAIL)
    pipeline, stages = make_pipeline(workspace, name="Enterprise sales with a long name")
    now = timezone.now()
    for amount in ("1200000.00", "350000.00", "98000.00"):
        deal = make_deal(
            stages["Qualification"],
            owner=owner,
            amount=amount,
            created_at=now,
            expected_close_date=now.date() + dt.timedelta(days=20),
            category=ForecastCategory.COMMIT,
        )
        move(deal, stages["Proposal"], 3 * 86400)
    return pipeline


@override_settings(**STATIC_SETTINGS)
def test_funnel_and_forecast_fit_a_phone(live_server: Any, browser: Any) -> None:
    # given
    pipeline = _seed()
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="en-US")
    page = context.new_page()
    sign_in(page, live_server.url, EMAIL, PASSWORD)
    for path, drawn in (
        (f"/sales/reports/funnel/?pipeline={pipeline.public_id}", "svg.funnel-chart g"),
        ("/sales/reports/forecast/", "table.forecast-table"),
        ("/sales/reports/settings/targets/", "form.stacked"),
    ):
        # when
        page.goto(f"{live_server.url}{path}")
        # then
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 376, f"{path} is {width}px wide on a 375px screen"
        assert page.locator(drawn).first.is_visible()
    context.close()
