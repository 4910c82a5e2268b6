"""Sharing a lead or a deal with a member or a team makes it visible to them, and unsharing
hides it again; only the owner or their manager may share; another workspace gets nothing."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from huike.accounts.models import Membership, RecordShare, Team
from huike.accounts.services import team_create
from huike.core.models import AuditEntry
from huike.customers.models import Customer
from huike.sales.models import Deal, Lead, LeadSource
from huike.sales.tests import test_deals_support

pytestmark = pytest.mark.django_db

pipeline = test_deals_support.pipeline
make_customer = test_deals_support.make_customer
make_deal = test_deals_support.make_deal
team = test_deals_support.team
rep = test_deals_support.rep
JSON = "application/json"


def _client(member: Membership) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


@pytest.fixture
def other_rep(make_member: Callable[..., Membership]) -> Membership:
    return make_member("other@acme.test", "sales")


@pytest.fixture
def deal(make_deal: Callable[..., Deal], rep: Membership) -> Deal:
    return make_deal("Shared rollout", owner=rep)


def test_the_owner_shares_a_deal_with_another_rep_who_then_sees_it(
    deal: Deal, rep: Membership, other_rep: Membership
) -> None:
    url = f"/api/v1/deals/{deal.public_id}"
    # given the other rep does not see it
    assert _client(other_rep).get(url).status_code == 404
    # when its owner shares it
    shared = _client(rep).post(
        f"{url}/shares", json.dumps({"member_id": str(other_rep.public_id)}), content_type=JSON
    )
    # then the other rep sees it, the share is listed and audited
    assert shared.status_code == 201
    assert shared.json()["member"]["id"] == str(other_rep.public_id)
    assert _client(other_rep).get(url).status_code == 200
    listed = _client(rep).get(f"{url}/shares").json()
    assert [item["member"]["email"] for item in listed] == ["other@acme.test"]
    assert AuditEntry.objects.filter(action="record.shared").count() == 1
    # when it is shared again nothing more is made; when unshared the rep loses it
    _client(rep).post(
        f"{url}/shares", json.dumps({"member_id": str(other_rep.public_id)}), content_type=JSON
    )
    assert RecordShare.objects.count() == 1
    removed = _client(rep).delete(f"{url}/shares?member_id={other_rep.public_id}")
    assert removed.status_code == 204
    assert _client(other_rep).get(url).status_code == 404
    assert AuditEntry.objects.filter(action="record.unshared").count() == 1


def test_a_lead_shared_with_a_team_is_visible_to_its_members(
    owner: Any,
    make_customer: Callable[..., Customer],
    rep: Membership,
    other_rep: Membership,
    owner_actor: Any,
) -> None:
    # given a lead of the rep and a team the other rep is in
    lead = Lead.objects.create(
        workspace=rep.workspace,
        customer=make_customer("Gao Yan"),
        name="Gao Yan",
        source=LeadSource.MANUAL,
        owner=rep,
    )
    west: Team = team_create(actor=owner_actor, name="West")
    other_rep.team = west
    other_rep.save(update_fields=["team"])
    url = f"/api/v1/leads/{lead.public_id}"
    assert _client(other_rep).get(url).status_code == 404
    # when the lead is shared with the team
    response = _client(rep).post(
        f"{url}/shares", json.dumps({"team_id": str(west.public_id)}), content_type=JSON
    )
    # then its members see it
    assert response.status_code == 201
    assert response.json()["team"]["name"] == "West"
    assert _client(other_rep).get(url).status_code == 200


def test_someone_who_only_has_the_share_cannot_share_it_further(
    deal: Deal, rep: Membership, other_rep: Membership, make_member: Callable[..., Membership]
) -> None:
    third = make_member("third@acme.test", "sales")
    url = f"/api/v1/deals/{deal.public_id}/shares"
    _client(rep).post(url, json.dumps({"member_id": str(other_rep.public_id)}), content_type=JSON)
    # when the rep it was shared with tries to pass it on
    response = _client(other_rep).post(
        url, json.dumps({"member_id": str(third.public_id)}), content_type=JSON
    )
    # then it is refused and nothing changed
    assert response.status_code == 403
    assert list(RecordShare.objects.values_list("membership_id", flat=True)) == [other_rep.pk]


def test_sharing_needs_one_grantee_of_the_workspace(
    deal: Deal, rep: Membership, outsider: Membership
) -> None:
    url = f"/api/v1/deals/{deal.public_id}/shares"
    neither = _client(rep).post(url, "{}", content_type=JSON)
    foreign = _client(rep).post(
        url, json.dumps({"member_id": str(outsider.public_id)}), content_type=JSON
    )
    assert neither.status_code == 422
    assert foreign.status_code == 422
    assert [error["field"] for error in foreign.json()["errors"]] == ["member_id"]
    assert RecordShare.objects.count() == 0


def test_other_workspaces_and_roles_without_the_permission_get_nothing(
    deal: Deal, outsider: Membership, make_member: Callable[..., Membership], rep: Membership
) -> None:
    url = f"/api/v1/deals/{deal.public_id}/shares"
    assert _client(outsider).get(url).status_code == 404
    assert (
        _client(outsider)
        .post(url, json.dumps({"member_id": str(rep.public_id)}), content_type=JSON)
        .status_code
        == 404
    )
    reader = make_member("reader@acme.test", "read_only")
    refused = _client(reader).post(
        url, json.dumps({"member_id": str(rep.public_id)}), content_type=JSON
    )
    assert refused.status_code == 403
    assert RecordShare.objects.count() == 0
