"""POST /api/v1/events: one event or a batch, resolved to customers, with one result per item.
Invalid items are reported and do not stop the valid ones; a client id seen before is a
duplicate and records nothing."""

from typing import Any

from django.test import Client

from huike.accounts.models import Workspace
from huike.accounts.tests import api_support
from huike.accounts.tests.api_support import JSON, key_client
from huike.customers.ingest import MAX_BATCH_SIZE
from huike.customers.models import Customer, Event

admin = api_support.admin
fresh_rate_limits = api_support.fresh_rate_limits


def _customer(public_id: str) -> Customer:
    return Customer.objects.get(public_id=public_id)


def test_one_event_creates_its_customer(admin: Client, workspace: Workspace) -> None:
    # when
    response = admin.post(
        "/api/v1/events",
        {
            "id": "evt-1",
            "kind": "page.viewed",
            "occurred_at": "2026-03-01T09:30:00+08:00",
            "identities": {"phone": "137 1234 0001", "web_visitor_id": "v-77"},
            "properties": {"url": "/pricing"},
            "channel": "web",
            "customer": {"name": "Visitor Li"},
        },
        JSON,
    )
    # then
    assert response.status_code == 200
    event = Event.objects.get(workspace=workspace)
    customer = event.customer
    assert response.json() == {
        "results": [
            {
                "index": 0,
                "status": "created",
                "event_id": str(event.public_id),
                "customer_id": str(customer.public_id),
                "customer_created": True,
                "error": None,
            }
        ],
        "created": 1,
        "duplicates": 0,
        "errors": 0,
    }
    assert (event.kind, event.channel, event.properties, event.external_id) == (
        "page.viewed",
        "web",
        {"url": "/pricing"},
        "evt-1",
    )
    assert event.occurred_at.isoformat() == "2026-03-01T01:30:00+00:00"
    assert (customer.name, customer.source_channel) == ("Visitor Li", "web")


def test_batch_with_valid_invalid_and_duplicate_items(admin: Client, workspace: Workspace) -> None:
    # given an event recorded before
    admin.post(
        "/api/v1/events",
        {"id": "evt-old", "kind": "order.paid", "identities": {"email": "li@example.org"}},
        JSON,
    )
    old = Event.objects.get(external_id="evt-old")
    # when a batch mixes new, invalid and repeated items
    response = admin.post(
        "/api/v1/events",
        {
            "events": [
                {"id": "evt-a", "kind": "page.viewed", "identities": {"email": "LI@example.org"}},
                {"id": "evt-b", "kind": "Not A Kind", "identities": {"email": "li@example.org"}},
                {"id": "evt-old", "kind": "order.paid", "identities": {"email": "li@example.org"}},
                {"kind": "page.viewed", "identities": {}},
                {"kind": "page.viewed", "identities": {"phone": "12"}},
                {"id": "evt-a", "kind": "page.viewed", "identities": {"email": "li@example.org"}},
                {"kind": "email.opened", "identities": {"wechat_unionid": "o6_new"}},
                {"kind": "page.viewed", "identities": {"phone": "13800000000"}},
            ]
        },
        JSON,
    )
    # then
    assert response.status_code == 200
    body = response.json()
    li = old.customer
    newcomer = Customer.objects.exclude(pk=li.pk).get(workspace=workspace)
    event_a = Event.objects.get(external_id="evt-a")
    opened = Event.objects.get(kind="email.opened")
    assert (body["created"], body["duplicates"], body["errors"]) == (2, 2, 4)
    assert [
        (
            result["index"],
            result["status"],
            result["customer_id"],
            result["customer_created"],
            result["error"] and result["error"]["field"],
        )
        for result in body["results"]
    ] == [
        (0, "created", str(li.public_id), False, None),
        (1, "error", None, False, "kind"),
        (2, "duplicate", str(li.public_id), False, None),
        (3, "error", None, False, "identities"),
        (4, "error", None, False, "identities.phone"),
        (5, "duplicate", None, False, None),
        (6, "created", str(newcomer.public_id), True, None),
        (7, "error", None, False, "identities"),
    ]
    assert body["results"][0]["event_id"] == str(event_a.public_id)
    assert body["results"][2]["event_id"] == str(old.public_id)
    assert body["results"][6]["event_id"] == str(opened.public_id)
    assert body["results"][1]["error"] == {
        "field": "kind",
        "detail": "An event kind is dotted lower-case, like page.viewed or order.paid.",
    }
    # and only the new events were written
    assert sorted(Event.objects.filter(workspace=workspace).values_list("kind", flat=True)) == [
        "email.opened",
        "order.paid",
        "page.viewed",
    ]


def test_a_batch_of_more_than_1000_is_refused_whole(admin: Client, workspace: Workspace) -> None:
    item = {"kind": "page.viewed", "identities": {"web_visitor_id": "v-1"}}
    response = admin.post("/api/v1/events", {"events": [item] * (MAX_BATCH_SIZE + 1)}, JSON)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "events"
    assert Event.objects.count() == 0


def test_events_must_be_a_list(admin: Client) -> None:
    response = admin.post("/api/v1/events", {"events": {"kind": "page.viewed"}}, JSON)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "events"


def test_role_without_events_ingest_is_refused(workspace: Workspace) -> None:
    response = key_client(workspace, "read_only").post(
        "/api/v1/events", {"kind": "page.viewed", "identities": {"web_visitor_id": "v-1"}}, JSON
    )
    assert response.status_code == 403
    assert Customer.objects.count() == Event.objects.count() == 0


def test_outsider_events_never_reach_the_workspaces_customers(
    outsider_client: Client, workspace: Workspace, other_workspace: Workspace
) -> None:
    # given a customer of Acme with this phone
    acme = key_client(workspace)
    acme.post(
        "/api/v1/events", {"kind": "page.viewed", "identities": {"phone": "13712340001"}}, JSON
    )
    ours = Customer.objects.get(workspace=workspace)
    # when Globex sends an event with the same phone
    body: dict[str, Any] = outsider_client.post(
        "/api/v1/events", {"kind": "order.paid", "identities": {"phone": "13712340001"}}, JSON
    ).json()
    # then Globex gets a customer of its own and Acme's is untouched
    theirs = Customer.objects.get(workspace=other_workspace)
    assert body["results"][0]["customer_id"] == str(theirs.public_id)
    assert body["results"][0]["customer_created"] is True
    assert list(Event.objects.filter(customer=ours).values_list("kind", flat=True)) == [
        "page.viewed"
    ]


def test_a_retried_batch_with_the_same_idempotency_key_is_replayed(
    admin: Client, workspace: Workspace
) -> None:
    body = {"events": [{"kind": "page.viewed", "identities": {"web_visitor_id": "v-9"}}]}
    first = admin.post("/api/v1/events", body, JSON, headers={"Idempotency-Key": "batch-1"})
    again = admin.post("/api/v1/events", body, JSON, headers={"Idempotency-Key": "batch-1"})
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Event.objects.filter(workspace=workspace).count() == 1


def test_a_time_without_offset_is_the_workspaces_local_time(
    admin: Client, workspace: Workspace
) -> None:
    import datetime as dt

    # given a workspace in Shanghai (UTC+8), when an event names 09:30 without an offset
    response = admin.post(
        "/api/v1/events",
        {
            "kind": "page.viewed",
            "occurred_at": "2026-03-01 09:30",
            "identities": {"phone": "13712340002"},
        },
        JSON,
    )
    # then it happened at 01:30 UTC
    assert response.status_code == 200
    event = Event.objects.get(workspace=workspace)
    assert event.occurred_at == dt.datetime(2026, 3, 1, 1, 30, tzinfo=dt.UTC)
