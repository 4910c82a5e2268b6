"""The report pages: funnel, forecast and targets, with their access rules."""

import datetime as dt
import re
import uuid
from collections.abc import Callable

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from huike.accounts.models import Membership, Workspace
from huike.sales.tests.test_reports_data import make_deal, make_pipeline, move

FUNNEL = "/sales/reports/funnel/"


def client_of(membership: Membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def stage_counts(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-stage="([0-9a-f-]+)" data-count="(\d+)"', html))


def test_funnel_page_draws_each_stage_with_its_count(
    workspace: Workspace, owner: Membership, owner_client: Client
) -> None:
    # given: deals created today (the default period ends today)
    pipeline, s = make_pipeline(workspace)
    today = timezone.now()
    make_deal(s["Qualification"], owner=owner, created_at=today)
    move(make_deal(s["Qualification"], owner=owner, created_at=today), s["Proposal"], 60)
    # when
    response = owner_client.get(FUNNEL, {"pipeline": str(pipeline.public_id)})
    # then
    assert response.status_code == 200
    assert stage_counts(response.content.decode()) == {
        str(s["Qualification"].public_id): "2",
        str(s["Needs analysis"].public_id): "1",
        str(s["Proposal"].public_id): "1",
        str(s["Negotiation"].public_id): "0",
        str(s["Won"].public_id): "0",
    }
    assert "50.0%" in response.content.decode()


def test_funnel_page_shows_the_default_pipeline_without_a_choice(
    workspace: Workspace, owner: Membership, owner_client: Client
) -> None:
    # given
    make_pipeline(workspace, name="Partners")
    pipeline, s = make_pipeline(workspace)
    pipeline.is_default = True
    pipeline.save(update_fields=["is_default"])
    make_deal(s["Proposal"], owner=owner, created_at=timezone.now())
    # when
    response = owner_client.get(FUNNEL)
    # then
    assert response.status_code == 200
    assert stage_counts(response.content.decode())[str(s["Proposal"].public_id)] == "1"
    # (the workspace's today: past 16:00 UTC it is tomorrow in Asia/Shanghai)
    assert f'value="{workspace.today():%Y-%m-%d}"' in response.content.decode()


def test_funnel_page_rep_counts_only_their_own_deals(
    workspace: Workspace,
    owner: Membership,
    member: Membership,
    member_client: Client,
) -> None:
    # given
    pipeline, s = make_pipeline(workspace)
    make_deal(s["Proposal"], owner=member, created_at=timezone.now())
    make_deal(s["Proposal"], owner=owner, created_at=timezone.now())
    # when
    response = member_client.get(FUNNEL, {"pipeline": str(pipeline.public_id)})
    # then
    assert stage_counts(response.content.decode())[str(s["Qualification"].public_id)] == "1"


def test_funnel_page_of_another_workspaces_pipeline_is_404(
    workspace: Workspace, other_workspace: Workspace, outsider_client: Client
) -> None:
    # given
    pipeline, _s = make_pipeline(workspace)
    # when
    response = outsider_client.get(FUNNEL, {"pipeline": str(pipeline.public_id)})
    unknown = outsider_client.get(FUNNEL, {"pipeline": str(uuid.uuid4())})
    # then
    assert (response.status_code, unknown.status_code) == (404, 404)


def test_funnel_page_needs_forecast_view(
    workspace: Workspace, make_member: Callable[..., Membership]
) -> None:
    # given: the service role has no forecast.view
    pipeline, _s = make_pipeline(workspace)
    client = client_of(make_member("agent@acme.test", "service"))
    # when
    response = client.get(FUNNEL, {"pipeline": str(pipeline.public_id)})
    # then
    assert response.status_code == 403


def test_funnel_page_backwards_period_is_a_form_error(
    workspace: Workspace, owner_client: Client
) -> None:
    # given
    pipeline, _s = make_pipeline(workspace)
    today = timezone.localdate()
    # when
    response = owner_client.get(
        FUNNEL,
        {
            "pipeline": str(pipeline.public_id),
            "from": today.isoformat(),
            "to": (today - dt.timedelta(days=3)).isoformat(),
        },
    )
    # then
    assert response.status_code == 200
    assert "The period ends before it starts." in response.content.decode()
    assert "data-stage" not in response.content.decode()


def test_funnel_page_redirects_anonymous_visitors_to_sign_in(db: None) -> None:
    # when
    response = Client().get(FUNNEL)
    # then
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
