"""The board, the move endpoint, the deal list, a deal's page and forms, and the pipeline
settings: each working, refused for a role without the permission (nothing changed), empty or
404 for a rep on another rep's deal and for another workspace."""
# The fixtures are imported from test_deals_support (sales has no shared conftest), and a
# test naming a fixture as its argument is what pytest wants: F811 does not apply.
# ruff: noqa: F401, F811

import json
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from huike.accounts.models import Membership
from huike.customers.models import Event
from huike.sales.deals import BOARD_PAGE_SIZE
from huike.sales.models import Activity, Deal, DealContact, DealProduct, Pipeline, Product, Stage
from huike.sales.tests.test_deals_support import (
    make_customer,
    make_deal,
    manager,
    pipeline,
    rep,
    stage_named,
    team,
)

pytestmark = pytest.mark.django_db
JSON_ACCEPT = {"Accept": "application/json"}


def _client(membership: Membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def _move(client: Client, deal: Deal, stage: Stage, reason: str = "", json_reply: bool = True):
    return client.post(
        reverse("sales:deal_move", args=[deal.public_id]),
        {"stage": str(stage.public_id), "lost_reason": reason, "next": "/sales/board/"},
        headers=JSON_ACCEPT if json_reply else {},
    )


# --- board ----------------------------------------------------------------------------------
def test_board_shows_columns_with_counts_and_totals(
    owner_client: Client, pipeline: Pipeline, make_deal
) -> None:
    # given
    make_deal("Alpha", amount="1000.00")
    make_deal("Beta", amount="2500.00")
    # when
    response = owner_client.get(reverse("sales:pipeline_board"))
    # then
    assert response.status_code == 200
    page = response.content.decode()
    columns = [
        (c.stage.name, s["count"], s["total"], s["weighted"])
        for c, s in response.context["columns"]
    ]
    assert columns[0] == ("Qualification", 2, "3,500.00 CNY", "350.00 CNY")
    assert columns[1] == ("Needs analysis", 0, "0", "0")
    assert [c.stage.name for c, _ in response.context["columns"]] == [
        "Qualification",
        "Needs analysis",
        "Proposal",
        "Negotiation",
        "Won",
        "Lost",
    ]
    assert "Alpha" in page
    assert "Beta" in page
    assert "sales/kanban.js" in page


def test_board_columns_page_by_keyset(owner_client: Client, pipeline: Pipeline, make_deal) -> None:
    # given
    names = [f"Deal {number:02d}" for number in range(BOARD_PAGE_SIZE + 3)]
    for name in names:
        make_deal(name)
    # when
    response = owner_client.get(reverse("sales:pipeline_board"))
    column = response.context["columns"][0][0]
    more = owner_client.get(
        reverse("sales:pipeline_board_column", args=[column.stage.public_id]),
        {"cursor": column.next},
        headers={"HX-Request": "true"},
    )
    # then
    assert [deal.name for deal in column.deals] == list(reversed(names))[:BOARD_PAGE_SIZE]
    assert [deal.name for deal in more.context["cards"]] == ["Deal 02", "Deal 01", "Deal 00"]
    assert more.context["next"] is None
    assert "<html" not in more.content.decode()


def test_board_queries_do_not_grow_with_deals(
    owner_client: Client, pipeline: Pipeline, make_deal, make_customer
) -> None:
    # given
    make_deal("First", customer=make_customer())
    owner_client.get(reverse("sales:pipeline_board"))
    with CaptureQueriesContext(connection) as few:
        owner_client.get(reverse("sales:pipeline_board"))
    for number in range(6):
        make_deal(f"More {number}", customer=make_customer(f"C{number}"))
    # when
    with CaptureQueriesContext(connection) as many:
        owner_client.get(reverse("sales:pipeline_board"))
    # then
    assert len(many) == len(few)


def test_pipeline_switcher(owner_client: Client, owner_actor, pipeline: Pipeline) -> None:
    # given
    from huike.sales.deals import StageData, pipeline_create

    other = pipeline_create(
        actor=owner_actor, name="Renewals", stages=[StageData("Due", "open", 50)]
    )
    # when
    response = owner_client.get(reverse("sales:pipeline_board"), {"pipeline": str(other.public_id)})
    # then
    assert response.context["pipeline"].pk == other.pk
    assert [c.stage.name for c, _ in response.context["columns"]] == ["Due"]


def test_rep_sees_only_own_cards_and_read_only_no_amounts(
    member: Membership, rep: Membership, make_member: Callable[..., Membership], make_deal
) -> None:
    # given
    make_deal("Member's", owner=member, amount="700.00")
    make_deal("Rep's", owner=rep)
    reader = _client(make_member("reader@acme.test", "read_only"))
    # when
    seen_by_member = _client(member).get(reverse("sales:pipeline_board"))
    seen_by_reader = reader.get(reverse("sales:pipeline_board"))
    # then
    member_page = seen_by_member.content.decode()
    assert "Member&#x27;s" in member_page
    assert "Rep&#x27;s" not in member_page
    assert seen_by_member.context["columns"][0][1]["count"] == 1
    reader_page = seen_by_reader.content.decode()
    assert "Rep&#x27;s" in reader_page
    assert "700.00" not in reader_page
    assert "data-move-url" in reader_page
    assert 'draggable="true"' not in reader_page


def test_board_needs_deals_view(make_member: Callable[..., Membership], pipeline: Pipeline) -> None:
    service = _client(make_member("agent@acme.test", "service"))
    assert service.get(reverse("sales:pipeline_board")).status_code == 403


def test_outsider_cannot_open_a_pipeline_board(outsider: Membership, pipeline: Pipeline) -> None:
    response = _client(outsider).get(
        reverse("sales:pipeline_board"), {"pipeline": str(pipeline.public_id)}
    )
    assert response.status_code == 404


# --- the move endpoint ----------------------------------------------------------------------
def test_move_returns_the_new_column_totals(
    owner_client: Client, pipeline: Pipeline, make_deal
) -> None:
    # given
    deal = make_deal(amount="1000.00")
    make_deal("Stays", amount="400.00")
    proposal = stage_named(pipeline, "Proposal")
    qualification = stage_named(pipeline, "Qualification")
    # when
    response = _move(owner_client, deal, proposal)
    # then
    assert response.status_code == 200
    assert json.loads(response.content) == {
        "deal": str(deal.public_id),
        "stage": str(proposal.public_id),
        "status": "open",
        "columns": {
            str(qualification.public_id): {
                "count": 1,
                "total": "400.00 CNY",
                "weighted": "40.00 CNY",
            },
            str(proposal.public_id): {
                "count": 1,
                "total": "1,000.00 CNY",
                "weighted": "600.00 CNY",
            },
        },
    }
    assert Deal.objects.get(pk=deal.pk).stage_id == proposal.pk


def test_move_to_lost_without_reason_is_refused(
    owner_client: Client, pipeline: Pipeline, make_deal
) -> None:
    # given
    deal = make_deal()
    # when
    response = _move(owner_client, deal, stage_named(pipeline, "Lost"))
    # then
    assert response.status_code == 422
    assert json.loads(response.content) == {
        "detail": "Say why the deal was lost.",
        "field": "lost_reason",
    }
    assert Deal.objects.get(pk=deal.pk).status == "open"


def test_move_form_without_script_redirects_back(
    owner_client: Client, pipeline: Pipeline, make_deal
) -> None:
    # given
    deal = make_deal()
    # when
    response = _move(
        owner_client, deal, stage_named(pipeline, "Lost"), reason="Too dear", json_reply=False
    )
    # then
    assert response.status_code == 302
    assert response["Location"] == "/sales/board/"
    assert Deal.objects.get(pk=deal.pk).lost_reason == "Too dear"


def test_move_is_refused_to_read_only_rep_of_another_and_outsider(
    make_member: Callable[..., Membership],
    member: Membership,
    rep: Membership,
    outsider,
    pipeline,
    make_deal,
) -> None:
    # given
    deal = make_deal(owner=rep)
    won = stage_named(pipeline, "Won")
    reader = _client(make_member("reader@acme.test", "read_only"))
    # when
    by_reader = _move(reader, deal, won)
    by_member = _move(_client(member), deal, won)
    by_outsider = _move(_client(outsider), deal, won)
    # then
    assert (by_reader.status_code, by_member.status_code, by_outsider.status_code) == (
        403,
        404,
        404,
    )
    assert json.loads(by_member.content) == {"detail": "No such deal."}
    assert Deal.objects.get(pk=deal.pk).status == "open"


def test_move_to_a_stage_of_another_workspace_is_refused(
    owner_client: Client, other_workspace, pipeline: Pipeline, make_deal
) -> None:
    from huike.sales.deals import pipeline_default

    deal = make_deal()
    foreign = stage_named(pipeline_default(other_workspace), "Won")
    response = _move(owner_client, deal, foreign)
    assert response.status_code == 404
    assert Deal.objects.get(pk=deal.pk).status == "open"


# --- list, detail, forms --------------------------------------------------------------------
def test_list_filters_and_totals_per_stage(
    owner_client: Client, pipeline: Pipeline, make_deal
) -> None:
    # given
    make_deal("Alpha", amount="100.00")
    beta = make_deal("Beta", amount="300.00")
    owner_client.post(
        reverse("sales:deal_move", args=[beta.public_id]),
        {"stage": str(stage_named(pipeline, "Negotiation").public_id)},
    )
    # when
    response = owner_client.get(reverse("sales:deal_list"), {"pipeline": str(pipeline.public_id)})
    searched = owner_client.get(reverse("sales:deal_list"), {"q": "alp"})
    # then
    totals = {stage.name: summary for stage, summary in response.context["totals"]}
    assert totals["Qualification"] == {"count": 1, "total": "100.00 CNY", "weighted": "10.00 CNY"}
    assert totals["Negotiation"] == {"count": 1, "total": "300.00 CNY", "weighted": "240.00 CNY"}
    assert [deal.name for deal in response.context["page"].items] == ["Beta", "Alpha"]
    assert [deal.name for deal in searched.context["page"].items] == ["Alpha"]
    # without a pipeline chosen: the stages of every pipeline, counting what the search found
    every = {stage.name: summary["count"] for stage, summary in searched.context["totals"]}
    assert (every["Qualification"], every["Negotiation"]) == (1, 0)


def test_deal_page_shows_history_and_logs_an_activity(
    owner_client: Client, pipeline: Pipeline, make_deal, make_customer
) -> None:
    # given
    customer = make_customer()
    deal = make_deal(customer=customer)
    _move(owner_client, deal, stage_named(pipeline, "Proposal"))
    url = reverse("sales:deal_detail", args=[deal.public_id])
    # when
    logged = owner_client.post(
        reverse("sales:deal_activity_add", args=[deal.public_id]),
        {"kind": "visit", "subject": "Visited the office", "duration_minutes": "60"},
    )
    response = owner_client.get(url)
    # then
    assert logged.status_code == 302
    assert [(v.stage_name, v.left_at is None) for v, _ in response.context["history"]] == [
        ("Qualification", False),
        ("Proposal", True),
    ]
    assert "Visited the office" in response.content.decode()
    assert Activity.objects.get().kind == "visit"
    assert Event.objects.filter(customer=customer, kind="activity.logged").count() == 1


def test_deal_page_of_another_rep_is_404(member: Membership, rep: Membership, make_deal) -> None:
    deal = make_deal(owner=rep)
    client = _client(member)
    assert client.get(reverse("sales:deal_detail", args=[deal.public_id])).status_code == 404
    assert client.post(reverse("sales:deal_delete", args=[deal.public_id])).status_code == 404
    assert Deal.objects.filter(pk=deal.pk).exists()


def test_manager_opens_the_team_deal(manager: Membership, rep: Membership, make_deal) -> None:
    deal = make_deal("Team rollout", owner=rep)
    response = _client(manager).get(reverse("sales:deal_detail", args=[deal.public_id]))
    assert response.status_code == 200
    assert "Team rollout" in response.content.decode()


def test_create_and_edit_a_deal(
    owner_client: Client, pipeline: Pipeline, make_customer, owner
) -> None:
    # given
    customer = make_customer()
    # when
    created = owner_client.post(
        reverse("sales:deal_create"),
        {
            "name": "Enterprise licence",
            "pipeline": str(pipeline.public_id),
            "stage": str(stage_named(pipeline, "Proposal").public_id),
            "amount": "88000",
            "currency": "CNY",
            "customer": str(customer.public_id),
            "owner": str(owner.pk),
            "expected_close_date": "2027-01-15",
            "next_step": "Legal review",
            "forecast_category": "best_case",
        },
    )
    deal = Deal.objects.get()
    edited = owner_client.post(
        reverse("sales:deal_edit", args=[deal.public_id]),
        {
            "name": "Enterprise licence (3y)",
            "amount": "99000",
            "currency": "CNY",
            "customer": str(customer.public_id),
            "owner": str(owner.pk),
            "next_step": "Sign",
            "forecast_category": "commit",
        },
    )
    # then
    assert created.status_code == 302
    assert edited.status_code == 302
    deal.refresh_from_db()
    assert (
        deal.name,
        str(deal.amount),
        deal.stage.name,
        deal.next_step,
        deal.forecast_category,
    ) == (
        "Enterprise licence (3y)",
        "99000.00",
        "Proposal",
        "Sign",
        "commit",
    )
    assert deal.customer_id == customer.pk


def test_read_only_cannot_open_the_deal_form(
    make_member: Callable[..., Membership], pipeline
) -> None:
    reader = _client(make_member("reader@acme.test", "read_only"))
    assert reader.get(reverse("sales:deal_create")).status_code == 403
    assert reader.post(reverse("sales:deal_create"), {"name": "X"}).status_code == 403
    assert not Deal.objects.exists()


def test_contacts_and_products_on_the_deal_page(
    owner_client: Client, workspace, make_deal, make_customer
) -> None:
    # given
    deal = make_deal(amount="0")
    buyer = make_customer("Zhang Min")
    seat = Product.objects.create(workspace=workspace, sku="SEAT", name="Seat", price="99.50")
    # when
    owner_client.post(
        reverse("sales:deal_contact_add", args=[deal.public_id]),
        {"customer": str(buyer.public_id), "role": "champion"},
    )
    owner_client.post(
        reverse("sales:deal_product_add", args=[deal.public_id]),
        {"product": str(seat.public_id), "quantity": "4"},
    )
    # then
    assert list(DealContact.objects.values_list("customer__name", "role")) == [
        ("Zhang Min", "champion")
    ]
    assert str(Deal.objects.get(pk=deal.pk).amount) == "398.00"
    page = owner_client.get(reverse("sales:deal_detail", args=[deal.public_id])).content.decode()
    assert "398.00 CNY" in page
    assert "Zhang Min" in page
    # when
    line = DealProduct.objects.get()
    owner_client.post(reverse("sales:deal_product_remove", args=[deal.public_id, line.pk]))
    # then
    assert not DealProduct.objects.exists()


# --- pipeline settings ----------------------------------------------------------------------
def test_settings_create_a_pipeline_and_manage_stages(
    owner_client: Client, pipeline: Pipeline
) -> None:
    # when
    created = owner_client.post(
        reverse("sales:settings_pipelines"), {"name": "Partners", "currency": "USD"}
    )
    partners = Pipeline.objects.get(name="Partners")
    url = reverse("sales:settings_pipeline", args=[partners.public_id])
    owner_client.post(
        url,
        {
            "action": "add_stage",
            "name": "Pilot",
            "kind": "open",
            "probability": "40",
            "position": "2",
        },
    )
    pilot = Stage.objects.get(pipeline=partners, name="Pilot")
    owner_client.post(url, {"action": "stage_up", "stage": str(pilot.pk)})
    owner_client.post(
        url,
        {
            "action": "save_stage",
            "stage": str(pilot.pk),
            f"stage-{pilot.pk}-name": "Paid pilot",
            f"stage-{pilot.pk}-kind": "open",
            f"stage-{pilot.pk}-probability": "45",
        },
    )
    # then
    assert created.status_code == 302
    assert partners.currency == "USD"
    assert list(partners.stages.order_by("position").values_list("name", "probability"))[:3] == [
        ("Paid pilot", 45),
        ("Qualification", 10),
        ("Needs analysis", 30),
    ]
    assert owner_client.get(url).status_code == 200


def test_settings_refuse_deleting_a_stage_with_deals(
    owner_client: Client, pipeline: Pipeline, make_deal
) -> None:
    # given
    make_deal()
    stage = stage_named(pipeline, "Qualification")
    # when
    response = owner_client.post(
        reverse("sales:settings_pipeline", args=[pipeline.public_id]),
        {"action": "delete_stage", "stage": str(stage.pk)},
        follow=True,
    )
    # then
    assert "1 deal(s) are in this stage" in response.content.decode()
    assert Stage.objects.filter(pk=stage.pk).exists()


def test_settings_need_pipelines_manage(
    member_client: Client, outsider: Membership, pipeline: Pipeline
) -> None:
    assert member_client.get(reverse("sales:settings_pipelines")).status_code == 403
    url = reverse("sales:settings_pipeline", args=[pipeline.public_id])
    assert member_client.post(url, {"action": "delete"}).status_code == 403
    assert _client(outsider).post(url, {"action": "delete"}).status_code == 404
    assert Pipeline.objects.filter(pk=pipeline.pk).exists()


def test_pages_render_in_chinese(owner_client: Client, pipeline: Pipeline, make_deal) -> None:
    # given
    deal = make_deal()
    owner_client.post(reverse("set_language"), {"language": "zh-hans"})
    # when
    board = owner_client.get(
        reverse("sales:pipeline_board"), headers={"Accept-Language": "zh-hans"}
    )
    detail = owner_client.get(reverse("sales:deal_detail", args=[deal.public_id]))
    # then
    assert board.status_code == 200
    assert detail.status_code == 200
    assert '<html lang="zh-hans">' in board.content.decode()


def test_only_mine_and_the_column_endpoint_keep_to_the_actor(
    owner_client: Client,
    owner: Membership,
    outsider: Membership,
    rep: Membership,
    pipeline,
    make_deal,
) -> None:
    # given
    make_deal("Owner's", owner=owner)
    make_deal("Rep's", owner=rep)
    qualification = stage_named(pipeline, "Qualification")
    column_url = reverse("sales:pipeline_board_column", args=[qualification.public_id])
    # when
    mine = owner_client.get(reverse("sales:pipeline_board"), {"mine": "1"})
    column = owner_client.get(column_url, {"mine": "1"})
    foreign = _client(outsider).get(column_url)
    # then
    assert [deal.name for deal in mine.context["columns"][0][0].deals] == ["Owner's"]
    assert [deal.name for deal in column.context["cards"]] == ["Owner's"]
    assert foreign.status_code == 404
