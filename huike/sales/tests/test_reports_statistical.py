"""The statistical forecast: Holt's linear smoothing on series with a known trend, the
rolling-origin back-test computed by hand, and "too little history"."""

import datetime as dt
from decimal import Decimal

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.sales.reports import (
    MIN_HISTORY_MONTHS,
    BacktestPoint,
    backtest,
    forecast_report,
    holt_fit,
    month_add,
)
from huike.sales.tests.test_reports_data import at, make_deal, make_pipeline

TODAY = dt.date(2026, 12, 10)
DECEMBER = dt.date(2026, 12, 1)


def _won_per_month(workspace: Workspace, owner: Membership, amounts: list[int]) -> None:
    """One won deal per month with `amounts`, the last in November 2026."""
    _pipeline, stages = make_pipeline(workspace)
    first = month_add(DECEMBER, -len(amounts))
    for offset, amount in enumerate(amounts):
        month = month_add(first, offset)
        if amount:
            make_deal(
                stages["Won"],
                owner=owner,
                amount=str(amount),
                closed_at=at(month.year, month.month, 15),
            )


def test_holt_continues_a_straight_line_exactly() -> None:
    # given
    series = [1000.0 + 100 * month for month in range(12)]
    # when
    fit = holt_fit(series)
    # then
    assert [fit.predict(steps) for steps in (1, 2, 3)] == [2200.0, 2300.0, 2400.0]


def test_holt_follows_a_noisy_trend_closely() -> None:
    # given: +100 a month, with ±40 of noise
    series = [1000.0 + 100 * month + (40 if month % 2 else -40) for month in range(18)]
    # when
    forecast = holt_fit(series).predict(1)
    # then: the trend says 2800
    assert abs(forecast - 2800) < 0.05 * 2800


def test_holt_never_forecasts_below_zero() -> None:
    assert holt_fit([500.0, 300.0, 100.0]).predict(3) == 0.0


def test_backtest_forecasts_each_of_the_last_six_months_from_the_ones_before() -> None:
    # given: a straight line, except the last month (190 instead of 180)
    series = [100.0, 110.0, 120.0, 130.0, 140.0, 150.0, 160.0, 170.0, 190.0]
    # when
    points = backtest(series)
    # then
    assert points == [(3, 130.0), (4, 140.0), (5, 150.0), (6, 160.0), (7, 170.0), (8, 180.0)]


def test_statistical_forecast_with_its_backtest_error(
    workspace: Workspace, owner: Membership, owner_actor: Actor
) -> None:
    # given: nine months of wins (March to November 2026), straight but for November
    _won_per_month(workspace, owner, [100, 110, 120, 130, 140, 150, 160, 170, 190])
    # when
    statistical = forecast_report(owner_actor, today=TODAY).statistical
    # then
    assert statistical.available
    assert [amount for _month, amount in statistical.history] == [
        Decimal(value) for value in (100, 110, 120, 130, 140, 150, 160, 170, 190)
    ]
    assert statistical.history[0][0] == dt.date(2026, 3, 1)
    assert statistical.backtest[-1] == BacktestPoint(
        month=dt.date(2026, 11, 1), actual=Decimal("190.00"), predicted=Decimal("180.00")
    )
    assert [point.actual - point.predicted for point in statistical.backtest] == [0] * 5 + [10]
    assert statistical.mae == Decimal("1.67")  # 10 / 6
    assert statistical.mape == 100 * (10 / 190) / 6
    (month, amount), *later = statistical.forecast
    assert month == DECEMBER
    assert Decimal("185") <= amount <= Decimal("205")
    assert [month for month, _amount in later] == [dt.date(2027, 1, 1), dt.date(2027, 2, 1)]


def test_months_without_wins_count_as_zero(
    workspace: Workspace, owner: Membership, owner_actor: Actor
) -> None:
    # given
    _won_per_month(workspace, owner, [100, 0, 100, 0, 100, 0, 100, 0, 100, 0])
    # when
    statistical = forecast_report(owner_actor, today=TODAY).statistical
    # then: MAPE leaves out the months with nothing won (no percentage of zero)
    assert [amount for _month, amount in statistical.history][-2:] == [Decimal(100), Decimal(0)]
    assert len(statistical.backtest) == 6
    assert statistical.mape is not None
    assert statistical.mae is not None
    assert statistical.mae > 0


def test_too_little_history_says_so_instead_of_forecasting(
    workspace: Workspace, owner: Membership, owner_actor: Actor
) -> None:
    # given: one month short
    _won_per_month(workspace, owner, [100] * (MIN_HISTORY_MONTHS - 1))
    # when
    statistical = forecast_report(owner_actor, today=TODAY).statistical
    # then
    assert not statistical.available
    assert (statistical.forecast, statistical.backtest, statistical.mae) == ([], [], None)
    assert statistical.reason == (
        "Too little history for a statistical forecast: it needs won deals over at least "
        "9 complete months, there are 8."
    )


def test_this_months_wins_are_not_history_yet(
    workspace: Workspace, owner: Membership, owner_actor: Actor
) -> None:
    # given: nine months of history, and a win this month
    _won_per_month(workspace, owner, [100] * MIN_HISTORY_MONTHS)
    _pipeline, stages = make_pipeline(workspace, name="Other")
    make_deal(stages["Won"], owner=owner, amount="5000", closed_at=at(2026, 12, 2))
    # when
    statistical = forecast_report(owner_actor, today=TODAY).statistical
    # then
    assert statistical.history[-1] == (dt.date(2026, 11, 1), Decimal("100.00"))
    assert statistical.forecast[0] == (DECEMBER, Decimal("100.00"))
