"""The customer and company pickers: what a person typed finds the records they may see, and
nothing of another workspace or of another rep's customers; the deal form's selects carry the
search box."""

from collections.abc import Callable

import pytest
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.customers.models import Company
from huike.customers.services import CustomerData, customer_create

pytestmark = pytest.mark.django_db


def _client(member: Membership) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def test_the_customer_picker_finds_what_the_actor_may_see(
    owner_actor: Actor,
    owner_client: Client,
    make_member: Callable[..., Membership],
    outsider: Membership,
) -> None:
    rep = make_member("rep@acme.test", "sales")
    other = make_member("other@acme.test", "sales")
    for number in range(60):
        customer_create(actor=owner_actor, data=CustomerData(name=f"Zhang {number:02d}", owner=rep))
    customer_create(actor=owner_actor, data=CustomerData(name="Zhang Other", owner=other))
    # the admin sees them all, at most 50 at a time
    page = owner_client.get("/customers/pick/customers/?q=zhang").content.decode()
    assert page.count("<option value=") == 51  # the blank one and 50
    # a rep finds their own, not the other rep's; another workspace finds nothing
    mine = _client(rep).get("/customers/pick/customers/?q=Other").content.decode()
    assert "Zhang Other" not in mine
    assert "Nothing found" in mine
    assert "Zhang 07" in _client(rep).get("/customers/pick/customers/?q=Zhang 07").content.decode()
    assert (
        "Zhang" not in _client(outsider).get("/customers/pick/customers/?q=Zhang").content.decode()
    )
    # half a phone number is no error
    assert _client(rep).get("/customers/pick/customers/?q=1391234").status_code == 200


def test_the_company_picker_and_the_deal_form(
    owner_actor: Actor, owner_client: Client, outsider: Membership
) -> None:
    Company.objects.create(workspace=owner_actor.workspace, name="华东贸易")
    assert "华东贸易" in owner_client.get("/customers/pick/companies/?q=华东").content.decode()
    outsider_page = _client(outsider).get("/customers/pick/companies/?q=华东").content.decode()
    assert "华东贸易" not in outsider_page
    form = owner_client.get("/sales/deals/new/").content.decode()
    assert 'hx-get="/customers/pick/customers/"' in form
    assert 'hx-get="/customers/pick/companies/"' in form


def test_signed_out_visitors_get_no_picker(client: Client) -> None:
    assert client.get("/customers/pick/customers/?q=a").status_code == 302
