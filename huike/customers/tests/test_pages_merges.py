"""Merge pages: compare side by side, merge, the merge history with one-click undo, and the review
queue — for the owner, roles without customers.merge and an outsider of another workspace."""

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.customers.events import event_record
from huike.customers.merging import customer_merge
from huike.customers.models import Customer, CustomerMerge, MergeCandidate
from huike.customers.resolution import identity_resolve
from huike.customers.services import (
    CustomerData,
    customer_create,
    customer_tags_add,
    tag_create,
)
from huike.customers.tests.conftest import keys_of

COMPARE = "/customers/merge/"


def _content(response: Any) -> str:
    return response.content.decode()


def _text(response: Any) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", _content(response)))


@pytest.fixture
def pair(owner_actor: Actor) -> tuple[Customer, Customer]:
    """Two records of one person: a lead with a phone and two tags, a visitor with an email."""
    lead = customer_create(
        actor=owner_actor,
        data=CustomerData(name="Wang Fang", lifecycle_stage="lead"),
        identity_keys=keys_of(phone="13912345678"),
    )
    visitor = customer_create(
        actor=owner_actor,
        data=CustomerData(name="Fang", lifecycle_stage="customer", source_channel="wechat"),
        identity_keys=keys_of(email="fang@example.com"),
    )
    tags = [tag_create(actor=owner_actor, name=name) for name in ("VIP", "Fair")]
    customer_tags_add(actor=owner_actor, customers=[lead], tags=tags)
    event_record(customer=visitor, kind="page.viewed", channel="web")
    return lead, visitor


def _compare_url(first: Customer, second: Customer) -> str:
    return f"{COMPARE}?a={first.public_id}&b={second.public_id}"


def _merge_post(survivor: Customer, absorbed: Customer, **extra: str) -> dict[str, Any]:
    return {
        "survivor": str(survivor.public_id),
        "pair": [str(survivor.public_id), str(absorbed.public_id)],
        **extra,
    }


def test_compare_shows_both_side_by_side_with_what_the_survivor_gets(
    owner_client: Client, pair: tuple[Customer, Customer]
) -> None:
    lead, visitor = pair
    # when
    response = owner_client.get(_compare_url(lead, visitor))
    # then
    assert response.status_code == 200
    first, second = response.context["sides"]
    assert (first.customer, first.tag_count, first.event_count) == (lead, 2, 2)
    assert (second.customer, second.tag_count, second.event_count) == (visitor, 0, 2)
    assert first.identities == [("Phone", "+86*******5678")]
    assert second.identities == [("Email", "f***@example.com")]
    # kept, the lead keeps its (longer) name, becomes a customer and gets the source channel
    assert (first.preview.name, first.preview.lifecycle_stage, first.preview.source_channel) == (
        "Wang Fang",
        "Customer",
        "wechat",
    )
    # kept, the visitor takes the longer name
    assert (second.preview.name, second.preview.lifecycle_stage) == ("Wang Fang", "Customer")
    text = _text(response)
    assert "+86*******5678" in text
    assert "13912345678" not in _content(response)
    # and nothing was merged by looking
    assert not CustomerMerge.objects.exists()


def test_merge_through_the_compare_page_and_undo_from_the_history(
    owner_client: Client, pair: tuple[Customer, Customer]
) -> None:
    lead, visitor = pair
    # when the lead is kept
    response = owner_client.post(COMPARE, _merge_post(lead, visitor))
    # then the visitor is merged into it
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{lead.public_id}/"
    visitor.refresh_from_db()
    assert (visitor.status, visitor.merged_into_id) == ("merged", lead.pk)
    merge = CustomerMerge.objects.get()
    assert (merge.survivor, merge.absorbed, merge.reason) == (lead, visitor, "manual")
    assert [row.customer.name for row in owner_client.get("/customers/").context["rows"]] == [
        "Wang Fang"
    ]
    page = _text(owner_client.get(f"/customers/{lead.public_id}/"))
    assert "Fang → Wang Fang" in page
    assert "Email f***@example.com" in page
    history = owner_client.get("/customers/merges/")
    assert list(history.context["page"].items) == [merge]
    assert 'data-testid="undo-merge"' in _content(history)
    # when the merge is undone
    undo = owner_client.post(
        f"/customers/merges/{merge.public_id}/undo/", {"next": f"/customers/{lead.public_id}/"}
    )
    # then both are customers of their own again
    assert undo["Location"] == f"/customers/{lead.public_id}/"
    visitor.refresh_from_db()
    assert (visitor.status, visitor.merged_into_id) == ("active", None)
    assert sorted(row.customer.name for row in owner_client.get("/customers/").context["rows"]) == [
        "Fang",
        "Wang Fang",
    ]
    merge.refresh_from_db()
    assert merge.undone_by_label == "owner@acme.test"
    assert "undone" in _text(owner_client.get("/customers/merges/"))
    # and undoing twice says so
    again = owner_client.post(f"/customers/merges/{merge.public_id}/undo/", follow=True)
    assert "This merge was undone already." in _text(again)


def test_merge_keeping_the_second_customer(
    owner_client: Client, pair: tuple[Customer, Customer]
) -> None:
    lead, visitor = pair
    owner_client.post(COMPARE, _merge_post(visitor, lead))
    lead.refresh_from_db()
    assert (lead.status, lead.merged_into_id) == ("merged", visitor.pk)


def test_merge_refuses_a_survivor_outside_the_pair(
    owner_client: Client, pair: tuple[Customer, Customer], make_customer: Callable[..., Customer]
) -> None:
    lead, visitor = pair
    third = make_customer(name="Third")
    response = owner_client.post(
        COMPARE,
        {"survivor": str(third.public_id), "pair": [str(lead.public_id), str(visitor.public_id)]},
    )
    assert response.status_code == 302
    assert not CustomerMerge.objects.exists()


def test_compare_of_a_merged_customer_says_so(
    owner_client: Client, owner_actor: Actor, pair: tuple[Customer, Customer]
) -> None:
    lead, visitor = pair
    customer_merge(actor=owner_actor, survivor=lead, absorbed=visitor)
    response = owner_client.get(_compare_url(lead, visitor))
    assert response.context["problem"] == "One of these customers was merged already."
    assert "sides" not in response.context


@pytest.fixture
def service_agent(make_member: Callable[..., Membership]) -> Membership:
    return make_member("agent@acme.test", "service")


def test_member_without_customers_merge_gets_403_and_nothing_changes(
    member_client: Client,
    member_actor: Actor,
    owner_actor: Actor,
) -> None:
    # given two customers of the sales member (who may not merge) and a merge of the owner's
    first = customer_create(actor=member_actor, data=CustomerData(name="One"))
    second = customer_create(actor=member_actor, data=CustomerData(name="Two"))
    third = customer_create(actor=member_actor, data=CustomerData(name="Three"))
    merge = customer_merge(actor=owner_actor, survivor=first, absorbed=third)
    # when
    responses = [
        member_client.get(_compare_url(first, second)),
        member_client.post(COMPARE, _merge_post(first, second)),
        member_client.post(f"/customers/merges/{merge.public_id}/undo/"),
        member_client.get("/customers/review/"),
        member_client.post(
            "/customers/bulk/",
            {"action": "merge", "customer": [str(first.public_id), str(second.public_id)]},
        ),
    ]
    # then
    assert [response.status_code for response in responses] == [403] * 5
    assert list(CustomerMerge.objects.values_list("undone_at", flat=True)) == [None]
    second.refresh_from_db()
    assert second.status == "active"
    # and the history shows the merge without an undo button
    history = member_client.get("/customers/merges/")
    assert list(history.context["page"].items) == [merge]
    assert 'data-testid="undo-merge"' not in _content(history)


def test_outsider_gets_404_on_merge_pages_and_sees_no_history(
    outsider_client: Client, owner_actor: Actor, pair: tuple[Customer, Customer]
) -> None:
    lead, visitor = pair
    third = customer_create(actor=owner_actor, data=CustomerData(name="Third"))
    merge = customer_merge(actor=owner_actor, survivor=lead, absorbed=third)
    candidate = MergeCandidate.objects.create(
        workspace=owner_actor.workspace,
        first=lead,
        second=visitor,
        matched_kinds="phone",
        source="form",
    )
    # then
    assert outsider_client.get(_compare_url(lead, visitor)).status_code == 404
    assert outsider_client.post(COMPARE, _merge_post(lead, visitor)).status_code == 404
    assert outsider_client.post(f"/customers/merges/{merge.public_id}/undo/").status_code == 404
    dismiss = outsider_client.post(f"/customers/review/{candidate.public_id}/dismiss/")
    assert dismiss.status_code == 404
    assert list(outsider_client.get("/customers/merges/").context["page"].items) == []
    assert list(outsider_client.get("/customers/review/").context["page"].items) == []
    merge.refresh_from_db()
    candidate.refresh_from_db()
    visitor.refresh_from_db()
    assert (merge.undone_at, candidate.status, visitor.status) == (None, "open", "active")


def _queued_pair(workspace_id: int, make_customer: Callable[..., Customer]) -> MergeCandidate:
    make_customer(name="By phone", phone="13912340004")
    make_customer(name="By email", email="second@example.org")
    identity_resolve(
        workspace_id=workspace_id,
        identity_keys=keys_of(phone="13912340004", email="second@example.org"),
        source="form",
    )
    return MergeCandidate.objects.get()


def test_review_queue_lists_open_suggestions_and_dismisses_them(
    owner_client: Client, owner_actor: Actor, make_customer: Callable[..., Customer]
) -> None:
    candidate = _queued_pair(owner_actor.workspace.pk, make_customer)
    # when
    queue = owner_client.get("/customers/review/")
    # then
    assert list(queue.context["page"].items) == [candidate]
    content = _content(queue)
    assert (
        f"/customers/merge/?a={candidate.first.public_id}&amp;b={candidate.second.public_id}"
        f"&amp;candidate={candidate.public_id}"
    ) in content
    # when dismissed
    response = owner_client.post(f"/customers/review/{candidate.public_id}/dismiss/")
    # then
    assert response["Location"] == "/customers/review/"
    candidate.refresh_from_db()
    assert candidate.status == "dismissed"
    assert list(owner_client.get("/customers/review/").context["page"].items) == []


def test_accepting_a_suggestion_merges_through_the_compare_page(
    owner_client: Client, owner_actor: Actor, make_customer: Callable[..., Customer]
) -> None:
    candidate = _queued_pair(owner_actor.workspace.pk, make_customer)
    first, second = candidate.first, candidate.second
    compare = owner_client.get(f"{_compare_url(first, second)}&candidate={candidate.public_id}")
    assert f'name="candidate" value="{candidate.public_id}"' in _content(compare)
    # when the second is kept
    owner_client.post(COMPARE, _merge_post(second, first, candidate=str(candidate.public_id)))
    # then
    candidate.refresh_from_db()
    merge = CustomerMerge.objects.get()
    assert (candidate.status, merge.survivor, merge.absorbed, merge.reason) == (
        "merged",
        second,
        first,
        "review",
    )


def test_merge_history_pages_by_cursor(
    owner_client: Client, owner_actor: Actor, make_customer: Callable[..., Customer]
) -> None:
    survivor = make_customer(name="Survivor")
    merges = [
        customer_merge(actor=owner_actor, survivor=survivor, absorbed=make_customer(name=f"A{n}"))
        for n in range(3)
    ]
    first = owner_client.get("/customers/merges/", {"limit": 2})
    assert list(first.context["page"].items) == [merges[2], merges[1]]
    second = owner_client.get(
        "/customers/merges/", {"limit": 2, "cursor": first.context["page"].next}
    )
    assert list(second.context["page"].items) == [merges[0]]
    assert "First page" in _content(second)
