"""The forecast selector: weighted, commit, best case, won, targets and attainment per rep,
team and pipeline, in one currency; and the number of queries."""

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team, Workspace
from huike.core.errors import InvalidInputError
from huike.sales.models import ForecastCategory, SalesTarget
from huike.sales.reports import forecast_months, forecast_report
from huike.sales.tests.test_reports_data import at, make_deal, make_pipeline

TODAY = dt.date(2026, 12, 10)
DECEMBER, JANUARY, FEBRUARY = dt.date(2026, 12, 1), dt.date(2027, 1, 1), dt.date(2027, 2, 1)
COMMIT, BEST_CASE, OMITTED = (
    ForecastCategory.COMMIT,
    ForecastCategory.BEST_CASE,
    ForecastCategory.OMITTED,
)


def _book(workspace: Workspace, owner: Membership, member: Membership) -> Any:
    pipeline, s = make_pipeline(workspace)
    dec, jan = dt.date(2026, 12, 20), dt.date(2027, 1, 15)
    # the owner's December: 1000 at 60 % (commit), 500 at 10 % (best case), 200 at 80 %,
    # 300 at 60 % left out of the forecast
    make_deal(s["Proposal"], owner=owner, amount="1000", expected_close_date=dec, category=COMMIT)
    make_deal(
        s["Qualification"], owner=owner, amount="500", expected_close_date=dec, category=BEST_CASE
    )
    make_deal(s["Negotiation"], owner=owner, amount="200", expected_close_date=dec)
    make_deal(s["Proposal"], owner=owner, amount="300", expected_close_date=dec, category=OMITTED)
    # January: 2000 at 30 % (commit)
    make_deal(
        s["Needs analysis"], owner=owner, amount="2000", expected_close_date=jan, category=COMMIT
    )
    # not counted: US dollars, after the period, before it
    make_deal(s["Proposal"], owner=owner, amount="999", currency="USD", expected_close_date=dec)
    make_deal(s["Proposal"], owner=owner, amount="999", expected_close_date=dt.date(2027, 3, 1))
    make_deal(s["Proposal"], owner=owner, amount="999", expected_close_date=dt.date(2026, 11, 30))
    # won in December (Shanghai time: 00:30 on the 1st is still December), and in November
    make_deal(s["Won"], owner=owner, amount="700", closed_at=at(2026, 12, 3))
    make_deal(s["Won"], owner=owner, amount="300", closed_at=at(2026, 12, 1, 0, 30))
    make_deal(s["Won"], owner=owner, amount="999", closed_at=at(2026, 11, 30, 23, 30))
    # the member's December: 400 at 60 %
    make_deal(s["Proposal"], owner=member, amount="400", expected_close_date=dec)
    SalesTarget.objects.create(
        workspace=workspace, membership=owner, month=DECEMBER, amount=Decimal("2000")
    )
    return pipeline, s


def _cells(report: Any, label: str) -> list[tuple[Any, ...]]:
    row = next(row for row in report.rows if row.label == label)
    return [
        (c.month, c.open_count, c.pipeline, c.weighted, c.commit, c.best_case, c.won, c.target)
        for c in row.cells
    ]


def test_forecast_per_rep_weighted_commit_best_case_and_won(
    workspace: Workspace, owner: Membership, member: Membership, owner_actor: Actor
) -> None:
    # given
    _book(workspace, owner, member)
    # when
    report = forecast_report(owner_actor, today=TODAY)
    # then
    assert report.months == [DECEMBER, JANUARY, FEBRUARY]
    assert report.currency == "CNY"
    zero = Decimal("0.00")
    assert _cells(report, "owner@acme.test") == [
        (
            DECEMBER,
            4,
            Decimal("2000.00"),
            Decimal("810.00"),
            Decimal("1000.00"),
            Decimal("1500.00"),
            Decimal("1000.00"),
            Decimal("2000.00"),
        ),
        (JANUARY, 1, Decimal("2000.00"), Decimal("600.00"), Decimal("2000.00"),
         Decimal("2000.00"), zero, None),
        (FEBRUARY, 0, zero, zero, zero, zero, zero, None),
    ]  # fmt: skip
    assert _cells(report, "member@acme.test")[0] == (
        DECEMBER, 1, Decimal("400.00"), Decimal("240.00"), zero, zero, zero, None
    )  # fmt: skip
    owner_row = next(row for row in report.rows if row.label == "owner@acme.test")
    assert owner_row.cells[0].attainment == 0.5
    assert owner_row.cells[0].won_count == 2
    december = report.totals[0]
    assert (december.pipeline, december.weighted, december.won, december.target) == (
        Decimal("2400.00"),
        Decimal("1050.00"),
        Decimal("1000.00"),
        Decimal("2000.00"),
    )


def test_forecast_in_another_currency_adds_nothing_of_the_workspace_currency(
    workspace: Workspace, owner: Membership, member: Membership, owner_actor: Actor
) -> None:
    # given
    _book(workspace, owner, member)
    # when
    report = forecast_report(owner_actor, today=TODAY, currency="usd")
    # then
    assert report.currency == "USD"
    assert [(row.label, row.cells[0].pipeline, row.cells[0].weighted) for row in report.rows] == [
        ("owner@acme.test", Decimal("999.00"), Decimal("599.40"))
    ]


def test_forecast_per_team_and_per_pipeline(
    workspace: Workspace, owner: Membership, member: Membership, owner_actor: Actor
) -> None:
    # given: the member is in team East (the deal carries no team of its own)
    pipeline, _s = _book(workspace, owner, member)
    east = Team.objects.create(workspace=workspace, name="East", path="/")
    member.team = east
    member.save(update_fields=["team"])
    SalesTarget.objects.create(
        workspace=workspace, team=east, month=DECEMBER, amount=Decimal("800")
    )
    # when
    by_team = forecast_report(owner_actor, today=TODAY, group="team")
    by_pipeline = forecast_report(owner_actor, today=TODAY, group="pipeline", period="2026-12")
    # then
    assert [(row.label, row.cells[0].weighted, row.cells[0].target) for row in by_team.rows] == [
        ("East", Decimal("240.00"), Decimal("800.00")),
        ("No team", Decimal("810.00"), None),
    ]
    assert [(row.label, row.key, row.cells[0].weighted) for row in by_pipeline.rows] == [
        ("Sales pipeline", pipeline.public_id, Decimal("1050.00"))
    ]
    assert by_pipeline.months == [DECEMBER]


def test_forecast_of_one_pipeline_leaves_the_others_out(
    workspace: Workspace, owner: Membership, member: Membership, owner_actor: Actor
) -> None:
    # given
    pipeline, _s = _book(workspace, owner, member)
    _other, other_stages = make_pipeline(workspace, name="Partners")
    make_deal(other_stages["Proposal"], owner=owner, amount="5000", expected_close_date=TODAY)
    # when
    everything = forecast_report(owner_actor, today=TODAY)
    one = forecast_report(owner_actor, today=TODAY, pipeline=pipeline)
    # then
    assert everything.totals[0].pipeline == Decimal("7400.00")
    assert one.totals[0].pipeline == Decimal("2400.00")


def test_forecast_shows_a_rep_with_a_target_and_no_deals(
    workspace: Workspace, owner: Membership, member: Membership, owner_actor: Actor
) -> None:
    # given
    SalesTarget.objects.create(
        workspace=workspace, membership=member, month=JANUARY, amount=Decimal("1500")
    )
    # when
    report = forecast_report(owner_actor, today=TODAY)
    # then
    assert _cells(report, "member@acme.test")[1][7] == Decimal("1500.00")
    assert report.rows[0].cells[1].attainment == 0.0


@pytest.mark.parametrize(
    ("period", "months"),
    [
        ("2026-11", [dt.date(2026, 11, 1)]),
        ("2026-q4", [dt.date(2026, 10, 1), dt.date(2026, 11, 1), dt.date(2026, 12, 1)]),
        ("2027-Q1", [JANUARY, FEBRUARY, dt.date(2027, 3, 1)]),
        ("", [DECEMBER, JANUARY, FEBRUARY]),
    ],
)
def test_forecast_periods(period: str, months: list[dt.date]) -> None:
    assert forecast_months(period, TODAY) == months


@pytest.mark.parametrize("period", ["2026-13", "2026-Q5", "26-12", "december", "2026-1"])
def test_forecast_refuses_a_period_it_cannot_read(period: str) -> None:
    with pytest.raises(InvalidInputError) as error:
        forecast_months(period, TODAY)
    assert error.value.field == "period"


def test_forecast_queries_do_not_grow_with_the_deals(
    workspace: Workspace,
    owner: Membership,
    member: Membership,
    owner_actor: Actor,
    django_assert_num_queries: Any,
) -> None:
    # given
    _pipeline, s = _book(workspace, owner, member)
    # pipelines, roll-up states and whether deals exist without (no roll-ups built: the
    # deals are read); open, won, targets, labels, history, currencies; on PostgreSQL the open
    # deals' sums run in a savepoint that gives them sort memory (SAVEPOINT, SET LOCAL
    # work_mem, RELEASE). The forecast roll-ups' own count is in test_forecast_rollups.
    queries = 9 + (3 if connection.vendor == "postgresql" else 0)
    with django_assert_num_queries(queries):
        forecast_report(owner_actor, today=TODAY)
    for amount in range(1, 8):
        make_deal(s["Proposal"], owner=member, amount=str(amount), expected_close_date=TODAY)
    # when / then
    with django_assert_num_queries(queries):
        report = forecast_report(owner_actor, today=TODAY)
    assert report.totals[0].open_count == 12
