"""The pipelines and deals endpoints: pipelines with their stages, deals (list with filters
and cursor, create, detail, patch, the move by PATCH of stage_id, delete), a deal's stage
history, activities, contacts and products.

Each is shown working and refused: another workspace gets 404, a role without the permission
403 with nothing changed, a rep nothing of another rep's deals, a manager their team subtree,
finance the amounts and read-only no amounts.
"""
# The fixtures are imported from test_deals_support (sales has no shared conftest), and a
# test naming a fixture as its argument is what pytest wants: F811 does not apply.
# ruff: noqa: F401, F811

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from huike.accounts.models import Membership, Workspace
from huike.accounts.tests.api_support import JSON, key_client
from huike.customers.models import Customer, Event
from huike.sales.deals import pipeline_default
from huike.sales.models import (
    Activity,
    Deal,
    DealContact,
    DealProduct,
    DealStageChange,
    Order,
    Pipeline,
    Product,
    Stage,
)
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
API = "/api/v1"
STAGES = [
    {"name": "New", "type": "open", "probability": 10},
    {"name": "Offer", "type": "open", "probability": 50},
    {"name": "Signed", "type": "won", "probability": 100},
    {"name": "Dropped", "type": "lost", "probability": 0},
]


def _client(membership: Membership) -> Client:
    client = Client(headers={"Accept-Language": "en"})
    client.force_login(membership.user)
    return client


def _patch(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.patch(url, body, content_type=JSON)


def _post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, body, content_type=JSON)


@pytest.fixture
def admin(owner: Membership) -> Client:
    return _client(owner)


@pytest.fixture
def role_client(make_member: Callable[..., Membership]) -> Callable[[str], Client]:
    def make(role_key: str) -> Client:
        return _client(make_member(f"{role_key}@acme.test", role_key))

    return make


# --- pipelines ------------------------------------------------------------------------------
def test_create_a_pipeline_with_stages(admin: Client) -> None:
    # when
    response = _post(admin, f"{API}/pipelines", {"name": "Enterprise", "stages": STAGES})
    # then
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Enterprise"
    assert body["currency"] == "CNY"
    assert body["is_default"] is True
    assert [(s["name"], s["type"], s["probability"], s["position"]) for s in body["stages"]] == [
        ("New", "open", 10, 1),
        ("Offer", "open", 50, 2),
        ("Signed", "won", 100, 3),
        ("Dropped", "lost", 0, 4),
    ]
    stored = Pipeline.objects.get(public_id=body["id"])
    assert [str(s.public_id) for s in stored.stages.all()] == [s["id"] for s in body["stages"]]


def test_pipeline_without_open_stage_is_422(admin: Client) -> None:
    response = _post(admin, f"{API}/pipelines", {"name": "Bad", "stages": [STAGES[2]]})
    assert response.status_code == 422
    assert not Pipeline.objects.filter(name="Bad").exists()


def test_rep_cannot_create_or_change_pipelines(member_client: Client, pipeline: Pipeline) -> None:
    # when
    created = _post(member_client, f"{API}/pipelines", {"name": "Mine", "stages": STAGES})
    renamed = _patch(member_client, f"{API}/pipelines/{pipeline.public_id}", {"name": "X"})
    # then
    assert (created.status_code, renamed.status_code) == (403, 403)
    assert list(Pipeline.objects.values_list("name", flat=True)) == ["Sales pipeline"]


def test_list_pipelines_in_constant_queries(admin: Client, owner) -> None:
    # given
    _post(admin, f"{API}/pipelines", {"name": "One", "stages": STAGES})
    with CaptureQueriesContext(connection) as one:
        first = admin.get(f"{API}/pipelines")
    _post(admin, f"{API}/pipelines", {"name": "Two", "stages": STAGES})
    _post(admin, f"{API}/pipelines", {"name": "Three", "stages": STAGES})
    # when
    with CaptureQueriesContext(connection) as three:
        response = admin.get(f"{API}/pipelines")
    # then
    assert len(first.json()["items"]) == 1
    assert [p["name"] for p in response.json()["items"]] == ["One", "Two", "Three"]
    assert len(three) == len(one)


def test_rename_reorder_and_archive_a_pipeline(admin: Client, owner_actor) -> None:
    # given
    body = _post(admin, f"{API}/pipelines", {"name": "A", "stages": STAGES}).json()
    _post(admin, f"{API}/pipelines", {"name": "B", "stages": STAGES})
    ids = [stage["id"] for stage in body["stages"]]
    # when
    response = _patch(
        admin,
        f"{API}/pipelines/{body['id']}",
        {"name": "Key accounts", "stage_ids": [ids[1], ids[0], ids[2], ids[3]]},
    )
    # then
    assert response.status_code == 200
    assert response.json()["name"] == "Key accounts"
    assert [s["name"] for s in response.json()["stages"]] == ["Offer", "New", "Signed", "Dropped"]
    # when: the default cannot be archived
    refused = _patch(admin, f"{API}/pipelines/{body['id']}", {"is_archived": True})
    # then
    assert refused.status_code == 409


def test_stage_endpoints(admin: Client, pipeline: Pipeline, make_deal) -> None:
    # given
    make_deal()
    url = f"{API}/pipelines/{pipeline.public_id}/stages"
    # when
    added = _post(admin, url, {"name": "Demo", "type": "open", "probability": 40, "position": 2})
    stage_id = added.json()["id"]
    changed = _patch(admin, f"{url}/{stage_id}", {"name": "Product demo", "probability": 45})
    busy = admin.delete(f"{url}/{stage_named(pipeline, 'Qualification').public_id}")
    deleted = admin.delete(f"{url}/{stage_id}")
    # then
    assert (added.status_code, added.json()["position"]) == (201, 2)
    assert changed.json()["name"] == "Product demo"
    assert changed.json()["probability"] == 45
    assert busy.status_code == 409
    assert "move them to another stage" in busy.json()["detail"]
    assert deleted.status_code == 204
    assert pipeline.stages.count() == 6


def test_outsider_gets_no_pipeline(outsider, pipeline: Pipeline) -> None:
    client = _client(outsider)
    assert client.get(f"{API}/pipelines/{pipeline.public_id}").status_code == 404
    assert client.delete(f"{API}/pipelines/{pipeline.public_id}").status_code == 404
    assert Pipeline.objects.filter(pk=pipeline.pk).exists()


def test_pipeline_with_deals_cannot_be_deleted(
    admin: Client, pipeline: Pipeline, make_deal
) -> None:
    make_deal()
    assert admin.delete(f"{API}/pipelines/{pipeline.public_id}").status_code == 409
    assert Pipeline.objects.filter(pk=pipeline.pk).exists()


# --- deals ----------------------------------------------------------------------------------
def test_create_a_deal(admin: Client, owner: Membership, pipeline: Pipeline, make_customer) -> None:
    # given
    customer = make_customer()
    # when
    response = _post(
        admin,
        f"{API}/deals",
        {
            "name": "WeCom rollout",
            "amount": "12500.50",
            "customer_id": str(customer.public_id),
            "expected_close_date": "2026-12-31",
            "next_step": "Send the quote",
            "forecast_category": "commit",
        },
    )
    # then
    assert response.status_code == 201
    body = response.json()
    qualification = stage_named(pipeline, "Qualification")
    assert {
        key: body[key]
        for key in body
        if key not in ("id", "created_at", "updated_at", "stage_entered_at")
    } == {
        "name": "WeCom rollout",
        "pipeline_id": str(pipeline.public_id),
        "stage_id": str(qualification.public_id),
        "status": "open",
        "probability": 10,
        "amount": "12500.50",
        "currency": "CNY",
        "customer_id": str(customer.public_id),
        "company_id": None,
        "lead_id": None,
        "owner": str(owner.public_id),
        "expected_close_date": "2026-12-31",
        "next_step": "Send the quote",
        "lost_reason": "",
        "forecast_category": "commit",
        "closed_at": None,
    }


def test_create_with_an_unknown_customer_is_422(admin: Client, pipeline: Pipeline) -> None:
    response = _post(
        admin,
        f"{API}/deals",
        {"name": "X", "customer_id": "00000000-0000-0000-0000-000000000001"},
    )
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["customer_id"]
    assert not Deal.objects.exists()


def test_move_by_patch_of_stage_id(
    admin: Client, pipeline: Pipeline, make_deal, make_customer
) -> None:
    # given
    customer = make_customer()
    deal = make_deal(customer=customer, amount="800")
    url = f"{API}/deals/{deal.public_id}"
    lost = stage_named(pipeline, "Lost")
    won = stage_named(pipeline, "Won")
    # when: lost without a reason
    refused = _patch(admin, url, {"stage_id": str(lost.public_id)})
    # then
    assert refused.status_code == 422
    assert [error["field"] for error in refused.json()["errors"]] == ["lost_reason"]
    assert Deal.objects.get(pk=deal.pk).status == "open"
    # when
    response = _patch(admin, url, {"stage_id": str(won.public_id), "next_step": "Kick-off"})
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["stage_id"], body["next_step"]) == (
        "won",
        str(won.public_id),
        "Kick-off",
    )
    assert body["closed_at"] is not None
    assert Customer.objects.get(pk=customer.pk).lifecycle_stage == "customer"
    assert Order.objects.filter(deal=deal).count() == 1
    history = admin.get(f"{url}/stage-history").json()
    assert [(h["from_stage_id"], h["to_stage"]) for h in history] == [
        (None, "Qualification"),
        (str(stage_named(pipeline, "Qualification").public_id), "Won"),
    ]


def test_move_to_lost_with_reason(admin: Client, pipeline: Pipeline, make_deal) -> None:
    deal = make_deal()
    lost = stage_named(pipeline, "Lost")
    response = _patch(
        admin,
        f"{API}/deals/{deal.public_id}",
        {"stage_id": str(lost.public_id), "lost_reason": "Price"},
    )
    assert (response.json()["status"], response.json()["lost_reason"]) == ("lost", "Price")


def test_list_filters_and_pages(
    admin: Client, pipeline: Pipeline, make_deal, rep: Membership
) -> None:
    # given
    make_deal("First", owner=rep, expected_close_date="2026-03-01")
    make_deal("Second", expected_close_date="2026-06-01")
    third = make_deal("Third", expected_close_date="2026-09-01")
    proposal = stage_named(pipeline, "Proposal")
    _patch(admin, f"{API}/deals/{third.public_id}", {"stage_id": str(proposal.public_id)})
    # when
    page_one = admin.get(f"{API}/deals?limit=2").json()
    page_two = admin.get(f"{API}/deals?limit=2&cursor={page_one['next']}").json()
    by_owner = admin.get(f"{API}/deals?owner={rep.public_id}").json()
    by_stage = admin.get(f"{API}/deals?stage={proposal.public_id}").json()
    by_close = admin.get(
        f"{API}/deals?expected_close_from=2026-05-01&expected_close_to=2026-07-01"
    ).json()
    by_status = admin.get(f"{API}/deals?status=won").json()
    # then
    assert [d["name"] for d in page_one["items"]] == ["Third", "Second"]
    assert [d["name"] for d in page_two["items"]] == ["First"]
    assert page_two["next"] is None
    assert [d["name"] for d in by_owner["items"]] == ["First"]
    assert [d["name"] for d in by_stage["items"]] == ["Third"]
    assert [d["name"] for d in by_close["items"]] == ["Second"]
    assert by_status["items"] == []


def test_list_runs_constant_queries(admin: Client, make_deal, make_customer) -> None:
    # given
    make_deal(customer=make_customer())
    admin.get(f"{API}/deals")  # the session and workspace are loaded once
    with CaptureQueriesContext(connection) as one:
        assert len(admin.get(f"{API}/deals").json()["items"]) == 1
    for number in range(4):
        make_deal(f"Deal {number}", customer=make_customer(f"C{number}"))
    # when
    with CaptureQueriesContext(connection) as five:
        response = admin.get(f"{API}/deals")
    # then
    assert len(response.json()["items"]) == 5
    assert len(five) == len(one)


def test_rep_sees_only_own_deals(
    member: Membership, member_client: Client, rep: Membership, make_deal
) -> None:
    # given
    own = make_deal("Own", owner=member)
    other = make_deal("Other", owner=rep)
    # when
    listed = member_client.get(f"{API}/deals").json()
    detail = member_client.get(f"{API}/deals/{other.public_id}")
    changed = _patch(member_client, f"{API}/deals/{other.public_id}", {"name": "Mine now"})
    deleted = member_client.delete(f"{API}/deals/{other.public_id}")
    # then
    assert [d["id"] for d in listed["items"]] == [str(own.public_id)]
    assert (detail.status_code, changed.status_code, deleted.status_code) == (404, 404, 404)
    assert Deal.objects.get(pk=other.pk).name == "Other"


def test_manager_sees_the_team_subtree(
    manager: Membership, rep: Membership, member: Membership, make_deal
) -> None:
    # given
    make_deal("Rep's", owner=rep)
    make_deal("Member's", owner=member)  # the member is in no team
    # when
    listed = _client(manager).get(f"{API}/deals").json()
    # then
    assert [d["name"] for d in listed["items"]] == ["Rep's"]


def test_finance_sees_amounts_read_only_does_not(
    role_client: Callable[[str], Client], make_deal
) -> None:
    # given
    deal = make_deal(amount="4321.00")
    finance, reader = role_client("finance"), role_client("read_only")
    # when
    seen_by_finance = finance.get(f"{API}/deals/{deal.public_id}").json()
    seen_by_reader = reader.get(f"{API}/deals/{deal.public_id}").json()
    # then
    assert seen_by_finance["amount"] == "4321.00"
    assert seen_by_reader["amount"] is None
    assert seen_by_reader["name"] == "CRM rollout"


def test_read_only_and_finance_cannot_change_deals(
    role_client: Callable[[str], Client], pipeline: Pipeline, make_deal
) -> None:
    # given
    deal = make_deal()
    won = stage_named(pipeline, "Won")
    for role in ("read_only", "finance"):
        client = role_client(role)
        # when
        moved = _patch(client, f"{API}/deals/{deal.public_id}", {"stage_id": str(won.public_id)})
        created = _post(client, f"{API}/deals", {"name": "New"})
        logged = _post(
            client, f"{API}/deals/{deal.public_id}/activities", {"type": "note", "subject": "x"}
        )
        # then
        assert (moved.status_code, created.status_code, logged.status_code) == (403, 403, 403)
    assert Deal.objects.get(pk=deal.pk).status == "open"
    assert Deal.objects.count() == 1
    assert not Activity.objects.exists()


def test_role_without_deals_view_is_403(role_client: Callable[[str], Client], make_deal) -> None:
    deal = make_deal()
    service = role_client("service")
    assert service.get(f"{API}/deals").status_code == 403
    assert service.get(f"{API}/deals/{deal.public_id}").status_code == 403
    assert service.get(f"{API}/pipelines").status_code == 403


def test_outsider_gets_404_and_changes_nothing(outsider, pipeline: Pipeline, make_deal) -> None:
    # given
    deal = make_deal()
    client = _client(outsider)
    url = f"{API}/deals/{deal.public_id}"
    # when / then
    assert client.get(url).status_code == 404
    assert _patch(client, url, {"name": "Taken"}).status_code == 404
    assert client.delete(url).status_code == 404
    assert client.get(f"{url}/stage-history").status_code == 404
    assert client.get(f"{url}/activities").status_code == 404
    assert client.get(f"{url}/contacts").status_code == 404
    assert client.get(f"{url}/products").status_code == 404
    assert client.get(f"{API}/deals").json()["items"] == []
    assert Deal.objects.get(pk=deal.pk).name == "CRM rollout"


def test_api_key_of_another_workspace_gets_404(other_workspace: Workspace, make_deal) -> None:
    deal = make_deal()
    assert key_client(other_workspace).get(f"{API}/deals/{deal.public_id}").status_code == 404


def test_delete_a_deal(admin: Client, make_deal) -> None:
    deal = make_deal()
    assert admin.delete(f"{API}/deals/{deal.public_id}").status_code == 204
    assert not Deal.objects.exists()


# --- sub-resources --------------------------------------------------------------------------
def test_activities_are_logged_and_listed(admin: Client, make_deal, make_customer) -> None:
    # given
    customer = make_customer()
    deal = make_deal(customer=customer)
    url = f"{API}/deals/{deal.public_id}/activities"
    # when
    created = _post(
        admin,
        url,
        {
            "type": "meeting",
            "subject": "Demo",
            "occurred_at": "2026-11-30T10:00:00+08:00",
            "duration_minutes": 45,
        },
    )
    _post(
        admin,
        url,
        {"type": "note", "subject": "Budget approved", "occurred_at": "2026-12-01T09:00:00+08:00"},
    )
    listed = admin.get(url).json()
    # then
    assert created.status_code == 201
    assert created.json()["duration_minutes"] == 45
    assert [(a["type"], a["subject"]) for a in listed["items"]] == [
        ("note", "Budget approved"),
        ("meeting", "Demo"),
    ]
    assert Event.objects.filter(customer=customer, kind="activity.logged").count() == 2


def test_contacts_with_roles(admin: Client, make_deal, make_customer) -> None:
    # given
    deal = make_deal()
    buyer = make_customer("Zhang Min")
    url = f"{API}/deals/{deal.public_id}/contacts"
    # when
    added = _post(admin, url, {"customer_id": str(buyer.public_id), "role": "decision_maker"})
    listed = admin.get(url).json()
    removed = admin.delete(f"{url}/{buyer.public_id}")
    # then
    assert added.status_code == 201
    assert [(c["name"], c["role"]) for c in listed] == [("Zhang Min", "decision_maker")]
    assert removed.status_code == 204
    assert not DealContact.objects.exists()


def test_products_drive_the_amount(
    admin: Client, workspace: Workspace, make_deal, role_client
) -> None:
    # given
    deal = make_deal(amount="1")
    seat = Product.objects.create(workspace=workspace, sku="SEAT", name="Seat", price="120.00")
    url = f"{API}/deals/{deal.public_id}/products"
    # when
    added = _post(admin, url, {"product_id": str(seat.public_id), "quantity": "3"})
    line_id = added.json()["id"]
    changed = _patch(admin, f"{url}/{line_id}", {"quantity": "5", "unit_price": "100.00"})
    # then
    assert added.json() | {"id": 0} == {
        "id": 0,
        "product_id": str(seat.public_id),
        "sku": "SEAT",
        "name": "Seat",
        "quantity": "3.000",
        "unit_price": "120.00",
        "line_total": "360.00",
    }
    assert changed.json()["line_total"] == "500.00"
    assert admin.get(f"{API}/deals/{deal.public_id}").json()["amount"] == "500.00"
    reader_lines = role_client("read_only").get(url).json()
    assert (reader_lines[0]["unit_price"], reader_lines[0]["line_total"]) == (None, None)
    # when
    assert admin.delete(f"{url}/{line_id}").status_code == 204
    # then
    assert not DealProduct.objects.exists()
