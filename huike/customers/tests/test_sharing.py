"""Sharing a customer from the 360 page and the API: the owner shares with another rep or a
team, who then see the customer under their record rules, and takes it back; a rep who does
not own it, a role without customers.manage and another workspace change nothing."""

import json
from collections.abc import Callable

import pytest
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership, RecordShare
from huike.accounts.services import team_create
from huike.customers.models import Customer
from huike.customers.services import CustomerData, customer_create

pytestmark = pytest.mark.django_db
JSON = "application/json"


def _client(member: Membership) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


@pytest.fixture
def rep(make_member: Callable[..., Membership]) -> Membership:
    return make_member("rep@acme.test", "sales")


@pytest.fixture
def other_rep(make_member: Callable[..., Membership]) -> Membership:
    return make_member("other@acme.test", "sales")


@pytest.fixture
def customer(owner_actor: Actor, rep: Membership) -> Customer:
    return customer_create(actor=owner_actor, data=CustomerData(name="Zhou Min", owner=rep))


def test_the_owner_shares_a_customer_from_its_page_and_takes_it_back(
    customer: Customer, rep: Membership, other_rep: Membership
) -> None:
    page = f"/customers/{customer.public_id}/"
    share = f"/customers/shares/customer/{customer.public_id}/"
    grantee = {"grantee": f"member:{other_rep.public_id}"}
    mine = _client(rep).get(page).content.decode()
    assert 'id="shares"' in mine
    assert f'value="member:{other_rep.public_id}"' in mine
    assert _client(other_rep).get(page).status_code == 404
    # when the owner shares it
    response = _client(rep).post(share, grantee, follow=True)
    # then it is listed on the page and the other rep opens it, without the share form
    assert "Stop sharing" in response.content.decode()
    seen = _client(other_rep).get(page)
    assert seen.status_code == 200
    assert "Stop sharing" not in seen.content.decode()
    assert "Zhou Min" in _client(other_rep).get("/customers/").content.decode()
    # and cannot take the share back themselves
    assert _client(other_rep).post(f"{share}remove/", grantee).status_code == 403
    assert RecordShare.objects.count() == 1
    # when the owner stops sharing it, it is gone for the other rep
    _client(rep).post(f"{share}remove/", grantee)
    assert _client(other_rep).get(page).status_code == 404
    assert not RecordShare.objects.exists()


def test_a_customer_is_shared_with_a_team_through_the_api(
    owner_actor: Actor, customer: Customer, rep: Membership, other_rep: Membership
) -> None:
    east = team_create(actor=owner_actor, name="East")
    other_rep.team = east
    other_rep.save(update_fields=["team"])
    url = f"/api/v1/customers/{customer.public_id}"
    assert _client(other_rep).get(url).status_code == 404
    made = _client(rep).post(
        f"{url}/shares", json.dumps({"team_id": str(east.public_id)}), content_type=JSON
    )
    assert made.status_code == 201
    assert made.json()["team"]["id"] == str(east.public_id)
    assert _client(other_rep).get(url).status_code == 200
    assert [item["team"]["name"] for item in _client(rep).get(f"{url}/shares").json()] == ["East"]
    removed = _client(rep).delete(f"{url}/shares?team_id={east.public_id}")
    assert removed.status_code == 204
    assert _client(other_rep).get(url).status_code == 404


def test_nobody_else_changes_who_a_customer_is_shared_with(
    customer: Customer,
    other_rep: Membership,
    make_member: Callable[..., Membership],
    outsider: Membership,
) -> None:
    analyst = make_member("analyst@acme.test", "analyst")  # sees every customer, changes none
    grantee = {"grantee": f"member:{other_rep.public_id}"}
    share = f"/customers/shares/customer/{customer.public_id}/"
    api = f"/api/v1/customers/{customer.public_id}/shares"
    body = json.dumps({"member_id": str(other_rep.public_id)})
    assert _client(analyst).post(share, grantee).status_code == 403
    assert _client(analyst).post(api, body, content_type=JSON).status_code == 403
    seen = _client(analyst).get(f"/customers/{customer.public_id}/").content.decode()
    assert 'id="shares"' in seen
    assert 'action="/customers/shares/customer/' not in seen  # no share form
    # a rep who cannot see it, and another workspace, are told it does not exist
    for member in (other_rep, outsider):
        assert _client(member).post(share, grantee).status_code == 404
        assert _client(member).post(api, body, content_type=JSON).status_code == 404
        assert _client(member).get(api).status_code == 404
    unknown = f"/customers/shares/order/{customer.public_id}/"
    assert _client(other_rep).post(unknown, grantee).status_code == 404
    assert not RecordShare.objects.exists()
