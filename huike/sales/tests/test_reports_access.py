"""Who sees which numbers: a rep their own, a manager the team subtree, view-all roles
everything; another workspace nothing (404); no forecast.view → 403; no amounts.view → counts
without amounts. Through the selectors and through the API."""

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Role, Team, Workspace
from huike.core.errors import PermissionDeniedError
from huike.sales.funnel import funnel_report
from huike.sales.models import SalesTarget
from huike.sales.reports import forecast_report, visible_targets
from huike.sales.tests.test_reports_data import at, make_deal, make_pipeline

TODAY = dt.date(2026, 12, 10)
DECEMBER = dt.date(2026, 12, 1)
NOVEMBER = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))


def client_of(membership: Membership) -> Client:
    client = Client(headers={"Accept-Language": "en"})
    client.force_login(membership.user)
    return client


def _team(workspace: Workspace, name: str, parent: Team | None = None) -> Team:
    team = Team.objects.create(workspace=workspace, name=name, parent=parent, path="/")
    team.path = f"{parent.path if parent else '/'}{team.pk}/"
    team.save(update_fields=["path"])
    return team


@pytest.fixture
def org(workspace: Workspace, make_member: Callable[..., Membership]) -> dict[str, Any]:
    """Sales (managed by the manager) ⊃ East (rep east); West (rep west) is outside it."""
    manager = make_member("manager@acme.test", "manager")
    east_rep = make_member("east@acme.test", "sales")
    west_rep = make_member("west@acme.test", "sales")
    sales = _team(workspace, "Sales")
    east = _team(workspace, "East", parent=sales)
    west = _team(workspace, "West")
    sales.manager = manager
    sales.save(update_fields=["manager"])
    for membership, team in ((manager, sales), (east_rep, east), (west_rep, west)):
        membership.team = team
        membership.save(update_fields=["team"])
    pipeline, stages = make_pipeline(workspace)
    for membership, amount in ((manager, "100"), (east_rep, "200"), (west_rep, "400")):
        make_deal(stages["Proposal"], owner=membership, amount=amount, expected_close_date=TODAY)
        make_deal(stages["Won"], owner=membership, amount=amount, closed_at=at(2026, 11, 5))
        SalesTarget.objects.create(
            workspace=workspace, membership=membership, month=DECEMBER, amount=Decimal("1000")
        )
    for team in (sales, east, west):
        SalesTarget.objects.create(
            workspace=workspace, team=team, month=DECEMBER, amount=Decimal("5000")
        )
    return {
        "manager": manager,
        "east_rep": east_rep,
        "west_rep": west_rep,
        "pipeline": pipeline,
        "stages": stages,
    }


def _forecast_rows(actor: Actor, group: str = "rep") -> list[tuple[str, Decimal | None]]:
    report = forecast_report(actor, today=TODAY, group=group)  # type: ignore[arg-type]
    return [(row.label, row.cells[0].pipeline) for row in report.rows]


def test_rep_sees_only_their_own_numbers(org: dict[str, Any]) -> None:
    # given
    rep = Actor.for_membership(org["east_rep"])
    # when
    rows = _forecast_rows(rep)
    funnel = funnel_report(rep, org["pipeline"], *NOVEMBER)
    # then
    assert rows == [("east@acme.test", Decimal("200.00"))]
    assert funnel.deal_count == 2
    assert _forecast_rows(rep, "team") == [("East", Decimal("200.00"))]
    assert forecast_report(rep, today=TODAY, group="team").rows[0].cells[0].target is None
    assert [t.membership_id for t in visible_targets(rep)] == [org["east_rep"].pk]


def test_manager_sees_their_team_subtree(org: dict[str, Any]) -> None:
    # given
    manager = Actor.for_membership(org["manager"])
    # when
    rows = _forecast_rows(manager)
    teams = forecast_report(manager, today=TODAY, group="team")
    # then
    assert rows == [
        ("east@acme.test", Decimal("200.00")),
        ("manager@acme.test", Decimal("100.00")),
    ]
    assert [(row.label, row.cells[0].target) for row in teams.rows] == [
        ("East", Decimal("5000.00")),
        ("Sales", Decimal("5000.00")),
    ]
    assert funnel_report(manager, org["pipeline"], *NOVEMBER).deal_count == 4
    # managers set targets (targets.manage), so they read all of them
    assert visible_targets(manager).count() == 6


def test_view_all_role_sees_everything(
    org: dict[str, Any], make_member: Callable[..., Membership]
) -> None:
    # given
    analyst = Actor.for_membership(make_member("analyst@acme.test", "analyst"))
    # when
    rows = _forecast_rows(analyst)
    # then
    assert [label for label, _amount in rows] == [
        "east@acme.test",
        "manager@acme.test",
        "west@acme.test",
    ]
    assert visible_targets(analyst).count() == 6


def test_role_without_forecast_view_is_refused(
    org: dict[str, Any], make_member: Callable[..., Membership]
) -> None:
    # given: the service role
    agent = make_member("agent@acme.test", "service")
    actor = Actor.for_membership(agent)
    client = client_of(agent)
    pipeline = org["pipeline"].public_id
    # when / then
    with pytest.raises(PermissionDeniedError):
        forecast_report(actor, today=TODAY)
    with pytest.raises(PermissionDeniedError):
        funnel_report(actor, org["pipeline"])
    assert client.get("/api/v1/funnel", {"pipeline": str(pipeline)}).status_code == 403
    assert client.get("/api/v1/forecast").status_code == 403
    assert client.get("/api/v1/sales-targets").status_code == 403
    assert client.get("/sales/reports/forecast/").status_code == 403


def _custom_role(workspace: Workspace, permissions: list[str]) -> Role:
    return Role.objects.create(
        workspace=workspace, key="counts", name="Counts", permissions=permissions
    )


def test_amounts_are_hidden_without_amounts_view(
    workspace: Workspace, org: dict[str, Any], make_member: Callable[..., Membership]
) -> None:
    # given: a role that sees every deal and the forecast, but no amounts
    _custom_role(workspace, ["deals.view", "forecast.view", "records.view_all"])
    counter = make_member("counter@acme.test", "counts")
    actor = Actor.for_membership(counter)
    client = client_of(counter)
    # when
    report = forecast_report(actor, today=TODAY)
    funnel = funnel_report(actor, org["pipeline"], *NOVEMBER)
    api = client.get("/api/v1/forecast").json()
    api_funnel = client.get(
        "/api/v1/funnel",
        {"pipeline": str(org["pipeline"].public_id), "from": "2026-11-01", "to": "2026-11-30"},
    ).json()
    page = client.get("/sales/reports/forecast/")
    # then
    assert [(row.cells[0].open_count, row.cells[0].pipeline) for row in report.rows] == [
        (1, None),
        (1, None),
        (1, None),
    ]
    assert report.totals[0].weighted is None
    assert not report.statistical.available
    assert [(total.count, total.amount) for total in funnel.won] == [(3, None)]
    assert {cell["weighted"] for row in api["rows"] for cell in row["cells"]} == {None}
    assert api_funnel["won"] == {
        "count": 3,
        "amounts": [{"currency": "CNY", "count": 3, "amount": None}],
    }
    assert page.status_code == 200
    assert "Your role does not show amounts" in page.content.decode()
    assert "1,000.00" not in page.content.decode()


def test_another_workspaces_pipeline_and_targets_are_404(
    org: dict[str, Any], outsider: Membership, outsider_actor: Actor
) -> None:
    # given
    client = client_of(outsider)
    pipeline = str(org["pipeline"].public_id)
    target = SalesTarget.objects.filter(membership=org["east_rep"]).get()
    # when
    funnel = client.get("/api/v1/funnel", {"pipeline": pipeline})
    forecast = client.get("/api/v1/forecast", {"pipeline": pipeline})
    detail = client.get(f"/api/v1/sales-targets/{target.public_id}")
    patch = client.patch(
        f"/api/v1/sales-targets/{target.public_id}",
        {"amount": "1.00"},
        content_type="application/json",
    )
    delete = client.delete(f"/api/v1/sales-targets/{target.public_id}")
    listed = client.get("/api/v1/sales-targets").json()
    page = client.get("/sales/reports/forecast/", {"pipeline": pipeline})
    # then
    assert [r.status_code for r in (funnel, forecast, detail, patch, delete, page)] == [404] * 6
    assert listed["items"] == []
    target.refresh_from_db()
    assert target.amount == Decimal("1000.00")
    assert forecast_report(outsider_actor, today=TODAY).rows == []


def test_rep_cannot_read_another_reps_target(org: dict[str, Any]) -> None:
    # given
    client = client_of(org["east_rep"])
    theirs = SalesTarget.objects.filter(membership=org["west_rep"]).get()
    mine = SalesTarget.objects.filter(membership=org["east_rep"]).get()
    # when
    other = client.get(f"/api/v1/sales-targets/{theirs.public_id}")
    own = client.get(f"/api/v1/sales-targets/{mine.public_id}")
    # then
    assert other.status_code == 404
    assert own.status_code == 200
    assert own.json()["amount"] == "1000.00"


def test_pages_of_another_workspaces_pipeline_and_unknown_target_are_404(
    org: dict[str, Any], outsider: Membership
) -> None:
    # given: the outsider is admin (targets.manage) of their own workspace
    client = client_of(outsider)
    target = SalesTarget.objects.filter(membership=org["east_rep"]).get()
    # when
    response = client.post(f"/sales/reports/settings/targets/{target.public_id}/delete/")
    # then
    assert response.status_code == 404
    assert SalesTarget.objects.filter(pk=target.pk).exists()
