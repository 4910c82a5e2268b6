"""An agent opens the inbox, opens a conversation, replies and sees the reply in the thread
(sent through the SMS console vendor); the inbox and the conversation fit a 375 px screen."""

from typing import Any

import pytest
from django.test import override_settings

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.accounts.services import workspace_create
from huike.channels.services import channel_create
from huike.customers.identities import identity_key
from huike.customers.models import Identity
from huike.customers.services import CustomerData, customer_create
from huike.inbox.configure import canned_reply_create
from huike.inbox.models import Conversation, Message, MessageDirection
from tests.browser.test_shell import STATIC_SETTINGS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "agent@inbox.test"
PASSWORD = "correct-horse-battery-42"


def _conversation() -> Conversation:
    workspace_create(slug="inbox", name="Inbox Co", owner_email=EMAIL, owner_password=PASSWORD)
    membership = Membership.objects.select_related("workspace", "role", "user").get(
        user__email=EMAIL
    )
    actor = Actor.for_membership(membership)
    channel = channel_create(
        actor=actor, kind="sms", name="Shop SMS", config={"provider": "console"}
    )
    customer = customer_create(
        actor=actor,
        data=CustomerData(name="Wang Fang"),
        identity_keys=[identity_key("phone", "13912345678")],
    )
    conversation = Conversation.objects.create(
        workspace=membership.workspace,
        channel=channel,
        customer=customer,
        identity=Identity.objects.get(customer=customer, kind="phone"),
        last_message_preview="Is the blue one in stock?",
        unread_count=1,
    )
    Message.objects.create(
        workspace=membership.workspace,
        conversation=conversation,
        direction=MessageDirection.INBOUND,
        text="Is the blue one in stock?",
    )
    canned_reply_create(
        actor=actor, shortcut="thanks", title="Thanks", body_en="Thanks, {{customer.first_name}}!"
    )
    return conversation


def _assert_page_fits(page: Any, width: int) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width + 1, f"{page.url} is {overflow}px wide on a {width}px screen"


@override_settings(**STATIC_SETTINGS)
def test_agent_replies_from_the_inbox_and_sees_it_in_the_thread(
    live_server: Any, browser: Any
) -> None:
    # given a conversation waiting in the inbox
    conversation = _conversation()
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    base = live_server.url
    sign_in(page, base, EMAIL, PASSWORD)
    # when the agent opens the inbox and the conversation
    page.goto(f"{base}/inbox/")
    row = page.locator(f"[data-conversation-id='{conversation.public_id}']")
    assert "Wang Fang" in row.inner_text()
    assert row.locator("[data-testid=unread]").inner_text() == "1"
    row.locator("a").click()
    page.wait_for_url(f"{base}/inbox/{conversation.public_id}/")
    assert "Is the blue one in stock?" in page.inner_text("#inbox-thread")
    # and writes a reply, ending it with a canned reply typed as /shortcut
    page.fill("#reply_text", "Yes, we have it in every size. ")
    page.locator("#reply_text").press_sequentially("/thanks ")
    assert page.input_value("#reply_text") == ("Yes, we have it in every size. Thanks, Wang!")
    page.click("[data-testid=reply-send]")
    # then the reply shows in the thread, and the composer is empty again
    page.wait_for_selector("#inbox-thread [data-testid=message-out]")
    assert "Yes, we have it in every size. Thanks, Wang!" in page.inner_text("#inbox-thread")
    assert page.input_value("#reply_text") == ""
    assert Message.objects.get(direction=MessageDirection.OUTBOUND).text == (
        "Yes, we have it in every size. Thanks, Wang!"
    )
    assert errors == []
    context.close()


@override_settings(**STATIC_SETTINGS)
def test_inbox_and_conversation_fit_a_phone_screen(live_server: Any, browser: Any) -> None:
    conversation = _conversation()
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="en-US")
    page = context.new_page()
    base = live_server.url
    sign_in(page, base, EMAIL, PASSWORD)
    for path in ("/inbox/", f"/inbox/{conversation.public_id}/"):
        page.goto(f"{base}{path}")
        _assert_page_fits(page, 375)
    context.close()
