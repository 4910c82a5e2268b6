"""Products and orders through the services: the catalog's rules, order upsert idempotency,
order.paid exactly once and what it does to the customer's profile, refunds, orders from won
deals, owners, and record rules."""

# The fixtures are imported from test_orders_support (sales has no shared conftest).
# ruff: noqa: F401, F811

from collections.abc import Callable
from decimal import Decimal

import pytest

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.core.errors import ConflictError, InvalidInputError, PermissionDeniedError
from huike.core.models import OutboxMessage
from huike.customers.models import Customer, Event
from huike.customers.profile import customer_profile_refresh
from huike.sales import orders
from huike.sales.models import DealProduct, Order, OrderLine, Product
from huike.sales.orders import OrderData, OrderLineData, ProductData
from huike.sales.tests.test_orders_support import (
    agent,
    finance,
    line,
    make_customer,
    make_deal,
    make_order,
    manager,
    other_rep,
    phone_key,
    reader,
    rep,
    team,
)

pytestmark = pytest.mark.django_db


# --- products -------------------------------------------------------------------------------
def test_product_is_created_with_a_rounded_price_and_upper_case_currency(
    owner_actor: Actor,
) -> None:
    # when
    product = orders.product_create(
        actor=owner_actor,
        data=ProductData(sku=" HK-1 ", name="Licence", price="99.995", currency="usd"),
    )
    # then
    product.refresh_from_db()
    assert (product.sku, product.price, product.currency) == ("HK-1", Decimal("100.00"), "USD")


def test_product_currency_defaults_to_the_workspace(owner_actor: Actor) -> None:
    product = orders.product_create(
        actor=owner_actor, data=ProductData(sku="A", name="A", price="1")
    )
    assert product.currency == "CNY"


def test_taken_sku_is_a_conflict_on_sku(owner_actor: Actor) -> None:
    # given
    orders.product_create(actor=owner_actor, data=ProductData(sku="HK-1", name="A", price="1"))
    # when / then
    with pytest.raises(ConflictError) as error:
        orders.product_create(actor=owner_actor, data=ProductData(sku="HK-1", name="B", price="2"))
    assert error.value.field == "sku"
    assert Product.objects.filter(sku="HK-1").count() == 1


def test_same_sku_in_another_workspace_is_fine(owner_actor: Actor, outsider_actor: Actor) -> None:
    orders.product_create(actor=owner_actor, data=ProductData(sku="HK-1", name="A", price="1"))
    orders.product_create(actor=outsider_actor, data=ProductData(sku="HK-1", name="A", price="1"))
    assert Product.objects.filter(sku="HK-1").count() == 2


@pytest.mark.parametrize(
    ("price", "currency", "field"),
    [
        ("-1", "CNY", "price"),
        ("abc", "CNY", "price"),
        ("1", "RMB1", "currency"),
        ("1", "1A", "currency"),
    ],
)
def test_bad_price_or_currency_is_refused(
    owner_actor: Actor, price: str, currency: str, field: str
) -> None:
    with pytest.raises(InvalidInputError) as error:
        orders.product_create(
            actor=owner_actor, data=ProductData(sku="X", name="X", price=price, currency=currency)
        )
    assert error.value.field == field
    assert not Product.objects.exists()


def test_update_to_a_taken_sku_changes_nothing(owner_actor: Actor) -> None:
    # given
    orders.product_create(actor=owner_actor, data=ProductData(sku="A", name="A", price="1"))
    second = orders.product_create(
        actor=owner_actor, data=ProductData(sku="B", name="B", price="2")
    )
    # when
    with pytest.raises(ConflictError):
        orders.product_update(
            actor=owner_actor, product=second, data=ProductData(sku="A", name="B2", price="3")
        )
    # then
    second.refresh_from_db()
    assert (second.sku, second.name, second.price) == ("B", "B", Decimal("2.00"))


def test_rep_cannot_change_the_catalog(owner_actor: Actor, member_actor: Actor) -> None:
    # given
    product = orders.product_create(
        actor=owner_actor, data=ProductData(sku="A", name="A", price="1")
    )
    # when / then
    with pytest.raises(PermissionDeniedError):
        orders.product_active_set(actor=member_actor, product=product, is_active=False)
    product.refresh_from_db()
    assert product.is_active is True


def test_product_search_filters_active_and_text(owner_actor: Actor) -> None:
    # given
    orders.product_create(actor=owner_actor, data=ProductData(sku="HK-CRM", name="CRM", price="1"))
    old = orders.product_create(
        actor=owner_actor, data=ProductData(sku="HK-OLD", name="Old", price="1")
    )
    orders.product_active_set(actor=owner_actor, product=old, is_active=False)
    # then
    assert [p.sku for p in orders.product_search(owner_actor, is_active=True)] == ["HK-CRM"]
    assert [p.sku for p in orders.product_search(owner_actor, q="old")] == ["HK-OLD"]


def test_product_used_by_a_deal_cannot_be_deleted(
    workspace: Workspace, owner_actor: Actor, owner: Membership
) -> None:
    # given
    product = orders.product_create(
        actor=owner_actor, data=ProductData(sku="A", name="A", price="1")
    )
    deal = make_deal(workspace, customer=make_customer(workspace), owner=owner)
    DealProduct.objects.create(
        workspace=workspace, deal=deal, product=product, quantity=1, unit_price=1
    )
    # when / then
    with pytest.raises(ConflictError):
        orders.product_delete(actor=owner_actor, product=product)
    assert Product.objects.filter(pk=product.pk).exists()


# --- orders: totals and lines ---------------------------------------------------------------
def test_line_totals_and_total_are_rounded_to_cents(
    workspace: Workspace, owner_actor: Actor
) -> None:
    # given
    orders.product_create(
        actor=owner_actor, data=ProductData(sku="HK-1", name="Licence", price="19.99")
    )
    customer = make_customer(workspace)
    # when
    order = make_order(
        owner_actor,
        customer,
        lines=[
            OrderLineData(sku="HK-1", quantity="3"),
            OrderLineData(name="Setup", quantity="1.5", unit_price="33.33"),
        ],
    )
    # then
    lines = list(
        OrderLine.objects.filter(order=order).values_list(
            "sku", "name", "quantity", "unit_price", "line_total"
        )
    )
    assert lines == [
        ("HK-1", "Licence", Decimal("3.000"), Decimal("19.99"), Decimal("59.97")),
        ("", "Setup", Decimal("1.500"), Decimal("33.33"), Decimal("50.00")),
    ]
    order.refresh_from_db()
    assert order.total == Decimal("109.97")


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([], "lines"),
        ([OrderLineData(name="", quantity="1", unit_price="1")], "lines.0.name"),
        ([OrderLineData(name="X", quantity="0", unit_price="1")], "lines.0.quantity"),
        ([OrderLineData(name="X", quantity="1", unit_price="-5")], "lines.0.unit_price"),
        ([OrderLineData(name="X", quantity="1")], "lines.0.unit_price"),
        ([OrderLineData(sku="NOPE", quantity="1")], "lines.0.name"),
    ],
)
def test_bad_lines_are_refused_and_nothing_is_written(
    workspace: Workspace, owner_actor: Actor, lines: list[OrderLineData], field: str
) -> None:
    customer = make_customer(workspace)
    with pytest.raises(InvalidInputError) as error:
        orders.order_upsert(
            actor=owner_actor,
            data=OrderData(external_id="T-1", customer_id=customer.public_id, lines=lines),
        )
    assert error.value.field == field
    assert not Order.objects.exists()
    assert not Event.objects.filter(kind="order.created").exists()


# --- orders: upsert idempotency and order.paid exactly once ---------------------------------
def test_same_external_id_twice_is_one_order(workspace: Workspace, owner_actor: Actor) -> None:
    # given
    customer = make_customer(workspace)
    data = OrderData(external_id="SHOP-1", customer_id=customer.public_id, lines=[line(price="50")])
    # when
    first, first_created = orders.order_upsert(actor=owner_actor, data=data)
    second, second_created = orders.order_upsert(
        actor=owner_actor,
        data=OrderData(external_id="SHOP-1", lines=[line(price="60")], status="shipped"),
    )
    # then
    assert (first_created, second_created) == (True, False)
    assert first.pk == second.pk
    assert Order.objects.filter(workspace=workspace).count() == 1
    second.refresh_from_db()
    assert (second.total, second.status) == (Decimal("60.00"), "shipped")
    assert OrderLine.objects.filter(order=second).count() == 1
    assert Event.objects.filter(kind="order.created").count() == 1


def test_paid_twice_counts_once_in_the_customer_profile(
    workspace: Workspace, owner_actor: Actor
) -> None:
    # given
    customer = make_customer(workspace)
    data = OrderData(
        external_id="SHOP-7",
        customer_id=customer.public_id,
        lines=[line(quantity="2", price="61.725")],
        payment_status="paid",
    )
    # when: the shop sends the paid order twice
    order, _ = orders.order_upsert(actor=owner_actor, data=data)
    again, created = orders.order_upsert(actor=owner_actor, data=data)
    # then
    assert created is False
    paid_events = Event.objects.filter(customer=customer, kind="order.paid")
    assert paid_events.count() == 1
    event = paid_events.get()
    again.refresh_from_db()
    assert again.paid_event_id == event.pk
    assert event.properties == {
        "order_id": str(order.public_id),
        "external_id": "SHOP-7",
        "amount": "123.46",
        "currency": "CNY",
    }
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent) == (1, Decimal("123.46"))
    assert customer.last_purchase_at == again.paid_at
    assert OutboxMessage.objects.filter(kind="order.paid").count() == 1
    assert OutboxMessage.objects.filter(kind="order.created").count() == 1


def test_paid_later_by_update_records_order_paid_once(
    workspace: Workspace, owner_actor: Actor
) -> None:
    # given
    customer = make_customer(workspace)
    order = make_order(owner_actor, customer, external_id="S-2", lines=[line(price="80")])
    # when
    orders.order_update(actor=owner_actor, order=order, payment_status="paid")
    orders.order_update(actor=owner_actor, order=order, payment_status="paid")
    # then
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent) == (1, Decimal("80.00"))


def test_refund_records_order_refunded_and_takes_it_off_the_profile(
    workspace: Workspace, owner_actor: Actor
) -> None:
    # given two paid orders
    customer = make_customer(workspace)
    make_order(owner_actor, customer, lines=[line(price="30")], payment_status="paid")
    order = make_order(owner_actor, customer, lines=[line(price="80")], payment_status="paid")
    # when one is refunded
    orders.order_update(actor=owner_actor, order=order, payment_status="refunded")
    # then the profile counts the other one only, also when recomputed from the timeline
    assert Event.objects.filter(customer=customer, kind="order.refunded").count() == 1
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent) == (1, Decimal("30.00"))
    customer_profile_refresh(customer)
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent) == (1, Decimal("30.00"))
    order.refresh_from_db()
    assert order.payment_status == "refunded"


def test_paid_order_cannot_become_unpaid(workspace: Workspace, owner_actor: Actor) -> None:
    customer = make_customer(workspace)
    order = make_order(owner_actor, customer, lines=[line()], payment_status="paid")
    with pytest.raises(InvalidInputError) as error:
        orders.order_update(actor=owner_actor, order=order, payment_status="unpaid")
    assert error.value.field == "payment_status"
    order.refresh_from_db()
    assert order.payment_status == "paid"


def test_without_external_id_each_upsert_creates(workspace: Workspace, owner_actor: Actor) -> None:
    customer = make_customer(workspace)
    make_order(owner_actor, customer)
    make_order(owner_actor, customer)
    assert Order.objects.filter(workspace=workspace).count() == 2


def test_identities_resolve_to_a_known_customer(workspace: Workspace, owner_actor: Actor) -> None:
    # given: a first order creates the customer from the phone
    first, _ = orders.order_upsert(
        actor=owner_actor,
        data=OrderData(
            external_id="A", identity_keys=[phone_key()], customer_name="Zhou Min", lines=[line()]
        ),
    )
    # when
    second, _ = orders.order_upsert(
        actor=owner_actor,
        data=OrderData(external_id="B", identity_keys=[phone_key()], lines=[line()]),
    )
    # then
    assert first.customer_id == second.customer_id
    customer = Customer.objects.get(pk=first.customer_id)
    assert (customer.name, customer.lifecycle_stage) == ("Zhou Min", "customer")
    assert Customer.objects.filter(workspace=workspace).count() == 1


def test_order_names_a_customer(workspace: Workspace, owner_actor: Actor) -> None:
    with pytest.raises(InvalidInputError) as error:
        orders.order_upsert(actor=owner_actor, data=OrderData(external_id="A", lines=[line()]))
    assert error.value.field == "customer"


def test_rep_cannot_upsert_orders(workspace: Workspace, member_actor: Actor) -> None:
    customer = make_customer(workspace)
    with pytest.raises(PermissionDeniedError):
        orders.order_upsert(
            actor=member_actor,
            data=OrderData(external_id="A", customer_id=customer.public_id, lines=[line()]),
        )
    assert not Order.objects.exists()


# --- owners and record rules ----------------------------------------------------------------
def test_order_is_owned_like_its_customer_and_visible_by_record_rules(
    workspace: Workspace,
    finance: Membership,
    rep: Membership,
    other_rep: Membership,
    manager: Membership,
) -> None:
    # given: finance records orders of two reps' customers
    finance_actor = Actor.for_membership(finance)
    mine = make_order(finance_actor, make_customer(workspace, owner=rep))
    theirs = make_order(finance_actor, make_customer(workspace, owner=other_rep))
    # then
    assert (mine.owner_id, mine.team_id) == (rep.pk, rep.team_id)

    def seen(membership: Membership) -> set[int]:
        return set(
            orders.order_search(
                Actor.for_membership(membership), orders.OrderFilters()
            ).values_list("pk", flat=True)
        )

    assert seen(rep) == {mine.pk}
    assert seen(other_rep) == {theirs.pk}
    assert seen(manager) == {mine.pk}
    assert seen(finance) == {mine.pk, theirs.pk}


def test_upsert_of_an_order_the_actor_cannot_see_is_a_conflict(
    workspace: Workspace,
    owner_actor: Actor,
    manager: Membership,
    other_rep: Membership,
) -> None:
    # given: an order of another team's rep
    order = make_order(owner_actor, make_customer(workspace, owner=other_rep), external_id="X-1")
    # when / then
    with pytest.raises(ConflictError) as error:
        orders.order_upsert(
            actor=Actor.for_membership(manager),
            data=OrderData(external_id="X-1", status="cancelled"),
        )
    assert error.value.field == "external_id"
    order.refresh_from_db()
    assert order.status == "pending"


def test_service_role_sees_no_orders(agent: Membership) -> None:
    with pytest.raises(PermissionDeniedError):
        orders.order_search(Actor.for_membership(agent), orders.OrderFilters())


# --- orders from won deals ------------------------------------------------------------------
def test_order_from_deal_is_made_once_from_its_products(
    workspace: Workspace, owner_actor: Actor, rep: Membership
) -> None:
    # given
    product = orders.product_create(
        actor=owner_actor, data=ProductData(sku="HK-1", name="Licence", price="100")
    )
    customer = make_customer(workspace, owner=rep)
    deal = make_deal(workspace, customer=customer, owner=rep, amount="999")
    DealProduct.objects.create(
        workspace=workspace,
        deal=deal,
        product=product,
        quantity=Decimal(3),
        unit_price=Decimal("90"),
    )
    # when
    first = orders.order_from_deal(deal=deal, actor=None)
    second = orders.order_from_deal(deal=deal, actor=Actor.for_membership(rep))
    # then
    assert first.pk == second.pk
    assert Order.objects.filter(deal=deal).count() == 1
    first.refresh_from_db()
    assert (first.source, first.status, first.payment_status, first.owner_id, first.total) == (
        "deal",
        "confirmed",
        "unpaid",
        rep.pk,
        Decimal("270.00"),
    )
    assert list(OrderLine.objects.filter(order=first).values_list("sku", "name", "quantity")) == [
        ("HK-1", "Licence", Decimal("3.000"))
    ]
    assert Event.objects.filter(customer=customer, kind="order.created").count() == 1


def test_order_from_deal_without_products_is_one_line_of_the_amount(
    workspace: Workspace, rep: Membership
) -> None:
    # given
    deal = make_deal(
        workspace,
        customer=make_customer(workspace),
        owner=rep,
        name="Big deal",
        amount="5000.50",
        currency="USD",
    )
    # when
    order = orders.order_from_deal(deal=deal, actor=None)
    # then
    assert (order.total, order.currency) == (Decimal("5000.50"), "USD")
    assert list(
        OrderLine.objects.filter(order=order).values_list("name", "quantity", "unit_price")
    ) == [("Big deal", Decimal("1.000"), Decimal("5000.50"))]


def test_order_from_deal_without_customer_is_refused(workspace: Workspace, rep: Membership) -> None:
    deal = make_deal(workspace, customer=None, owner=rep)
    with pytest.raises(InvalidInputError) as error:
        orders.order_from_deal(deal=deal, actor=None)
    assert error.value.field == "customer_id"
    assert not Order.objects.exists()


def test_order_totals_per_currency(workspace: Workspace, owner_actor: Actor) -> None:
    # given
    customer = make_customer(workspace)
    make_order(owner_actor, customer, lines=[line(price="10")], payment_status="paid")
    make_order(owner_actor, customer, lines=[line(price="5")])
    make_order(owner_actor, customer, lines=[line(price="7")], currency="USD")
    # when
    totals = orders.order_totals(orders.order_search(owner_actor, orders.OrderFilters()))
    # then
    assert [(t.currency, t.count, t.total, t.paid) for t in totals] == [
        ("CNY", 2, Decimal("15.00"), Decimal("10.00")),
        ("USD", 1, Decimal("7.00"), Decimal("0.00")),
    ]


def test_demo_seeder_fills_profiles_once(
    workspace: Workspace, make_member: Callable[..., Membership]
) -> None:
    # given: the demo workspace's admin and a few customers
    from huike.sales.demo_orders import ORDER_COUNT, orders_demo_seed

    make_member("admin@demo.huike.local", "admin")
    for number in range(3):
        make_customer(workspace, name=f"Demo {number}")
    # when
    orders_demo_seed(workspace.pk)
    orders_demo_seed(workspace.pk)
    # then
    assert Product.objects.filter(workspace=workspace).count() == 8
    assert Order.objects.filter(workspace=workspace).count() == ORDER_COUNT
    paid = Order.objects.filter(workspace=workspace, payment_status="paid")
    spent = sum(
        Customer.objects.filter(workspace=workspace).values_list("total_spent", flat=True),
        Decimal(0),
    )
    assert spent == sum(paid.values_list("total", flat=True), Decimal(0))
    assert paid.count() >= ORDER_COUNT // 2
