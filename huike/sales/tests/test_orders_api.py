"""The products and orders endpoints: products CRUD with filters and cursor pages, the order
list with filters, upsert by external id (201 / 200), detail, patch of status and payment, and
the bulk upsert with partial failures. Each is refused (403, nothing changed) for a role
without the permission, invisible (404) for another workspace and for a rep on another rep's
order, and amounts are null for roles without amounts.view."""

# The fixtures are imported from test_orders_support (sales has no shared conftest).
# ruff: noqa: F401, F811

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.accounts.tests.api_support import JSON, key_client
from huike.customers.models import Customer, Event
from huike.sales import orders
from huike.sales.api_schemas_orders import MAX_BULK_ORDERS
from huike.sales.models import Order, Product
from huike.sales.orders import ProductData
from huike.sales.tests.test_orders_support import (
    agent,
    client_of,
    finance,
    line,
    make_customer,
    make_deal,
    make_order,
    manager,
    other_rep,
    reader,
    rep,
    team,
)

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products"
ORDERS = "/api/v1/orders"


def _post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, body, content_type=JSON)


def _order_body(customer: Customer, external_id: str = "SHOP-1", **extra: Any) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "customer": {"id": str(customer.public_id)},
        "lines": [{"name": "Tea", "quantity": "2", "unit_price": "12.50"}],
        **extra,
    }


# --- products -------------------------------------------------------------------------------
def test_products_are_created_listed_by_cursor_and_filtered(owner_client: Client) -> None:
    # given
    for sku in ("A-1", "A-2", "B-1"):
        assert (
            _post(
                owner_client, PRODUCTS, {"sku": sku, "name": f"Item {sku}", "price": "9.9"}
            ).status_code
            == 201
        )
    owner_client.patch(
        f"{PRODUCTS}/{Product.objects.get(sku='B-1').public_id}",
        {"is_active": False},
        content_type=JSON,
    )
    # when
    first = owner_client.get(PRODUCTS, {"limit": 2}).json()
    second = owner_client.get(PRODUCTS, {"limit": 2, "cursor": first["next"]}).json()
    active = owner_client.get(PRODUCTS, {"active": "true", "q": "a-"}).json()
    # then
    assert [item["sku"] for item in first["items"]] == ["A-1", "A-2"]
    assert [item["sku"] for item in second["items"]] == ["B-1"]
    assert second["next"] is None
    assert second["items"][0]["is_active"] is False
    assert [item["sku"] for item in active["items"]] == ["A-1", "A-2"]
    assert first["items"][0]["price"] == "9.90"
    assert first["items"][0]["currency"] == "CNY"


def test_taken_sku_is_409_naming_sku(owner_client: Client) -> None:
    _post(owner_client, PRODUCTS, {"sku": "A", "name": "A", "price": "1"})
    response = _post(owner_client, PRODUCTS, {"sku": "A", "name": "B", "price": "1"})
    assert response.status_code == 409
    assert response.json()["errors"] == [{"field": "sku", "message": response.json()["detail"]}]


def test_negative_price_is_422(owner_client: Client) -> None:
    response = _post(owner_client, PRODUCTS, {"sku": "A", "name": "A", "price": "-1"})
    assert response.status_code == 422
    assert not Product.objects.exists()


def test_rep_cannot_change_products(owner_actor: Actor, member_client: Client) -> None:
    # given
    product = orders.product_create(
        actor=owner_actor, data=ProductData(sku="A", name="A", price="1")
    )
    # when
    created = _post(member_client, PRODUCTS, {"sku": "B", "name": "B", "price": "1"})
    patched = member_client.patch(
        f"{PRODUCTS}/{product.public_id}", {"name": "X"}, content_type=JSON
    )
    deleted = member_client.delete(f"{PRODUCTS}/{product.public_id}")
    # then: reading is fine, changing is not
    assert member_client.get(f"{PRODUCTS}/{product.public_id}").status_code == 200
    assert (created.status_code, patched.status_code, deleted.status_code) == (403, 403, 403)
    product.refresh_from_db()
    assert (product.name, Product.objects.count()) == ("A", 1)


def test_product_of_another_workspace_is_404(owner_actor: Actor, outsider_client: Client) -> None:
    product = orders.product_create(
        actor=owner_actor, data=ProductData(sku="A", name="A", price="1")
    )
    assert outsider_client.get(f"{PRODUCTS}/{product.public_id}").status_code == 404
    assert outsider_client.delete(f"{PRODUCTS}/{product.public_id}").status_code == 404
    assert outsider_client.get(PRODUCTS).json()["items"] == []
    assert Product.objects.filter(pk=product.pk).exists()


def test_service_role_cannot_list_products(agent: Membership) -> None:
    assert client_of(agent).get(PRODUCTS).status_code == 403


def test_product_is_deleted(owner_actor: Actor, owner_client: Client) -> None:
    product = orders.product_create(
        actor=owner_actor, data=ProductData(sku="A", name="A", price="1")
    )
    assert owner_client.delete(f"{PRODUCTS}/{product.public_id}").status_code == 204
    assert not Product.objects.exists()


# --- orders: upsert -------------------------------------------------------------------------
def test_post_creates_then_updates_by_external_id(
    workspace: Workspace, owner_client: Client
) -> None:
    # given
    customer = make_customer(workspace)
    # when
    created = _post(owner_client, ORDERS, _order_body(customer))
    updated = _post(
        owner_client,
        ORDERS,
        {"external_id": "SHOP-1", "payment_status": "paid", "status": "completed"},
    )
    # then
    assert (created.status_code, updated.status_code) == (201, 200)
    body = updated.json()
    assert body["id"] == created.json()["id"]
    assert (body["total"], body["status"], body["payment_status"]) == ("25.00", "completed", "paid")
    assert body["lines"] == [
        {
            "product_id": None,
            "sku": "",
            "name": "Tea",
            "quantity": "2",
            "unit_price": "12.50",
            "line_total": "25.00",
        }
    ]
    assert body["customer"] == {"id": str(customer.public_id), "name": "Lin Wei"}
    assert Order.objects.count() == 1
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent) == (1, Decimal("25.00"))


def test_paid_order_sent_again_adds_nothing(workspace: Workspace, owner_client: Client) -> None:
    # given
    customer = make_customer(workspace)
    body = _order_body(customer, payment_status="paid")
    # when
    responses = [_post(owner_client, ORDERS, body).status_code for _ in range(3)]
    # then
    assert responses == [201, 200, 200]
    assert Event.objects.filter(customer=customer, kind="order.paid").count() == 1
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent) == (1, Decimal("25.00"))


def test_without_external_id_post_always_creates(
    workspace: Workspace, owner_client: Client
) -> None:
    customer = make_customer(workspace)
    body = _order_body(customer, external_id="")
    assert [_post(owner_client, ORDERS, body).status_code for _ in range(2)] == [201, 201]
    assert Order.objects.count() == 2


def test_order_by_phone_resolves_the_customer(workspace: Workspace, owner_client: Client) -> None:
    # when
    response = _post(
        owner_client,
        ORDERS,
        {
            "external_id": "T-9",
            "customer": {"phone": "13912345671", "name": "Zhou Min"},
            "lines": [{"name": "Tea", "unit_price": "3"}],
        },
    )
    # then
    assert response.status_code == 201
    customer = Customer.objects.get(workspace=workspace)
    assert response.json()["customer"] == {"id": str(customer.public_id), "name": "Zhou Min"}


def test_bad_line_is_422_naming_the_field(workspace: Workspace, owner_client: Client) -> None:
    customer = make_customer(workspace)
    body = _order_body(customer, lines=[{"name": "Tea", "quantity": "-1", "unit_price": "1"}])
    response = _post(owner_client, ORDERS, body)
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["lines.0.quantity"]
    assert not Order.objects.exists()


def test_rep_cannot_post_orders(workspace: Workspace, member_client: Client) -> None:
    response = _post(member_client, ORDERS, _order_body(make_customer(workspace)))
    assert response.status_code == 403
    assert not Order.objects.exists()


def test_api_key_of_finance_syncs_orders(workspace: Workspace) -> None:
    customer = make_customer(workspace)
    response = _post(key_client(workspace, "finance"), ORDERS, _order_body(customer))
    assert response.status_code == 201
    order = Order.objects.get(workspace=workspace, external_id="SHOP-1")
    assert (order.customer_id, order.total) == (customer.pk, Decimal("25.00"))


# --- orders: bulk ---------------------------------------------------------------------------
def test_bulk_reports_each_result_and_keeps_the_good_ones(
    workspace: Workspace, owner_client: Client
) -> None:
    # given
    customer = make_customer(workspace)
    make_order(
        Actor.for_membership(Membership.objects.get(workspace=workspace, role__key="admin")),
        customer,
        external_id="OLD-1",
    )
    items = [
        _order_body(customer, external_id="NEW-1"),
        {"external_id": "BAD-1", "customer": {"id": str(customer.public_id)}, "lines": []},
        {"external_id": "OLD-1", "status": "shipped"},
        {"external_id": 5, "lines": "nope"},
        {"external_id": "BAD-2", "lines": [{"name": "Tea", "unit_price": "1"}]},
    ]
    # when
    response = _post(owner_client, f"{ORDERS}/bulk", {"orders": items})
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["updated"], body["errors"]) == (1, 1, 3)
    summary = [(r["index"], r["status"], (r["error"] or {}).get("field")) for r in body["results"]]
    assert summary == [
        (0, "created", None),
        (1, "error", "lines"),
        (2, "updated", None),
        (3, "error", "external_id"),
        (4, "error", "customer"),
    ]
    assert body["results"][2]["order"]["status"] == "shipped"
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["NEW-1", "OLD-1"]


def test_bulk_over_the_limit_is_refused_whole(workspace: Workspace, owner_client: Client) -> None:
    customer = make_customer(workspace)
    items = [_order_body(customer, external_id=f"N-{n}") for n in range(MAX_BULK_ORDERS + 1)]
    response = _post(owner_client, f"{ORDERS}/bulk", {"orders": items})
    assert response.status_code == 422
    assert not Order.objects.exists()


def test_rep_cannot_bulk(workspace: Workspace, member_client: Client) -> None:
    response = _post(
        member_client, f"{ORDERS}/bulk", {"orders": [_order_body(make_customer(workspace))]}
    )
    assert response.status_code == 403
    assert not Order.objects.exists()


# --- orders: list, detail, patch, access ----------------------------------------------------
def test_list_filters(workspace: Workspace, owner_actor: Actor, owner_client: Client) -> None:
    # given
    first, second = make_customer(workspace, "A"), make_customer(workspace, "B")
    paid = make_order(owner_actor, first, external_id="P", payment_status="paid")
    unpaid = make_order(owner_actor, second, external_id="U", status="confirmed")

    # when
    def ids(**query: Any) -> list[str]:
        return [item["external_id"] for item in owner_client.get(ORDERS, query).json()["items"]]

    # then
    assert ids(customer_id=str(first.public_id)) == ["P"]
    assert ids(payment_status="unpaid") == ["U"]
    assert ids(status="confirmed") == ["U"]
    assert ids(ordered_from=paid.ordered_at.isoformat()) == ["U", "P"]
    assert ids(ordered_to=unpaid.ordered_at.isoformat()) == ["P"]


def test_rep_sees_only_own_orders(
    workspace: Workspace, owner_actor: Actor, rep: Membership, other_rep: Membership
) -> None:
    # given
    mine = make_order(owner_actor, make_customer(workspace, owner=rep), external_id="MINE")
    theirs = make_order(
        owner_actor, make_customer(workspace, owner=other_rep), external_id="THEIRS"
    )
    client = client_of(rep)
    # then
    assert [o["external_id"] for o in client.get(ORDERS).json()["items"]] == ["MINE"]
    assert client.get(f"{ORDERS}/{mine.public_id}").status_code == 200
    assert client.get(f"{ORDERS}/{theirs.public_id}").status_code == 404


def test_outsider_gets_404_and_changes_nothing(
    workspace: Workspace, owner_actor: Actor, outsider_client: Client
) -> None:
    # given
    order = make_order(owner_actor, make_customer(workspace), external_id="X")
    # when
    detail = outsider_client.get(f"{ORDERS}/{order.public_id}")
    patch = outsider_client.patch(
        f"{ORDERS}/{order.public_id}", {"status": "cancelled"}, content_type=JSON
    )
    # then
    assert (detail.status_code, patch.status_code) == (404, 404)
    assert outsider_client.get(ORDERS).json()["items"] == []
    order.refresh_from_db()
    assert order.status == "pending"


def test_patch_marks_paid_once_and_refund_is_final(
    workspace: Workspace, owner_actor: Actor, owner_client: Client
) -> None:
    # given
    customer = make_customer(workspace)
    order = make_order(owner_actor, customer, lines=[line(price="40")])
    url = f"{ORDERS}/{order.public_id}"
    # when
    paid = owner_client.patch(url, {"payment_status": "paid"}, content_type=JSON)
    refunded = owner_client.patch(url, {"payment_status": "refunded"}, content_type=JSON)
    again = owner_client.patch(url, {"payment_status": "paid"}, content_type=JSON)
    # then
    assert (paid.status_code, refunded.status_code, again.status_code) == (200, 200, 422)
    assert refunded.json()["payment_status"] == "refunded"
    # the refund took the order back off the profile; the refused "paid" added nothing
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent) == (0, Decimal("0.00"))


def test_rep_cannot_patch_own_order(
    workspace: Workspace, owner_actor: Actor, rep: Membership
) -> None:
    order = make_order(owner_actor, make_customer(workspace, owner=rep))
    response = client_of(rep).patch(
        f"{ORDERS}/{order.public_id}", {"status": "cancelled"}, content_type=JSON
    )
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == "pending"


def test_service_role_cannot_list_orders(agent: Membership) -> None:
    assert client_of(agent).get(ORDERS).status_code == 403


def test_amounts_are_null_without_amounts_view(
    workspace: Workspace, owner_actor: Actor, reader: Membership, finance: Membership
) -> None:
    # given
    order = make_order(owner_actor, make_customer(workspace), lines=[line(price="40")])
    # when
    hidden = client_of(reader).get(f"{ORDERS}/{order.public_id}").json()
    shown = client_of(finance).get(f"{ORDERS}/{order.public_id}").json()
    listed = client_of(reader).get(ORDERS).json()["items"][0]
    # then
    assert (
        hidden["total"],
        hidden["lines"][0]["unit_price"],
        hidden["lines"][0]["line_total"],
    ) == (None, None, None)
    assert listed["total"] is None
    assert (shown["total"], shown["lines"][0]["line_total"]) == ("40.00", "40.00")


def test_order_list_costs_the_same_queries_for_one_or_many_orders(
    workspace: Workspace, owner_actor: Actor, owner_client: Client
) -> None:
    # given
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    customer = make_customer(workspace)
    make_order(owner_actor, customer, lines=[line(), line(name="Cup")])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert owner_client.get(ORDERS).status_code == 200
        return len(captured)

    queries()  # the first request of a session also loads it
    one = queries()
    for number in range(4):
        make_order(owner_actor, make_customer(workspace, f"C{number}"), lines=[line(), line()])
    # when
    many = queries()
    # then
    assert many == one


def test_service_role_cannot_read_an_order_or_a_product(
    workspace: Workspace, owner_actor: Actor, agent: Membership
) -> None:
    order = make_order(owner_actor, make_customer(workspace))
    product = orders.product_create(
        actor=owner_actor, data=ProductData(sku="A", name="A", price="1")
    )
    client = client_of(agent)
    assert client.get(f"{ORDERS}/{order.public_id}").status_code == 403
    assert client.get(f"{PRODUCTS}/{product.public_id}").status_code == 403


def test_list_filters_by_deal(
    workspace: Workspace, owner_actor: Actor, owner_client: Client
) -> None:
    # given
    customer = make_customer(workspace)
    deal = make_deal(workspace, customer=customer, owner=None, amount="300")
    from_deal = orders.order_from_deal(deal=deal, actor=None)
    make_order(owner_actor, customer, external_id="OTHER")
    # when
    items = owner_client.get(ORDERS, {"deal_id": str(deal.public_id)}).json()["items"]
    # then
    assert [(item["id"], item["deal_id"], item["total"]) for item in items] == [
        (str(from_deal.public_id), str(deal.public_id), "300.00")
    ]


# --- linking a shop's order to a deal -------------------------------------------------------
def _open_deal(workspace: Workspace, customer: Customer, owner: Membership | None) -> Any:
    deal = make_deal(workspace, customer=customer, owner=owner, amount="900")
    won = deal.stage
    won.kind, won.name = "open", "Proposal"
    won.save(update_fields=["kind", "name"])
    deal.status = "open"
    deal.save(update_fields=["status"])
    return deal


def test_a_synced_order_linked_to_a_deal_is_the_order_of_its_win(
    workspace: Workspace, owner_actor: Actor, owner_client: Client
) -> None:
    # given a deal still open, and the shop's order for it synced with its deal_id
    from huike.sales import deals
    from huike.sales.models import Stage

    customer = make_customer(workspace)
    deal = _open_deal(workspace, customer, owner=None)
    won = Stage.objects.create(
        workspace=workspace, pipeline=deal.pipeline, name="Won", kind="won", probability=100
    )
    response = _post(owner_client, ORDERS, _order_body(customer, deal_id=str(deal.public_id)))
    assert (response.status_code, response.json()["deal_id"]) == (201, str(deal.public_id))
    # when the deal is won
    deals.deal_move(actor=owner_actor, deal=deal, stage=won)
    # then the win keeps the shop's order instead of making one from the deal
    order = Order.objects.get()
    assert (order.external_id, order.deal_id, order.total) == ("SHOP-1", deal.pk, Decimal("25.00"))


def test_linking_an_order_to_another_customers_deal_is_422(
    workspace: Workspace, owner_client: Client
) -> None:
    customer = make_customer(workspace)
    deal = _open_deal(workspace, make_customer(workspace, "Someone Else"), owner=None)
    response = _post(owner_client, ORDERS, _order_body(customer, deal_id=str(deal.public_id)))
    assert response.status_code == 422
    assert "deal_id" in response.content.decode()
    assert not Order.objects.exists()


def test_a_deal_has_one_order(workspace: Workspace, owner_client: Client) -> None:
    # given a deal linked to one synced order
    customer = make_customer(workspace)
    deal = _open_deal(workspace, customer, owner=None)
    first = _post(owner_client, ORDERS, _order_body(customer, deal_id=str(deal.public_id)))
    assert first.status_code == 201
    # when a second order names it, on creation or on update
    second = _post(
        owner_client, ORDERS, _order_body(customer, "SHOP-2", deal_id=str(deal.public_id))
    )
    later = _post(owner_client, ORDERS, _order_body(customer, "SHOP-3"))
    relink = _post(owner_client, ORDERS, {"external_id": "SHOP-3", "deal_id": str(deal.public_id)})
    # then both are 409 and the deal keeps its order
    assert (second.status_code, later.status_code, relink.status_code) == (409, 201, 409)
    assert list(Order.objects.filter(deal=deal).values_list("external_id", flat=True)) == ["SHOP-1"]
    assert not Order.objects.filter(external_id="SHOP-2").exists()


def test_a_deal_the_syncing_member_cannot_see_is_not_linked(
    workspace: Workspace, manager: Membership, other_rep: Membership
) -> None:
    # given a deal of a rep outside the manager's team, of the manager's own customer
    customer = make_customer(workspace, owner=manager)
    deal = _open_deal(workspace, customer, owner=other_rep)
    client = client_of(manager)
    # when the manager syncs an order naming it, and one naming a deal id of nobody
    hidden = _post(client, ORDERS, _order_body(customer, deal_id=str(deal.public_id)))
    unknown = _post(
        client,
        ORDERS,
        _order_body(customer, "SHOP-9", deal_id="00000000-0000-4000-8000-000000000000"),
    )
    # then both are 422 (no such deal) and nothing is written
    assert (hidden.status_code, unknown.status_code) == (422, 422)
    assert "No such deal." in hidden.content.decode()
    assert not Order.objects.exists()
