"""A person signs in, switches the language to 中文 and back, and opens every navigation entry
on a desktop and on a 375 px wide phone without an error."""

from typing import Any

import pytest
from django.test import override_settings

from huike.accounts.demo import DEMO_LOGINS, DEMO_PASSWORD, demo_seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STATIC_SETTINGS = {
    "STORAGES": {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
}


def sign_in(page: Any, base_url: str, email: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in on the login page and wait for the home page (the browser tests' first step)."""
    page.goto(f"{base_url}/account/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base_url}/")


HREFS = "links => links.map(a => a.getAttribute('href'))"


def _nav_hrefs(page: Any) -> list[str]:
    return list(dict.fromkeys(page.eval_on_selector_all(".mainnav a", HREFS)))


def _settings_hrefs(page: Any) -> list[str]:
    return page.eval_on_selector_all(".sidenav a", HREFS)


def _assert_page_fits(page: Any, width: int) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width + 1, f"{page.url} is {overflow}px wide on a {width}px screen"


@override_settings(**STATIC_SETTINGS)
@pytest.mark.parametrize(("width", "height"), [(1280, 800), (375, 740)])
def test_admin_reaches_every_navigation_entry_in_both_languages(
    live_server: Any, browser: Any, width: int, height: int
) -> None:
    # given the demo workspace and its admin
    demo_seed()
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    base = live_server.url
    # when they sign in
    sign_in(page, base, DEMO_LOGINS[0].email)
    # then the language switches to Chinese and back
    page.goto(f"{base}/")
    if page.is_visible("label.nav-toggle-label"):
        page.click("label.nav-toggle-label")
    page.click("[data-testid=lang-zh-hans]")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "zh-hans"
    assert "退出" in page.inner_text("header")
    page.click("[data-testid=lang-en]")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "en"
    assert "Sign out" in page.inner_text("header")
    # and every navigation entry opens without an error, fitting the screen
    visited = []
    for href in _nav_hrefs(page):
        response = page.goto(base + href)
        assert response.status < 400, f"{href} answered {response.status}"
        visited.append(href)
        if href.startswith("/settings/"):
            for settings_href in _settings_hrefs(page):
                response = page.goto(base + settings_href)
                assert response.status < 400, f"{settings_href} answered {response.status}"
                _assert_page_fits(page, width)
                visited.append(settings_href)
        _assert_page_fits(page, width)
    assert "/settings/members/" in visited
    assert "/settings/audit/" in visited
    assert errors == []
    context.close()


@override_settings(**STATIC_SETTINGS)
def test_sales_rep_sees_no_settings(live_server: Any, browser: Any) -> None:
    demo_seed()
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    sign_in(page, live_server.url, "sales@demo.huike.local")
    assert "/settings/" not in " ".join(_nav_hrefs(page))
    response = page.goto(f"{live_server.url}/settings/members/")
    assert response.status == 403
    context.close()
