"""The product catalog and order pages: catalog list, create, edit and (de)activate; the order
list with filters and totals, and the order page with its status and payment actions (the
import is the import wizard's: test_orders_import). Each is refused for a role without the
permission (403, nothing changed), invisible to another workspace (404) and to a rep for
another rep's order."""

# The fixtures are imported from test_orders_support (sales has no shared conftest).
# ruff: noqa: F401, F811

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.sales import orders
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
    other_rep,
    reader,
    rep,
    team,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def product(owner_actor: Actor) -> Product:
    return orders.product_create(
        actor=owner_actor, data=ProductData(sku="HK-1", name="Licence", price="4800")
    )


# --- products -------------------------------------------------------------------------------
def test_catalog_lists_products_with_price_and_currency(
    owner_client: Client, product: Product
) -> None:
    response = owner_client.get(reverse("sales:product_list"))
    assert response.status_code == 200
    assert b"HK-1" in response.content
    assert b"4800.00 CNY" in response.content


def test_catalog_filters_inactive(
    owner_client: Client, owner_actor: Actor, product: Product
) -> None:
    # given
    orders.product_active_set(actor=owner_actor, product=product, is_active=False)
    # when
    active = owner_client.get(reverse("sales:product_list"), {"active": "yes"})
    inactive = owner_client.get(reverse("sales:product_list"), {"active": "no"})
    # then
    assert b"HK-1" not in active.content
    assert b"HK-1" in inactive.content


def test_product_is_created_and_a_taken_sku_is_shown_on_the_field(
    owner_client: Client, product: Product
) -> None:
    url = reverse("sales:product_create")
    data = {"sku": "HK-2", "name": "Seat", "price": "600", "currency": "cny", "is_active": "on"}
    # when
    created = owner_client.post(url, data)
    taken = owner_client.post(url, {**data, "sku": "HK-1"})
    # then
    assert created.status_code == 302
    assert Product.objects.get(sku="HK-2").currency == "CNY"
    assert taken.status_code == 200
    assert taken.context["form"].errors["sku"] == ["Another product has the SKU HK-1."]


def test_product_is_edited_and_deactivated(owner_client: Client, product: Product) -> None:
    # when
    owner_client.post(
        reverse("sales:product_edit", args=[product.public_id]),
        {
            "sku": "HK-1",
            "name": "Licence 2027",
            "price": "5000",
            "currency": "CNY",
            "is_active": "on",
        },
    )
    owner_client.post(reverse("sales:product_active", args=[product.public_id]), {"active": "0"})
    # then
    product.refresh_from_db()
    assert (product.name, product.price, product.is_active) == (
        "Licence 2027",
        Decimal("5000.00"),
        False,
    )


def test_rep_reads_the_catalog_but_cannot_change_it(
    member_client: Client, product: Product
) -> None:
    assert member_client.get(reverse("sales:product_list")).status_code == 200
    assert member_client.get(reverse("sales:product_create")).status_code == 403
    edit = member_client.post(
        reverse("sales:product_edit", args=[product.public_id]),
        {"sku": "X", "name": "X", "price": "1", "currency": "CNY"},
    )
    deactivate = member_client.post(
        reverse("sales:product_active", args=[product.public_id]), {"active": "0"}
    )
    assert (edit.status_code, deactivate.status_code) == (403, 403)
    product.refresh_from_db()
    assert (product.sku, product.is_active) == ("HK-1", True)


def test_service_role_cannot_see_the_catalog(agent: Membership) -> None:
    assert client_of(agent).get(reverse("sales:product_list")).status_code == 403


def test_outsider_cannot_reach_a_product(outsider_client: Client, product: Product) -> None:
    edit = outsider_client.get(reverse("sales:product_edit", args=[product.public_id]))
    deactivate = outsider_client.post(
        reverse("sales:product_active", args=[product.public_id]), {"active": "0"}
    )
    listed = outsider_client.get(reverse("sales:product_list"))
    assert (edit.status_code, deactivate.status_code) == (404, 404)
    assert b"HK-1" not in listed.content
    product.refresh_from_db()
    assert product.is_active is True


# --- orders ---------------------------------------------------------------------------------
def test_order_list_shows_totals_and_filters(
    workspace: Workspace, owner_actor: Actor, owner_client: Client
) -> None:
    # given
    customer = make_customer(workspace, "Zhou Min")
    make_order(
        owner_actor,
        customer,
        external_id="PAID-1",
        lines=[line(price="100")],
        payment_status="paid",
    )
    make_order(owner_actor, customer, external_id="OPEN-1", lines=[line(price="20")])
    # when
    everything = owner_client.get(reverse("sales:order_list"))
    unpaid = owner_client.get(reverse("sales:order_list"), {"payment_status": "unpaid"})
    # then
    assert everything.status_code == 200
    assert [o.external_id for o in everything.context["page"].items] == ["OPEN-1", "PAID-1"]
    (total,) = everything.context["totals"]
    assert (total.count, total.total, total.paid) == (2, Decimal("120.00"), Decimal("100.00"))
    assert b"120.00 CNY" in everything.content
    assert [o.external_id for o in unpaid.context["page"].items] == ["OPEN-1"]
    other = make_customer(workspace, "Li Na")
    make_order(owner_actor, other, external_id="OTHER-1")
    of_customer = owner_client.get(reverse("sales:order_list"), {"customer": str(other.public_id)})
    assert [o.external_id for o in of_customer.context["page"].items] == ["OTHER-1"]


def test_order_list_without_amounts_view_hides_money(
    workspace: Workspace, owner_actor: Actor, reader: Membership
) -> None:
    make_order(
        owner_actor, make_customer(workspace), external_id="R-1", lines=[line(price="77.70")]
    )
    response = client_of(reader).get(reverse("sales:order_list"))
    assert response.status_code == 200
    assert b"R-1" in response.content
    assert b"77.70" not in response.content
    assert response.context["totals"] == []


def test_rep_lists_and_opens_only_own_orders(
    workspace: Workspace, owner_actor: Actor, rep: Membership, other_rep: Membership
) -> None:
    # given
    mine = make_order(owner_actor, make_customer(workspace, owner=rep), external_id="MINE")
    theirs = make_order(
        owner_actor, make_customer(workspace, owner=other_rep), external_id="THEIRS"
    )
    client = client_of(rep)
    # then
    listed = client.get(reverse("sales:order_list"))
    assert [o.external_id for o in listed.context["page"].items] == ["MINE"]
    assert client.get(reverse("sales:order_detail", args=[mine.public_id])).status_code == 200
    assert client.get(reverse("sales:order_detail", args=[theirs.public_id])).status_code == 404


def test_service_role_cannot_see_orders(agent: Membership) -> None:
    assert client_of(agent).get(reverse("sales:order_list")).status_code == 403


def test_order_detail_shows_lines_customer_and_deal(
    workspace: Workspace, owner_client: Client, rep: Membership
) -> None:
    # given
    customer = make_customer(workspace, "Zhou Min", owner=rep)
    deal = make_deal(workspace, customer=customer, owner=rep, name="Big deal", amount="880")
    order = orders.order_from_deal(deal=deal, actor=None)
    # when
    response = owner_client.get(reverse("sales:order_detail", args=[order.public_id]))
    # then
    content = response.content.decode()
    assert response.status_code == 200
    assert reverse("customers:customer_detail", args=[customer.public_id]) in content
    assert reverse("sales:deal_detail", args=[deal.public_id]) in content
    assert "880.00 CNY" in content
    assert "Big deal" in content


def test_marking_paid_on_the_page_counts_once(
    workspace: Workspace, owner_actor: Actor, owner_client: Client
) -> None:
    # given
    customer = make_customer(workspace)
    order = make_order(owner_actor, customer, lines=[line(price="66")])
    url = reverse("sales:order_change", args=[order.public_id])
    # when
    owner_client.post(url, {"payment_status": "paid"})
    owner_client.post(url, {"payment_status": "paid"})
    unpaid = owner_client.post(url, {"payment_status": "unpaid"}, follow=True)
    owner_client.post(url, {"status": "shipped"})
    # then
    order.refresh_from_db()
    assert (order.payment_status, order.status) == ("paid", "shipped")
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent) == (1, Decimal("66.00"))
    assert "A Paid order cannot become Unpaid." in unpaid.content.decode()


def test_rep_cannot_change_an_order(
    workspace: Workspace, owner_actor: Actor, rep: Membership
) -> None:
    order = make_order(owner_actor, make_customer(workspace, owner=rep))
    response = client_of(rep).post(
        reverse("sales:order_change", args=[order.public_id]), {"status": "cancelled"}
    )
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == "pending"


def test_outsider_cannot_reach_an_order(
    workspace: Workspace, owner_actor: Actor, outsider_client: Client
) -> None:
    order = make_order(owner_actor, make_customer(workspace), external_id="X")
    detail = outsider_client.get(reverse("sales:order_detail", args=[order.public_id]))
    change = outsider_client.post(
        reverse("sales:order_change", args=[order.public_id]), {"status": "cancelled"}
    )
    listed = outsider_client.get(reverse("sales:order_list"))
    assert (detail.status_code, change.status_code) == (404, 404)
    assert listed.context["page"].items == []
    order.refresh_from_db()
    assert order.status == "pending"


def test_nav_shows_orders_to_reps_and_products_to_managers_only(
    member_client: Client, owner_client: Client
) -> None:
    rep_page = member_client.get(reverse("sales:order_list")).content.decode()
    owner_page = owner_client.get(reverse("sales:order_list")).content.decode()
    products = reverse("sales:product_list")
    assert reverse("sales:order_list") in rep_page
    assert products not in rep_page
    assert owner_client.get(reverse("sales:product_list")).status_code == 200
    assert products in owner_client.get(reverse("sales:product_list")).content.decode()
    assert "Orders" in owner_page


def test_order_list_page_costs_the_same_queries_for_one_or_many_orders(
    workspace: Workspace, owner_actor: Actor, owner_client: Client
) -> None:
    # given
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_order(owner_actor, make_customer(workspace))

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert owner_client.get(reverse("sales:order_list")).status_code == 200
        return len(captured)

    queries()  # the first request of a session also loads it
    one = queries()
    for number in range(4):
        make_order(owner_actor, make_customer(workspace, f"C{number}", owner=None))
    # when
    many = queries()
    # then
    assert many == one


def test_service_role_cannot_open_an_order_or_import_orders(
    workspace: Workspace, owner_actor: Actor, agent: Membership
) -> None:
    order = make_order(owner_actor, make_customer(workspace))
    client = client_of(agent)
    assert client.get(reverse("sales:order_detail", args=[order.public_id])).status_code == 403
    assert client.get(reverse("customers:import_new") + "?kind=orders").status_code == 403
    change = client.post(
        reverse("sales:order_change", args=[order.public_id]), {"status": "shipped"}
    )
    assert change.status_code == 403
    order.refresh_from_db()
    assert order.status == "pending"
