"""Merges through the API: merge two customers, read the history, undo it exactly; the review
queue's accept and dismiss. Refused (403, nothing changed) without customers.merge, invisible
(404) from another workspace and for customers one may not see."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Workspace
from huike.accounts.tests import api_support
from huike.accounts.tests.api_support import JSON, audited, key_client
from huike.customers.merging import customer_merge
from huike.customers.models import Customer, CustomerMerge, Event, Identity, MergeCandidate
from huike.customers.resolution import identity_resolve
from huike.customers.rules import STRONG
from huike.customers.services import customer_settings_update
from huike.customers.tests.conftest import keys_of

admin = api_support.admin
fresh_rate_limits = api_support.fresh_rate_limits

MakeCustomer = Callable[..., Customer]


@pytest.fixture
def pair(make_customer: MakeCustomer) -> tuple[Customer, Customer]:
    return (
        make_customer(name="Survivor", phone="13712340001"),
        make_customer(name="Absorbed", email="absorbed@example.com"),
    )


def _identity_owners(*customers: Customer) -> list[list[str]]:
    return [
        sorted(Identity.objects.filter(customer=customer).values_list("kind", flat=True))
        for customer in customers
    ]


def test_merge_then_undo_through_the_api(
    admin: Client, workspace: Workspace, pair: tuple[Customer, Customer]
) -> None:
    survivor, absorbed = pair
    # when they are merged
    response = admin.post(
        "/api/v1/customers/merge",
        {"survivor_id": str(survivor.public_id), "absorbed_id": str(absorbed.public_id)},
        JSON,
    )
    # then the merge record comes back with its id
    assert response.status_code == 201
    merge = CustomerMerge.objects.get(workspace=workspace)
    body = response.json()
    assert body == {
        "id": str(merge.public_id),
        "survivor": {"id": str(survivor.public_id), "name": "Survivor", "status": "active"},
        "absorbed": {"id": str(absorbed.public_id), "name": "Absorbed", "status": "merged"},
        "reason": "manual",
        "matched_kind": "",
        "merged_by": merge.merged_by_label,
        "moved": {
            # Rows of later parts that reference customers (conversations, outbound messages)
            # are listed too; this customer had none.
            **{label: 0 for label in body["moved"] if not label.startswith("customers.")},
            "customers.consentrecord": 0,
            "customers.customertag": 0,
            "customers.event": 1,
            "customers.identity": 1,
        },
        "created_at": body["created_at"],
        "undone_at": None,
        "undone_by": "",
    }
    assert merge.merged_by_label.startswith("api_key:")
    assert _identity_owners(survivor, absorbed) == [["email", "phone"], []]
    merged = admin.get(f"/api/v1/customers/{absorbed.public_id}").json()
    assert (merged["status"], merged["merged_into"]) == ("merged", str(survivor.public_id))
    listed = admin.get("/api/v1/customers").json()
    assert [item["id"] for item in listed["items"]] == [str(survivor.public_id)]
    assert admin.get(f"/api/v1/merges/{merge.public_id}").json()["id"] == str(merge.public_id)
    history = admin.get("/api/v1/merges").json()
    assert [item["id"] for item in history["items"]] == [str(merge.public_id)]
    # when it is undone
    undone = admin.post(f"/api/v1/merges/{merge.public_id}/undo")
    # then both customers are back as they were
    assert undone.status_code == 200
    assert undone.json()["undone_at"] is not None
    assert undone.json()["absorbed"]["status"] == "active"
    assert _identity_owners(survivor, absorbed) == [["phone"], ["email"]]
    assert list(Event.objects.filter(customer=absorbed).values_list("kind", flat=True)) == [
        "customer.created"
    ]
    assert [entry["absorbed"] for entry in audited("customer.unmerged", workspace)] == [
        str(absorbed.public_id)
    ]
    # and undoing twice is a conflict
    assert admin.post(f"/api/v1/merges/{merge.public_id}/undo").status_code == 409


def test_merge_history_costs_the_same_queries_for_any_page_size(
    admin: Client, owner_actor: Actor, make_customer: MakeCustomer, django_assert_num_queries: Any
) -> None:
    for number in range(4):
        customer_merge(
            actor=owner_actor,
            survivor=make_customer(name=f"S{number}", phone=f"1371234100{number}"),
            absorbed=make_customer(name=f"A{number}", phone=f"1371234200{number}"),
        )
    admin.get("/api/v1/workspace")  # first use of the key records last_used_at
    with django_assert_num_queries(2):
        one = admin.get("/api/v1/merges?limit=1").json()
    with django_assert_num_queries(2):
        four = admin.get("/api/v1/merges?limit=4").json()
    assert [item["survivor"]["name"] for item in one["items"]] == ["S3"]
    assert [item["absorbed"]["name"] for item in four["items"]] == ["A3", "A2", "A1", "A0"]


def test_merging_a_customer_with_itself_is_refused(
    admin: Client, pair: tuple[Customer, Customer]
) -> None:
    survivor, _absorbed = pair
    response = admin.post(
        "/api/v1/customers/merge",
        {"survivor_id": str(survivor.public_id), "absorbed_id": str(survivor.public_id)},
        JSON,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "absorbed_id"
    assert CustomerMerge.objects.count() == 0


def test_sales_member_cannot_merge_or_undo(
    member_client: Client, owner_actor: Actor, pair: tuple[Customer, Customer]
) -> None:
    survivor, absorbed = pair
    body = {"survivor_id": str(survivor.public_id), "absorbed_id": str(absorbed.public_id)}
    refused = member_client.post("/api/v1/customers/merge", body, JSON)
    assert refused.status_code == 403
    assert CustomerMerge.objects.count() == 0
    merge = customer_merge(actor=owner_actor, survivor=survivor, absorbed=absorbed)
    undo = member_client.post(f"/api/v1/merges/{merge.public_id}/undo")
    assert undo.status_code == 403
    merge.refresh_from_db()
    assert merge.undone_at is None


def test_manager_cannot_merge_customers_outside_their_team(
    workspace: Workspace, make_member: Callable[..., object], pair: tuple[Customer, Customer]
) -> None:
    # given a manager without a team: the owner's customers are not theirs to see
    from huike.accounts.models import Membership

    manager = make_member("manager@acme.test", "manager")
    assert isinstance(manager, Membership)
    client = Client()
    client.force_login(manager.user)
    survivor, absorbed = pair
    response = client.post(
        "/api/v1/customers/merge",
        {"survivor_id": str(survivor.public_id), "absorbed_id": str(absorbed.public_id)},
        JSON,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "survivor_id"
    assert CustomerMerge.objects.count() == 0


def test_outsider_cannot_see_merge_or_undo(
    outsider_client: Client, owner_actor: Actor, pair: tuple[Customer, Customer]
) -> None:
    survivor, absorbed = pair
    merge = customer_merge(actor=owner_actor, survivor=survivor, absorbed=absorbed)
    merged = outsider_client.post(
        "/api/v1/customers/merge",
        {"survivor_id": str(survivor.public_id), "absorbed_id": str(absorbed.public_id)},
        JSON,
    )
    detail = outsider_client.get(f"/api/v1/merges/{merge.public_id}")
    undo = outsider_client.post(f"/api/v1/merges/{merge.public_id}/undo")
    history = outsider_client.get("/api/v1/merges").json()
    assert [merged.status_code, detail.status_code, undo.status_code] == [422, 404, 404]
    assert history == {"items": [], "next": None}
    merge.refresh_from_db()
    assert merge.undone_at is None


# --- review queue ---------------------------------------------------------------------------
@pytest.fixture
def candidate(
    workspace: Workspace, owner_actor: Actor, make_customer: MakeCustomer
) -> MergeCandidate:
    """Two customers with a strong identity each, seen together: queued, not merged."""
    customer_settings_update(actor=owner_actor, auto_merge_strong=False)
    make_customer(name="Older", wechat_unionid="o6_one")
    make_customer(name="Newer", wecom_external_userid="wm_two")
    identity_resolve(
        workspace_id=workspace.pk,
        identity_keys=keys_of(wechat_unionid="o6_one", wecom_external_userid="wm_two"),
        source="wechat",
    )
    assert STRONG == "strong"
    return MergeCandidate.objects.get(workspace=workspace)


def test_review_queue_lists_and_accepts_with_a_chosen_survivor(
    admin: Client, candidate: MergeCandidate
) -> None:
    listed = admin.get("/api/v1/merge-candidates").json()
    assert [(item["id"], item["status"]) for item in listed["items"]] == [
        (str(candidate.public_id), "open")
    ]
    assert (listed["items"][0]["first"]["name"], listed["items"][0]["second"]["name"]) == (
        "Older",
        "Newer",
    )
    response = admin.post(
        f"/api/v1/merge-candidates/{candidate.public_id}/accept",
        {"survivor_id": str(candidate.second.public_id)},
        JSON,
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["survivor"]["name"], body["absorbed"]["name"], body["reason"]) == (
        "Newer",
        "Older",
        "review",
    )
    candidate.refresh_from_db()
    assert candidate.status == MergeCandidate.Status.MERGED
    assert admin.get("/api/v1/merge-candidates").json()["items"] == []


def test_accept_with_a_survivor_outside_the_pair_is_refused(
    admin: Client, candidate: MergeCandidate, make_customer: MakeCustomer
) -> None:
    stranger = make_customer(name="Stranger", phone="13712340009")
    response = admin.post(
        f"/api/v1/merge-candidates/{candidate.public_id}/accept",
        {"survivor_id": str(stranger.public_id)},
        JSON,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "survivor_id"
    candidate.refresh_from_db()
    assert candidate.status == MergeCandidate.Status.OPEN


def test_dismissed_pair_leaves_the_queue(admin: Client, candidate: MergeCandidate) -> None:
    response = admin.post(f"/api/v1/merge-candidates/{candidate.public_id}/dismiss")
    assert (response.status_code, response.json()["status"]) == (200, "dismissed")
    assert admin.post(f"/api/v1/merge-candidates/{candidate.public_id}/dismiss").status_code == 409
    assert CustomerMerge.objects.count() == 0


def test_review_queue_is_refused_to_others(
    workspace: Workspace, outsider_client: Client, candidate: MergeCandidate
) -> None:
    sales = key_client(workspace, "sales")
    analyst = key_client(workspace, "analyst")
    responses = [
        sales.post(f"/api/v1/merge-candidates/{candidate.public_id}/dismiss"),
        analyst.post(f"/api/v1/merge-candidates/{candidate.public_id}/accept", {}, JSON),
        outsider_client.post(f"/api/v1/merge-candidates/{candidate.public_id}/dismiss"),
        outsider_client.post(f"/api/v1/merge-candidates/{candidate.public_id}/accept", {}, JSON),
    ]
    assert [response.status_code for response in responses] == [403, 403, 404, 404]
    assert outsider_client.get("/api/v1/merge-candidates").json()["items"] == []
    candidate.refresh_from_db()
    assert candidate.status == MergeCandidate.Status.OPEN
