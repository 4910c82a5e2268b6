"""A rep drags a deal card from one stage column of the kanban board to the next, sees it land
(the columns' counts and totals change) and stay there after a reload, and sees the funnel
count it in its new stage; losing a deal through the card's "move to" select asks for the
reason first. The board fits a 375 px wide phone screen."""

from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.accounts.services import workspace_create
from huike.sales.deals import deal_create, pipeline_default
from huike.sales.models import Deal, Pipeline, Stage
from tests.browser.test_shell import STATIC_SETTINGS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "owner@kanban.test"
PASSWORD = "correct-horse-battery-42"


def _owner_actor() -> Actor:
    workspace_create(slug="kanban", name="Kanban Co", owner_email=EMAIL, owner_password=PASSWORD)
    membership = Membership.objects.select_related("workspace", "role", "user").get(
        user__email=EMAIL
    )
    return Actor.for_membership(membership)


def _column(stage: Stage) -> str:
    return f'section.kanban-column[data-stage-id="{stage.public_id}"]'


def _text(page: Any, stage: Stage, role: str) -> str:
    text: str = page.locator(f'{_column(stage)} [data-role="{role}"]').inner_text()
    return text


def _seed() -> tuple[Pipeline, dict[str, Stage]]:
    actor = _owner_actor()
    pipeline = pipeline_default(actor.workspace)
    deals = (("Alpha rollout", "1000.00"), ("Beta pilot", "500.00"), ("Gamma trial", "200.00"))
    for name, amount in deals:
        deal_create(actor=actor, pipeline=pipeline, name=name, amount=Decimal(amount))
    return pipeline, {stage.name: stage for stage in Stage.objects.filter(pipeline=pipeline)}


@override_settings(**STATIC_SETTINGS)
def test_drag_a_deal_to_the_next_stage_and_see_the_funnel(live_server: Any, browser: Any) -> None:
    # given three deals in the first stage
    pipeline, stages = _seed()
    qualification, analysis, lost = (
        stages["Qualification"],
        stages["Needs analysis"],
        stages["Lost"],
    )
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    base = live_server.url
    sign_in(page, base, EMAIL, PASSWORD)
    board = f"{base}/sales/board/?pipeline={pipeline.public_id}"
    page.goto(board)
    assert _text(page, qualification, "count") == "3"
    assert _text(page, analysis, "count") == "0"

    # when the rep drags one card to the next column
    card = f'{_column(qualification)} [data-testid=deal-card]:has-text("Alpha rollout")'
    page.drag_and_drop(card, _column(analysis))

    # then it lands there and the columns' figures follow
    page.wait_for_function(
        "selector => document.querySelector(selector).textContent === '1'",
        arg=f'{_column(analysis)} [data-role="count"]',
    )
    assert _text(page, qualification, "count") == "2"
    assert _text(page, analysis, "total") == "1,000.00 CNY"
    assert _text(page, analysis, "weighted") == "300.00 CNY"
    assert _text(page, qualification, "total") == "700.00 CNY"
    assert page.locator(f"{_column(analysis)} [data-testid=deal-card]").count() == 1

    # and the move is stored: after a reload the card is still in its new column
    page.reload()
    assert page.locator(
        f'{_column(analysis)} [data-testid=deal-card]:has-text("Alpha rollout")'
    ).is_visible()
    assert Deal.objects.get(name="Alpha rollout").stage_id == analysis.pk

    # when the other deal is lost through its "move to" select, cancelling the first time
    beta = page.locator('[data-testid=deal-card]:has-text("Beta pilot")')
    beta.locator("[data-role=move-to]").select_option(str(lost.public_id))
    page.locator("#lost-dialog").get_by_role("button", name="Cancel").click()
    # then nothing moved
    assert page.locator(f"{_column(qualification)} [data-testid=deal-card]").count() == 2
    assert Deal.objects.get(name="Beta pilot").status == "open"
    # when it is chosen again and a reason given
    beta.locator("[data-role=move-to]").select_option(str(lost.public_id))
    page.fill("#lost-reason", "Chose a competitor")
    page.locator("#lost-dialog").get_by_role("button", name="Mark as lost").click()
    # then it is lost with the reason
    page.wait_for_function(
        "selector => document.querySelector(selector).textContent === '1'",
        arg=f'{_column(lost)} [data-role="count"]',
    )
    beta_deal = Deal.objects.get(name="Beta pilot")
    assert (beta_deal.status, beta_deal.lost_reason) == ("lost", "Chose a competitor")

    # when a move fails (someone deleted the deal meanwhile)
    Deal.objects.filter(name="Gamma trial").delete()
    gamma = f'{_column(qualification)} [data-testid=deal-card]:has-text("Gamma trial")'
    page.drag_and_drop(gamma, _column(stages["Proposal"]))
    # then the card goes back to its column and the error is shown
    page.locator("#board-error").wait_for(state="visible")
    assert page.locator("#board-error").inner_text() == "No such deal."
    assert page.locator(gamma).is_visible()
    assert _text(page, qualification, "count") == "1"

    # and the funnel counts the dragged deal in its new stage
    page.goto(f"{base}/sales/reports/funnel/?pipeline={pipeline.public_id}")
    assert page.locator(f'[data-stage="{analysis.public_id}"]').get_attribute("data-count") == "1"
    assert errors == []
    context.close()


@override_settings(**STATIC_SETTINGS)
def test_board_fits_a_phone(live_server: Any, browser: Any) -> None:
    # given
    pipeline, _ = _seed()
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="en-US")
    page = context.new_page()
    sign_in(page, live_server.url, EMAIL, PASSWORD)
    # when
    page.goto(f"{live_server.url}/sales/board/?pipeline={pipeline.public_id}")
    # then the page does not scroll sideways, and every column is there, one under the other
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 376, f"the board is {width}px wide on a 375px screen"
    assert page.locator("section.kanban-column").count() == 6
    assert page.locator("[data-role=move-to]").first.is_visible()
    context.close()
