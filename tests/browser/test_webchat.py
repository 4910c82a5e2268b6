"""A website visitor chats through the embedded widget and an agent answers from the inbox,
both seeing the other's messages appear without reloading (websockets end to end)."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from conftest import PASSWORD
from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.channels.services import channel_create
from tests.browser.asgi_server import asgi_live_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Waits for things to appear (not a measurement): generous for a loaded CI machine.
WAIT_MS = 8000


@pytest.fixture
def server() -> Iterator[str]:
    with asgi_live_server() as base:
        yield base


@contextmanager
def shop_server(pages: dict[str, str]) -> Iterator[str]:
    """The customer's own website (another origin), serving one page with the snippet. A real
    local server: Chromium refuses a page it takes for a public site the loopback server."""

    class Shop(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, "").encode()
            self.send_response(200 if self.path in pages else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        # "localhost", not 127.0.0.1: another origin than the Huike server's.
        yield f"http://localhost:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _shop_page(base: str, public_key: str, lang: str) -> str:
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Shop</title></head><body><h1>Our shop</h1>"
        f'<script src="{base}/webchat/widget.js" data-key="{public_key}" async></script>'
        "</body></html>"
    )


def test_visitor_and_agent_chat_in_real_time(
    server: str, browser: Any, owner: Membership, owner_actor: Actor
) -> None:
    # given a website chat on a shop's page, and an agent with the inbox open
    pages: dict[str, str] = {}
    with shop_server(pages) as shop:
        channel = channel_create(
            actor=owner_actor,
            kind="webchat",
            name="Website",
            config={"allowed_origins": shop, "welcome_text": "Hi! Ask us anything."},
        )
        pages["/"] = _shop_page(server, channel.public_key, "en")
        _chat(server, shop, browser, owner)


def _chat(server: str, shop: str, browser: Any, owner: Membership) -> None:
    agent_context = browser.new_context(locale="en-US")
    agent = agent_context.new_page()
    errors: list[str] = []
    agent.on("pageerror", lambda error: errors.append(str(error)))
    agent.goto(f"{server}/account/login/")
    agent.fill("input[name=username]", owner.user.email)
    agent.fill("input[name=password]", PASSWORD)
    agent.click("main button[type=submit]")
    agent.wait_for_url(f"{server}/")
    agent.goto(f"{server}/inbox/")
    agent.wait_for_selector("body[data-realtime=connected]", timeout=WAIT_MS)
    agent.evaluate("window.__sameDocument = true")
    refreshes: list[str] = []
    agent.on(
        "request",
        lambda request: (
            refreshes.append(request.url)
            if request.url.startswith(f"{server}/inbox/?") and request.headers.get("hx-request")
            else None
        ),
    )

    visitor_context = browser.new_context(viewport={"width": 375, "height": 740}, locale="en-US")
    visitor = visitor_context.new_page()
    visitor.on("pageerror", lambda error: errors.append(str(error)))
    visitor.goto(f"{shop}/")

    # when the visitor opens the chat and writes
    visitor.click(".huike-wc-launcher", timeout=WAIT_MS)
    assert "Hi! Ask us anything." in visitor.inner_text(".huike-wc-log")
    panel = visitor.locator(".huike-wc-panel").bounding_box()
    assert panel is not None
    assert (panel["width"], panel["height"]) == (375, 740)  # full screen on a phone
    visitor.fill(".huike-wc-input", "Do you ship to Hangzhou?")
    visitor.press(".huike-wc-input", "Enter")
    visitor.wait_for_selector(".huike-wc-visitor[data-message-id]", timeout=WAIT_MS)

    # then the agent's inbox shows it without reloading
    agent.wait_for_selector(
        "#inbox-list .conversation-preview:has-text('Do you ship to Hangzhou?')", timeout=WAIT_MS
    )
    assert agent.evaluate("window.__sameDocument") is True
    assert refreshes  # the live refresh, asked with the filter form's values
    assert all("status=open" in url for url in refreshes)

    # when the agent opens the conversation and answers
    agent.click("#inbox-list .conversation-link")
    agent.wait_for_selector("body[data-realtime=connected]", timeout=WAIT_MS)
    agent.evaluate("window.__sameDocument = true")
    agent.fill("#inbox-composer form.composer-reply textarea[name=text]", "Yes, in two days.")
    agent.click("[data-testid=reply-send]")

    # then the visitor sees the reply without reloading
    visitor.wait_for_selector(".huike-wc-agent:has-text('Yes, in two days.')", timeout=WAIT_MS)

    # and the visitor's next message appears in the agent's open thread
    visitor.fill(".huike-wc-input", "Great, thanks!")
    visitor.press(".huike-wc-input", "Enter")
    agent.wait_for_selector("#inbox-thread :text('Great, thanks!')", timeout=WAIT_MS)
    assert agent.evaluate("window.__sameDocument") is True
    assert errors == []
    visitor_context.close()
    agent_context.close()
