"""Deal changes racing the funnel's refresh (PostgreSQL; SQLite runs one writer at a time):
whatever the order, every change ends up counted once — in the rebuilt days or in a delta,
never in both and never in neither; the forecast's month rows (kept by the same calls) too."""

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.sales.deals import deal_create, deal_move
from huike.sales.funnel import funnel_refresh, funnel_report
from huike.sales.models import Deal, FunnelRollup, Pipeline
from huike.sales.reports import forecast_report
from huike.sales.tests.test_reports_data import at, make_deal, make_pipeline
from tests.concurrency import run_together

pytestmark = pytest.mark.django_db(transaction=True)
AUTUMN = (dt.date(2026, 9, 1), dt.date(2026, 12, 31))


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions are tested on PostgreSQL")


def _figures(actor: Actor, pipeline: Pipeline) -> Any:
    funnel = funnel_report(actor, pipeline, *AUTUMN)
    forecast = forecast_report(actor, pipeline=pipeline, period="2026-Q4")
    return (
        funnel.deal_count,
        [(row.stage.pk, row.reached) for row in funnel.stages],
        funnel.won,
        [(cell.won_count, cell.won) for cell in forecast.totals],
    )


def _from_the_deals(actor: Actor, pipeline: Pipeline) -> Any:
    state = FunnelRollup.objects.filter(pipeline=pipeline)
    built = state.values_list("built_at", flat=True).first()
    state.update(built_at=None)
    figures = _figures(actor, pipeline)
    state.update(built_at=built)
    return figures


def _setup(workspace: Workspace, owner: Membership) -> tuple[Pipeline, dict[str, Any]]:
    pipeline, stages = make_pipeline(workspace)
    for day in range(1, 40):
        make_deal(
            stages["Qualification"], owner=owner, created_at=at(2026, 9, 1) + dt.timedelta(days=day)
        )
    return pipeline, stages


@pytest.mark.parametrize("first_build", [True, False])
def test_moves_and_creations_during_a_refresh_are_counted_once(
    workspace: Workspace,
    owner: Membership,
    owner_actor: Actor,
    make_member: Callable[..., Membership],
    first_build: bool,
) -> None:
    # given: roll-ups never built (the refresh rebuilds), or built (the refresh folds)
    pipeline, stages = _setup(workspace, owner)
    if not first_build:
        funnel_refresh(pipeline)
        deal_move(
            actor=owner_actor,
            deal=Deal.objects.filter(pipeline=pipeline).first() or Deal(),
            stage=stages["Won"],
        )
    other = Actor.for_membership(make_member("manager@acme.test", "manager"))
    deals = list(Deal.objects.filter(pipeline=pipeline, status="open").order_by("pk")[:6])

    def moves(actor: Actor, mine: list[Deal], stage: str) -> None:
        for deal in mine:
            deal_move(actor=actor, deal=Deal.objects.get(pk=deal.pk), stage=stages[stage])
        deal_create(actor=actor, pipeline=pipeline, name="Racing")

    # when
    errors = run_together(
        lambda: funnel_refresh(pipeline),
        lambda: moves(owner_actor, deals[:3], "Proposal"),
        lambda: moves(other, deals[3:], "Won"),
        lambda: funnel_refresh(pipeline),
    )
    # then: the same funnel from the roll-ups (with the deltas), after a last fold, and from
    # the deals
    assert errors == []
    expected = _from_the_deals(owner_actor, pipeline)
    assert expected[0] == 41
    assert sum(won for won, _amount in expected[3]) == (3 if first_build else 4)
    assert _figures(owner_actor, pipeline) == expected
    funnel_refresh(pipeline)
    assert _figures(owner_actor, pipeline) == expected
