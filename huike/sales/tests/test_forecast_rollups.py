"""The forecast's monthly roll-ups: a view-all forecast read from them is the forecast read
from the deals — per rep, team and pipeline, in each currency, with the statistical forecast —
before and after the refresh job, whatever the services changed in between, and after a
stage's probability, a member's team or a membership changed without touching a deal; the
queries do not grow with the months. (Roles with record rules: test_funnel_rollups_scoped.)"""

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from django.db import transaction

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team, Workspace
from huike.sales.deals import (
    DealData,
    deal_create,
    deal_delete,
    deal_move,
    deal_update,
    stage_update,
)
from huike.sales.funnel import funnel_refresh, funnels_to_refresh
from huike.sales.models import (
    Deal,
    ForecastCategory,
    ForecastMonth,
    FunnelRollup,
    Pipeline,
    Stage,
)
from huike.sales.reports import Forecast, forecast_report
from huike.sales.tests.test_reports_data import at, make_deal, make_pipeline

TODAY = dt.date(2026, 12, 10)
PERIODS = (None, "2026-Q4", "2027-01", "2027-Q1", "2025-06")
CATEGORIES = tuple(ForecastCategory.values)


def _book(
    workspace: Workspace, reps: list[Membership], team: Team
) -> tuple[list[Pipeline], dict[str, Stage]]:
    """Two pipelines; 160 deals over 2½ years: open ones closing from 2025 to 2027, won ones
    closing at every hour (so some fall either side of midnight in Shanghai), lost ones; two
    currencies, every forecast category, some with a team of their own, some nobody's."""
    main, stages = make_pipeline(workspace)
    partners, partner_stages = make_pipeline(workspace, name="Partners")
    rng = random.Random(11)
    for number in range(160):
        chosen = stages if number % 3 else partner_stages
        kind = rng.random()
        name = (
            rng.choice(["Qualification", "Needs analysis", "Proposal", "Negotiation"])
            if kind < 0.55
            else "Won"
            if kind < 0.85
            else "Lost"
        )
        closed = at(2024, 7, 1) + dt.timedelta(hours=rng.randrange(0, 900 * 24))
        make_deal(
            chosen[name],
            owner=rng.choice([*reps, None]),
            team=team if number % 5 == 0 else None,
            amount=str(rng.randrange(1, 9000)),
            currency="USD" if number % 6 == 0 else "CNY",
            created_at=closed - dt.timedelta(days=30),
            closed_at=closed if name in ("Won", "Lost") else None,
            expected_close_date=(
                dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(0, 900))
                if rng.random() < 0.9
                else None
            ),
            category=rng.choice(CATEGORIES),
        )
    return [main, partners], stages


def _figures(report: Forecast) -> Any:
    def cell(c: Any) -> tuple[Any, ...]:
        return (
            c.month,
            c.open_count,
            c.won_count,
            c.pipeline,
            c.weighted,
            c.commit,
            c.best_case,
            c.won,
            c.target,
        )

    statistical = report.statistical
    return (
        [(row.key, row.label, [cell(c) for c in row.cells]) for row in report.rows],
        [cell(c) for c in report.totals],
        (statistical.history, statistical.forecast, statistical.backtest, statistical.mae),
    )


def _all_figures(actor: Actor, pipelines: list[Pipeline]) -> dict[tuple[Any, ...], Any]:
    figures = {}
    for group in ("rep", "team", "pipeline"):
        for pipeline in (None, *pipelines):
            for currency in ("CNY", "USD"):
                for period in PERIODS:
                    report = forecast_report(
                        actor,
                        pipeline=pipeline,
                        period=period,
                        group=group,  # type: ignore[arg-type]
                        currency=currency,
                        today=TODAY,
                    )
                    key = (group, pipeline.pk if pipeline else None, currency, period)
                    figures[key] = _figures(report)
    return figures


def _from_the_deals(actor: Actor, pipelines: list[Pipeline]) -> dict[tuple[Any, ...], Any]:
    """Every forecast read from the deals alone: the roll-ups set aside for one rolled-back
    transaction."""
    with transaction.atomic():
        FunnelRollup.objects.update(built_at=None)
        figures = _all_figures(actor, pipelines)
        transaction.set_rollback(True)
    return figures


def _refresh(pipelines: list[Pipeline]) -> int:
    return sum(funnel_refresh(pipeline) for pipeline in pipelines)


def _setup(
    workspace: Workspace, owner: Membership, member: Membership
) -> tuple[list[Pipeline], dict[str, Stage], Team]:
    east = Team.objects.create(workspace=workspace, name="East", path="/")
    member.team = east
    member.save(update_fields=["team"])
    pipelines, stages = _book(workspace, [owner, member], east)
    return pipelines, stages, east


def test_rolled_up_forecast_is_the_forecast_read_from_the_deals(
    workspace: Workspace, owner: Membership, member: Membership, owner_actor: Actor
) -> None:
    # given: deals written before any roll-up existed
    pipelines, _stages, _east = _setup(workspace, owner, member)
    before = _all_figures(owner_actor, pipelines)
    # when
    _refresh(pipelines)
    # then: the rows are there, and every report is the same
    assert ForecastMonth.objects.filter(is_delta=False).count() > 50
    after = _all_figures(owner_actor, pipelines)
    assert after == before
    # not a comparison of empty reports: open and won deals, and a statistical forecast
    totals = [total for figures in before.values() for total in figures[1]]
    assert sum(total[1] for total in totals) > 100
    assert sum(total[2] for total in totals) > 20
    assert before[("rep", None, "CNY", None)][2][1]


def test_the_report_reads_the_roll_ups(
    workspace: Workspace, owner: Membership, member: Membership, owner_actor: Actor
) -> None:
    # given: roll-ups built, then the deals removed behind the services' back (no deltas)
    pipelines, _stages, _east = _setup(workspace, owner, member)
    _refresh(pipelines)
    rep = Actor.for_membership(member)
    built = forecast_report(owner_actor, today=TODAY, period="2027-Q1")
    rep_built = forecast_report(rep, today=TODAY, period="2027-Q1")
    Deal.objects.all().delete()
    # when
    report = forecast_report(owner_actor, today=TODAY, period="2027-Q1")
    # then: the figures come from the ForecastMonth rows, a rep's from their own rows
    assert _figures(report) == _figures(built)
    assert sum(cell.open_count for cell in report.totals) > 0
    rep_report = forecast_report(rep, today=TODAY, period="2027-Q1")
    assert _figures(rep_report) == _figures(rep_built)
    assert (
        0
        < sum(cell.open_count for cell in rep_report.totals)
        < sum(cell.open_count for cell in report.totals)
    )


def test_changes_through_the_services_count_at_once_and_after_the_fold(
    workspace: Workspace, owner: Membership, member: Membership, owner_actor: Actor
) -> None:
    # given
    pipelines, stages, _east = _setup(workspace, owner, member)
    _refresh(pipelines)
    rng = random.Random(3)
    deals = list(Deal.objects.filter(pipeline=pipelines[0]).order_by("pk"))
    # when: every change that moves a deal in the forecast, through the services
    for deal in rng.sample(deals, 12):
        deal = Deal.objects.get(pk=deal.pk)
        deal_update(
            actor=owner_actor,
            deal=deal,
            data=DealData(
                amount=Decimal(rng.randrange(1, 5000)),
                owner=rng.choice([owner, member]),
                expected_close_date=TODAY + dt.timedelta(days=rng.randrange(-40, 90)),
                forecast_category=rng.choice(CATEGORIES),
            ),
        )
    deal_update(actor=owner_actor, deal=deals[0], data=DealData(currency="USD"))
    deal_update(actor=owner_actor, deal=deals[1], data=DealData(expected_close_date=None))
    for deal, name in zip(rng.sample(deals[2:], 12), ["Won", "Lost", "Proposal"] * 4, strict=True):
        deal = Deal.objects.get(pk=deal.pk)
        if deal.stage.name != name:
            deal_move(actor=owner_actor, deal=deal, stage=stages[name], lost_reason="Price")
    fresh = deal_create(
        actor=owner_actor,
        pipeline=pipelines[0],
        name="New",
        amount=Decimal("700"),
        expected_close_date=TODAY,
    )
    deal_move(actor=owner_actor, deal=fresh, stage=stages["Won"])
    deal_delete(actor=owner_actor, deal=Deal.objects.get(pk=deals[-1].pk))
    # then: exact before the refresh (the deltas count) …
    assert ForecastMonth.objects.filter(is_delta=True).exists()
    assert pipelines[0] in funnels_to_refresh()
    expected = _from_the_deals(owner_actor, pipelines)
    assert _all_figures(owner_actor, pipelines) == expected
    # … and after it, folded in, with no delta left and nothing more to fold
    assert _refresh(pipelines) > 0
    assert not ForecastMonth.objects.filter(is_delta=True).exists()
    assert _all_figures(owner_actor, pipelines) == expected
    assert _refresh(pipelines) == 0


def test_probabilities_teams_and_members_changed_since_the_build_count_as_they_are_now(
    workspace: Workspace,
    owner: Membership,
    member: Membership,
    make_member: Any,
    owner_actor: Actor,
) -> None:
    # given: a third rep with deals in the roll-ups
    pipelines, stages, east = _setup(workspace, owner, member)
    third = make_member("third@acme.test")
    for amount in ("100", "250"):
        make_deal(stages["Proposal"], owner=third, amount=amount, expected_close_date=TODAY)
    make_deal(stages["Won"], owner=third, amount="900", closed_at=at(2026, 12, 2))
    _refresh(pipelines)
    # when: a probability changes, the member leaves the team, the team goes, the rep goes
    stage_update(actor=owner_actor, stage=stages["Proposal"], probability=45)
    member.team = None
    member.save(update_fields=["team"])
    third.team = Team.objects.create(workspace=workspace, name="West", path="/")
    third.save(update_fields=["team"])
    east.delete()
    third.delete()
    # then
    assert _all_figures(owner_actor, pipelines) == _from_the_deals(owner_actor, pipelines)


def test_a_pipeline_with_deals_and_no_roll_ups_sends_the_report_to_the_deals(
    workspace: Workspace, owner: Membership, member: Membership, owner_actor: Actor
) -> None:
    # given: the roll-ups of one pipeline built, then a deal written behind the services'
    # back in a third pipeline that has none
    pipelines, _stages, _east = _setup(workspace, owner, member)
    _refresh(pipelines)
    _third, third_stages = make_pipeline(workspace, name="Third")
    make_deal(third_stages["Proposal"], owner=owner, amount="4321", expected_close_date=TODAY)
    # when
    everything = forecast_report(owner_actor, today=TODAY)
    one = forecast_report(owner_actor, today=TODAY, pipeline=pipelines[0])
    # then: all pipelines read from the deals (the new deal is in), one from its roll-ups
    from_the_deals = _from_the_deals(owner_actor, pipelines)
    assert _figures(everything) == from_the_deals[("rep", None, "CNY", None)]
    assert everything.totals[0].pipeline - one.totals[0].pipeline >= Decimal("4321")


def test_rolled_up_queries_do_not_grow_with_the_deals_or_months(
    workspace: Workspace,
    owner: Membership,
    member: Membership,
    owner_actor: Actor,
    django_assert_num_queries: Any,
) -> None:
    # given
    pipelines, stages, _east = _setup(workspace, owner, member)
    _refresh(pipelines)
    # pipelines, roll-up states, stages; sums, members, probabilities; targets, labels; won
    # history; currencies (no savepoint: nothing sorts a quarter of the deals any more)
    queries = 10
    with django_assert_num_queries(queries):
        forecast_report(owner_actor, today=TODAY)
    for month in range(1, 13):
        make_deal(
            stages["Proposal"],
            owner=member,
            amount="5",
            expected_close_date=dt.date(2027, month, 1),
        )
    FunnelRollup.objects.update(built_at=None)  # written without the services: rebuild
    _refresh(pipelines)
    # when / then
    with django_assert_num_queries(queries):
        forecast_report(owner_actor, today=TODAY, period="2027-Q1")
    with django_assert_num_queries(queries + 1):  # and the teams that still exist
        forecast_report(owner_actor, today=TODAY, period="2027-Q2", group="team")
