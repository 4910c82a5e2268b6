"""The "Shared with" panel of the lead and deal pages."""

from collections.abc import Callable

import pytest
from django.test import Client

from huike.accounts.models import Membership, RecordShare
from huike.customers.models import Customer
from huike.sales.models import Deal, Lead, LeadSource
from huike.sales.tests import test_deals_support

pytestmark = pytest.mark.django_db

pipeline = test_deals_support.pipeline
make_customer = test_deals_support.make_customer
make_deal = test_deals_support.make_deal
team = test_deals_support.team
rep = test_deals_support.rep


def _client(member: Membership) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


@pytest.fixture
def other_rep(make_member: Callable[..., Membership]) -> Membership:
    return make_member("other@acme.test", "sales")


def test_the_owner_shares_a_deal_from_its_page_and_takes_it_back(
    make_deal: Callable[..., Deal], rep: Membership, other_rep: Membership
) -> None:
    deal = make_deal("Panel deal", owner=rep)
    page = f"/sales/deals/{deal.public_id}/"
    grantee = f"member:{other_rep.public_id}"
    assert 'id="shares"' in _client(rep).get(page).content.decode()
    assert _client(other_rep).get(page).status_code == 404
    # when the owner shares it
    shared = _client(rep).post(f"/customers/shares/deal/{deal.public_id}/", {"grantee": grantee})
    # then the other rep opens it, without the share form
    assert shared.status_code == 302
    seen = _client(other_rep).get(page)
    assert seen.status_code == 200
    assert "Stop sharing" not in seen.content.decode()
    # and cannot take the share back themselves
    refused = _client(other_rep).post(
        f"/customers/shares/deal/{deal.public_id}/remove/", {"grantee": grantee}
    )
    assert refused.status_code == 403
    assert RecordShare.objects.count() == 1
    # when the owner stops sharing it, it is gone for the other rep
    _client(rep).post(f"/customers/shares/deal/{deal.public_id}/remove/", {"grantee": grantee})
    assert _client(other_rep).get(page).status_code == 404


def test_a_lead_page_shares_with_a_team(
    make_customer: Callable[..., Customer], rep: Membership, team: object
) -> None:
    lead = Lead.objects.create(
        workspace=rep.workspace,
        customer=make_customer("Qian Li"),
        name="Qian Li",
        source=LeadSource.MANUAL,
        owner=rep,
    )
    response = _client(rep).post(
        f"/customers/shares/lead/{lead.public_id}/",
        {"grantee": f"team:{team.public_id}"},  # type: ignore[attr-defined]
        follow=True,
    )
    assert response.status_code == 200
    assert "Team: East" in response.content.decode()


def test_outsiders_and_unknown_kinds_get_nothing(
    make_deal: Callable[..., Deal], rep: Membership, outsider: Membership
) -> None:
    deal = make_deal("Panel deal", owner=rep)
    grantee = {"grantee": f"member:{rep.public_id}"}
    share = f"/customers/shares/deal/{deal.public_id}/"
    assert _client(outsider).post(share, grantee).status_code == 404
    unknown = f"/customers/shares/order/{deal.public_id}/"
    assert _client(rep).post(unknown, grantee).status_code == 404
    # a malformed or foreign grantee is told to choose from the list, not a server error
    for value in ("member:not-a-uuid", f"member:{outsider.public_id}", "nobody"):
        response = _client(rep).post(
            f"/customers/shares/deal/{deal.public_id}/remove/", {"grantee": value}, follow=True
        )
        assert response.status_code == 200
        assert "Choose a member or a team from the list." in response.content.decode()
    assert RecordShare.objects.count() == 0
