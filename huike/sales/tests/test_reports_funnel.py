"""The funnel selector on a constructed history: reached counts, conversion, time per stage."""

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.core.errors import InvalidInputError
from huike.sales.funnel import MoneyTotal, funnel_report
from huike.sales.tests.test_reports_data import at, make_deal, make_pipeline, move

NOVEMBER = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))


def _history(workspace: Workspace, owner: Membership) -> Any:
    pipeline, s = make_pipeline(workspace)
    qualification, needs, proposal = s["Qualification"], s["Needs analysis"], s["Proposal"]
    # still in the first stage
    make_deal(qualification, owner=owner, amount="100")
    # one step
    move(make_deal(qualification, owner=owner, amount="200"), needs, 3600)
    # jumped from the first stage to Proposal: counts for Needs analysis too
    move(make_deal(qualification, owner=owner, amount="300"), proposal, 7200)
    # forward and back again: keeps Proposal as the furthest it got
    back = make_deal(qualification, owner=owner, amount="400")
    move(back, needs, 1800)
    move(back, proposal, 86400)
    move(back, needs, 3600)
    # all the way to won
    won = make_deal(qualification, owner=owner, amount="1000.50")
    move(won, needs, 5400)
    move(won, s["Negotiation"], 10800)
    move(won, s["Won"], 21600)
    # lost after Needs analysis
    lost = make_deal(qualification, owner=owner, amount="250")
    move(lost, needs, 600)
    move(lost, s["Lost"], 1200)
    # created lost, no history: the first stage only; in US dollars
    make_deal(
        s["Lost"], owner=owner, amount="80", currency="USD", created_at=at(2026, 11, 30, 23, 30)
    )
    # outside the period (the evening before it starts, Shanghai time) and in another pipeline
    make_deal(needs, owner=owner, created_at=at(2026, 10, 31, 23, 30))
    _other, other_stages = make_pipeline(workspace, name="Partners")
    make_deal(other_stages["Proposal"], owner=owner)
    return pipeline, s


def test_funnel_counts_every_stage_up_to_the_furthest_reached(
    workspace: Workspace, owner: Membership, owner_actor: Actor
) -> None:
    # given
    pipeline, _s = _history(workspace, owner)
    # when
    funnel = funnel_report(owner_actor, pipeline, *NOVEMBER)
    # then
    assert [(row.stage.name, row.reached) for row in funnel.stages] == [
        ("Qualification", 7),
        ("Needs analysis", 5),
        ("Proposal", 3),
        ("Negotiation", 1),
        ("Won", 1),
    ]
    assert [row.conversion_rate for row in funnel.stages] == [None, 5 / 7, 3 / 5, 1 / 3, 1.0]
    assert [row.share_of_top for row in funnel.stages] == [1.0, 5 / 7, 3 / 7, 1 / 7, 1 / 7]
    assert funnel.deal_count == 7


def test_funnel_average_time_per_stage_is_from_the_moves_out_of_it(
    workspace: Workspace, owner: Membership, owner_actor: Actor
) -> None:
    # given
    pipeline, _s = _history(workspace, owner)
    # when
    funnel = funnel_report(owner_actor, pipeline, *NOVEMBER)
    # then: Qualification (3600+7200+1800+5400+600)/5, Needs analysis (86400+10800+1200)/3,
    # Proposal 3600, Negotiation 21600, nothing has left Won
    assert [row.average_seconds for row in funnel.stages] == [3720, 32800, 3600, 21600, None]


def test_funnel_won_and_lost_totals_per_currency(
    workspace: Workspace, owner: Membership, owner_actor: Actor
) -> None:
    # given
    pipeline, _s = _history(workspace, owner)
    # when
    funnel = funnel_report(owner_actor, pipeline, *NOVEMBER)
    # then
    assert funnel.won == [MoneyTotal(currency="CNY", count=1, amount=Decimal("1000.50"))]
    assert funnel.lost == [
        MoneyTotal(currency="CNY", count=1, amount=Decimal("250.00")),
        MoneyTotal(currency="USD", count=1, amount=Decimal("80.00")),
    ]
    assert (funnel.won_count, funnel.lost_count, funnel.win_rate) == (1, 2, 1 / 3)


def test_funnel_of_an_empty_period_is_all_zero(
    workspace: Workspace, owner: Membership, owner_actor: Actor
) -> None:
    # given
    pipeline, _s = _history(workspace, owner)
    # when
    funnel = funnel_report(owner_actor, pipeline, dt.date(2025, 1, 1), dt.date(2025, 1, 31))
    # then
    assert [row.reached for row in funnel.stages] == [0, 0, 0, 0, 0]
    assert [row.conversion_rate for row in funnel.stages] == [None] * 5
    assert (funnel.deal_count, funnel.won, funnel.lost, funnel.win_rate) == (0, [], [], None)


def test_funnel_refuses_a_backwards_period(workspace: Workspace, owner_actor: Actor) -> None:
    # given
    pipeline, _s = make_pipeline(workspace)
    # when / then
    with pytest.raises(InvalidInputError) as error:
        funnel_report(owner_actor, pipeline, dt.date(2026, 11, 30), dt.date(2026, 11, 1))
    assert error.value.field == "from"


def test_funnel_queries_do_not_grow_with_the_deals(
    workspace: Workspace,
    owner: Membership,
    owner_actor: Actor,
    django_assert_num_queries: Any,
) -> None:
    # given
    pipeline, s = _history(workspace, owner)
    with django_assert_num_queries(5):
        funnel_report(owner_actor, pipeline, *NOVEMBER)
    for _ in range(5):
        move(make_deal(s["Qualification"], owner=owner), s["Proposal"], 60)
    # when / then
    with django_assert_num_queries(5):
        funnel = funnel_report(owner_actor, pipeline, *NOVEMBER)
    assert funnel.stages[2].reached == 8
