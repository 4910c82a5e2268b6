"""The "Sales" panel on the customer 360 page: the customer's open leads, deals, orders and
open tasks, each under the viewer's record rules; amounts only for roles that see amounts; no
panel for a role that sees no part of sales."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from huike.accounts.models import Membership
from huike.customers.models import Customer
from huike.sales.models import Deal, Lead, LeadSource, Task
from huike.sales.tests import test_deals_support

pytestmark = pytest.mark.django_db

pipeline = test_deals_support.pipeline
make_customer = test_deals_support.make_customer
make_deal = test_deals_support.make_deal
team = test_deals_support.team
rep = test_deals_support.rep


def _page(member: Membership, customer: Customer) -> str:
    client = Client()
    client.force_login(member.user)
    response = client.get(f"/customers/{customer.public_id}/")
    assert response.status_code == 200
    return str(response.content.decode())


@pytest.fixture
def shared(
    make_customer: Callable[..., Customer],
    make_deal: Callable[..., Deal],
    owner: Membership,
    rep: Membership,
) -> dict[str, Any]:
    customer = make_customer("Zhou Min")
    Customer.objects.filter(pk=customer.pk).update(owner=rep)
    mine = make_deal("Rep's deal", owner=rep, customer=customer, amount="4200.00")
    theirs = make_deal("Owner's deal", owner=owner, customer=customer, amount="900.00")
    lead = Lead.objects.create(
        workspace=customer.workspace,
        customer=customer,
        name="Zhou Min",
        source=LeadSource.MANUAL,
        owner=rep,
    )
    task = Task.objects.create(
        workspace=customer.workspace,
        title="Call back about the quote",
        owner=rep,
        customer=customer,
    )
    return {"customer": customer, "mine": mine, "theirs": theirs, "lead": lead, "task": task}


def test_the_panel_shows_the_customers_sales_records_to_an_admin_with_amounts(
    owner: Membership, shared: dict[str, Any]
) -> None:
    page = _page(owner, shared["customer"])
    assert 'id="sales-panel"' in page
    assert "Rep&#x27;s deal" in page
    assert "Owner&#x27;s deal" in page
    assert "4200.00 CNY" in page
    assert f"/sales/leads/{shared['lead'].public_id}/" in page
    assert "Call back about the quote" in page


def test_a_rep_sees_only_their_own_records_in_the_panel(
    rep: Membership, shared: dict[str, Any]
) -> None:
    page = _page(rep, shared["customer"])
    assert "Rep&#x27;s deal" in page
    assert "Owner&#x27;s deal" not in page
    assert "Call back about the quote" in page


def test_a_role_without_amounts_sees_deals_without_amounts(
    make_member: Callable[..., Membership], shared: dict[str, Any]
) -> None:
    viewer = make_member("viewer@acme.test", "read_only")
    page = _page(viewer, shared["customer"])
    assert "Rep&#x27;s deal" in page
    assert "4200.00" not in page


def test_a_role_with_tasks_only_sees_no_leads_deals_or_orders(
    make_member: Callable[..., Membership], shared: dict[str, Any]
) -> None:
    agent = make_member("agent@acme.test", "service")
    Customer.objects.filter(pk=shared["customer"].pk).update(owner=agent)
    page = _page(agent, shared["customer"])
    # a service agent holds tasks.manage but no lead, deal or order permission: tasks only
    assert 'data-testid="customer-tasks"' in page
    assert 'data-testid="customer-leads"' not in page
    assert 'data-testid="customer-deals"' not in page
    assert 'data-testid="customer-orders"' not in page
    assert "Rep&#x27;s deal" not in page


def test_a_role_without_any_sales_permission_gets_no_panel(
    make_member: Callable[..., Membership], shared: dict[str, Any]
) -> None:
    viewer = make_member("viewer@acme.test", "read_only")
    viewer.role.permissions = [
        code
        for code in viewer.role.permissions
        if not code.startswith(("leads.", "deals.", "orders.", "tasks."))
    ]
    viewer.role.save(update_fields=["permissions"])
    page = _page(viewer, shared["customer"])
    assert 'id="sales-panel"' not in page
