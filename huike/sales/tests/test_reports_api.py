"""GET /api/v1/funnel and /api/v1/forecast: the shapes clients read, with exact values, and
the forecast page."""

import datetime as dt
from decimal import Decimal

from django.test import Client
from django.utils import timezone

from huike.accounts.models import Membership, Workspace
from huike.sales.models import ForecastCategory, SalesTarget
from huike.sales.reports import month_add
from huike.sales.tests.test_reports_data import at, make_deal, make_pipeline, move


def test_api_funnel_of_a_pipeline_and_period(
    workspace: Workspace, owner: Membership, owner_client: Client
) -> None:
    # given
    pipeline, s = make_pipeline(workspace)
    make_deal(s["Qualification"], owner=owner, amount="100")
    move(make_deal(s["Qualification"], owner=owner, amount="300"), s["Proposal"], 7200)
    lost = make_deal(s["Qualification"], owner=owner, amount="50")
    move(lost, s["Lost"], 600)
    # when
    response = owner_client.get(
        "/api/v1/funnel",
        {"pipeline": str(pipeline.public_id), "from": "2026-11-01", "to": "2026-11-30"},
    )
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["pipeline_id"], body["from"], body["to"], body["deal_count"]) == (
        str(pipeline.public_id),
        "2026-11-01",
        "2026-11-30",
        3,
    )
    assert [
        (stage["name"], stage["reached"], stage["conversion_rate"], stage["average_seconds"])
        for stage in body["stages"]
    ] == [
        ("Qualification", 3, None, 3900),
        ("Needs analysis", 1, 1 / 3, None),
        ("Proposal", 1, 1.0, None),
        ("Negotiation", 0, 0.0, None),
        ("Won", 0, None, None),
    ]
    assert body["stages"][0]["id"] == str(s["Qualification"].public_id)
    assert body["won"] == {"count": 0, "amounts": []}
    assert body["lost"] == {
        "count": 1,
        "amounts": [{"currency": "CNY", "count": 1, "amount": "50.00"}],
    }
    assert body["win_rate"] == 0.0


def test_api_funnel_refuses_a_backwards_period(workspace: Workspace, owner_client: Client) -> None:
    # given
    pipeline, _s = make_pipeline(workspace)
    # when
    response = owner_client.get(
        "/api/v1/funnel",
        {"pipeline": str(pipeline.public_id), "from": "2026-11-30", "to": "2026-11-01"},
    )
    # then
    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/problem+json")


def test_api_forecast_rows_and_statistical_forecast(
    workspace: Workspace, owner: Membership, member: Membership, owner_client: Client
) -> None:
    # given: this month, 1000 at 60 % (commit) for the member, and a target
    _pipeline, s = make_pipeline(workspace)
    today = workspace_today_of(owner)
    this_month = today.replace(day=1)
    make_deal(
        s["Proposal"],
        owner=member,
        amount="1000",
        expected_close_date=today,
        category=ForecastCategory.COMMIT,
    )
    make_deal(s["Won"], owner=member, amount="250", closed_at=timezone.now())
    SalesTarget.objects.create(
        workspace=workspace, membership=member, month=this_month, amount=Decimal("500")
    )
    # when
    response = owner_client.get("/api/v1/forecast", {"period": f"{this_month:%Y-%m}"})
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["currency"], body["group"], body["months"]) == (
        "CNY",
        "rep",
        [this_month.isoformat()],
    )
    (row,) = body["rows"]
    assert (row["id"], row["label"]) == (str(member.public_id), "member@acme.test")
    assert row["cells"][0] == {
        "month": this_month.isoformat(),
        "open_count": 1,
        "won_count": 1,
        "pipeline": "1000.00",
        "weighted": "600.00",
        "commit": "1000.00",
        "best_case": "1000.00",
        "won": "250.00",
        "target": "500.00",
        "attainment": 0.5,
    }
    statistical = body["statistical"]
    assert (statistical["available"], statistical["method"], statistical["forecast"]) == (
        False,
        "holt_linear",
        [],
    )
    assert "Too little history" in statistical["reason"]


def test_api_forecast_refuses_a_period_it_cannot_read(owner_client: Client) -> None:
    # when
    response = owner_client.get("/api/v1/forecast", {"period": "2026-Q9"})
    # then
    assert response.status_code == 422


def test_forecast_page_shows_rows_chart_and_error(
    workspace: Workspace, owner: Membership, owner_client: Client
) -> None:
    # given: ten months of wins before this one, and an open deal this month
    _pipeline, s = make_pipeline(workspace)
    this_month = workspace_today_of(owner).replace(day=1)
    for back in range(1, 11):
        month = month_add(this_month, -back)
        make_deal(
            s["Won"],
            owner=owner,
            amount=str(1000 + 10 * back),
            closed_at=at(month.year, month.month, 10),
        )
    make_deal(s["Proposal"], owner=owner, amount="800", expected_close_date=this_month)
    # when
    response = owner_client.get("/sales/reports/forecast/")
    html = response.content.decode()
    # then
    assert response.status_code == 200
    assert "owner@acme.test" in html
    assert "480.00" in html  # weighted: 800 x 60 %
    assert 'class="forecast-chart"' in html
    assert f'data-month="{month_add(this_month, -1):%Y-%m}"' in html
    assert "mean absolute error" in html
    assert "Too little history" not in html


def test_forecast_page_in_chinese(owner_client: Client) -> None:
    # when
    response = owner_client.get("/sales/reports/forecast/", headers={"Accept-Language": "zh-hans"})
    # then
    assert response.status_code == 200
    assert "<h1>销售预测</h1>" in response.content.decode()


def workspace_today_of(membership: Membership) -> dt.date:

    return membership.workspace.today()
