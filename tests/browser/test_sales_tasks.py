"""The demo rep's day in headless Chromium, on a phone and a desktop: the overdue task in
red, ticking a task done over htmx (no reload), the quick-add line, the calendar, and a
reminder's notice reached from the top bar's badge; every page fits the screen."""

from typing import Any

import pytest
from django.test import override_settings

from huike.accounts.demo import DEMO_PASSWORD, demo_seed
from huike.sales.models import Task
from huike.sales.tasks_service import task_reminders_send
from tests.browser.test_shell import STATIC_SETTINGS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REP = "sales@demo.huike.local"


def _fits(page: Any, width: int) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width + 1, f"{page.url} is {scroll_width}px wide on {width}px"


@override_settings(**STATIC_SETTINGS)
@pytest.mark.parametrize(("width", "height"), [(375, 740), (1280, 800)])
def test_rep_works_through_the_day(live_server: Any, browser: Any, width: int, height: int) -> None:
    # given the demo workspace, whose rep has an overdue task and some for today
    demo_seed()
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    base = live_server.url
    sign_in(page, base, REP, DEMO_PASSWORD)
    # when they open their day
    page.goto(f"{base}/sales/tasks/")
    # then the overdue task is in red
    overdue = page.locator("[data-testid=group-overdue] .task-row.overdue .task-title")
    assert overdue.inner_text() == "回电确认报价 Call back about the quote"
    colour = overdue.evaluate("element => getComputedStyle(element).color")
    assert colour == "rgb(192, 54, 44)"
    _fits(page, width)
    # when they tick the first task of today
    row = page.locator("[data-testid=group-today] [data-testid=task-row]").first
    title = row.locator(".task-title").inner_text()
    row.locator("input[type=checkbox]").check()
    # then the row turns done in place, and the task is done
    page.wait_for_selector("[data-testid=group-today] .task-row.done")
    assert Task.objects.get(title=title).status == "done"
    # and a quick-added task shows up
    page.fill("[data-testid=quick-add] input[name=title]", "Send the price list")
    page.click("[data-testid=quick-add] button[type=submit]")
    page.wait_for_selector("text=Send the price list")
    _fits(page, width)
    # the calendar fits too
    page.goto(f"{base}/sales/tasks/calendar/")
    assert page.locator(".calendar-day.today").count() == 1
    _fits(page, width)
    # a reminder that went out is one click away from the top bar
    Task.objects.filter(title="回电确认报价 Call back about the quote").update(reminded_at=None)
    task_reminders_send()
    page.goto(f"{base}/sales/tasks/")
    badge = page.locator("[data-testid=unread-notifications]")
    assert int(badge.inner_text()) >= 1
    page.click("[data-testid=notifications-link]")
    page.wait_for_url(f"{base}/sales/tasks/notifications/")
    page.locator(".notification.unread button", has_text="Open").first.click()
    page.wait_for_url(f"{base}/sales/tasks/*/")
    _fits(page, width)
    assert errors == []
    context.close()
