"""The inbox API: conversations, messages, replies, notes, assignment, status and canned
replies; constant queries for the lists; 404 from another workspace, 403 without the role."""

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team
from huike.accounts.tests import api_support
from huike.accounts.tests.api_support import JSON, key_client
from huike.channels.models import OutboundDelivery
from huike.channels.services import template_create
from huike.customers.models import ConsentPurpose, ConsentRecord, Tag
from huike.customers.services import consent_record
from huike.inbox.configure import canned_reply_create
from huike.inbox.models import (
    CannedReply,
    Conversation,
    ConversationAssignment,
    ConversationTag,
    Message,
    MessageDirection,
)
from huike.inbox.tests import test_inbox_support
from huike.inbox.tests.test_inbox_support import MakeConversation

pytestmark = pytest.mark.django_db

admin = api_support.admin
fresh_rate_limits = api_support.fresh_rate_limits
sms_channel = test_inbox_support.sms_channel
north = test_inbox_support.north
make_conversation = test_inbox_support.make_conversation

BASE = "/api/v1/conversations"


def _url(conversation: Conversation, action: str = "") -> str:
    return f"{BASE}/{conversation.public_id}" + (f"/{action}" if action else "")


# --- conversations ----------------------------------------------------------------------------
def test_list_pages_newest_first_with_constant_queries(
    admin: Client,
    make_conversation: MakeConversation,
    owner: Membership,
    north: Team,
    django_assert_max_num_queries: Any,
) -> None:
    now = timezone.now()
    for number in range(6):
        make_conversation(
            name=f"C{number}",
            at=now - dt.timedelta(minutes=number),
            assignee=owner if number % 2 else None,
            team=north if number % 3 == 0 else None,
        )
    admin.get("/api/v1/workspace")  # the key's first use records last_used_at
    with django_assert_max_num_queries(4):
        small = admin.get(f"{BASE}?limit=2").json()
    with django_assert_max_num_queries(4):
        large = admin.get(f"{BASE}?limit=6").json()
    assert [item["customer"]["name"] for item in small["items"]] == ["C0", "C1"]
    assert len(large["items"]) == 6
    assert large["next"] is None
    rest = admin.get(f"{BASE}?limit=2&cursor={small['next']}").json()
    assert [item["customer"]["name"] for item in rest["items"]] == ["C2", "C3"]
    first = small["items"][1]
    assert first["assignee"]["email"] == "owner@acme.test"
    assert first["channel"]["kind"] == "sms"
    assert first["unread_count"] == 1
    assert first["last_message_preview"] == "Hello"


def test_list_filters(
    admin: Client,
    make_conversation: MakeConversation,
    owner: Membership,
    member: Membership,
    north: Team,
    workspace: Any,
) -> None:
    mine = make_conversation(name="Mine", assignee=owner)
    theirs = make_conversation(name="Theirs", assignee=member, team=north)
    make_conversation(name="Queue", text="")
    make_conversation(name="Done", status="resolved")
    vip = Tag.objects.create(workspace=workspace, name="VIP")
    ConversationTag.objects.create(workspace=workspace, conversation=theirs, tag=vip)

    def names(query: str) -> list[str]:
        response = admin.get(f"{BASE}?{query}")
        assert response.status_code == 200, response.content
        return sorted(item["customer"]["name"] for item in response.json()["items"])

    assert names("") == ["Mine", "Queue", "Theirs"]
    assert names("status=resolved") == ["Done"]
    assert names("status=all") == ["Done", "Mine", "Queue", "Theirs"]
    assert names("assignee=none") == ["Queue"]
    assert names(f"assignee={member.public_id}") == ["Theirs"]
    assert names(f"team={north.public_id}") == ["Theirs"]
    assert names(f"tag={vip.public_id}") == ["Theirs"]
    assert names("unread=true") == ["Mine", "Theirs"]
    assert names(f"channel={mine.channel.public_id}") == ["Mine", "Queue", "Theirs"]
    assert admin.get(f"{BASE}?status=nope").status_code == 422


def test_assignee_me_is_the_keys_maker(
    owner_client: Client, make_conversation: MakeConversation, owner: Membership
) -> None:
    make_conversation(name="Mine", assignee=owner)
    make_conversation(name="Queue")
    body = owner_client.get(f"{BASE}?assignee=me").json()
    assert [item["customer"]["name"] for item in body["items"]] == ["Mine"]


def test_detail_assign_and_status(
    admin: Client,
    make_conversation: MakeConversation,
    member: Membership,
    north: Team,
) -> None:
    conversation = make_conversation(name="Li")
    detail = admin.get(_url(conversation)).json()
    assert (detail["id"], detail["status"], detail["assignee"]) == (
        str(conversation.public_id),
        "open",
        None,
    )
    assigned = admin.post(
        _url(conversation, "assign"),
        {"assignee_id": str(member.public_id), "team_id": str(north.public_id)},
        JSON,
    )
    assert assigned.status_code == 200, assigned.content
    assert assigned.json()["assignee"]["id"] == str(member.public_id)
    assert assigned.json()["team"]["name"] == "North"
    # without team_id the team stays
    back = admin.post(_url(conversation, "assign"), {"assignee_id": None}, JSON).json()
    assert (back["assignee"], back["team"]["name"]) == (None, "North")
    assert list(ConversationAssignment.objects.order_by("pk").values_list("reason", flat=True)) == [
        "manual",
        "unassigned",
    ]
    unknown = admin.post(_url(conversation, "assign"), {"assignee_id": str(north.public_id)}, JSON)
    assert unknown.status_code == 422
    until = (timezone.now() + dt.timedelta(hours=3)).isoformat()
    snoozed = admin.post(
        _url(conversation, "status"), {"status": "snoozed", "snoozed_until": until}, JSON
    ).json()
    assert snoozed["status"] == "snoozed"
    assert snoozed["snoozed_until"] is not None
    refused = admin.post(_url(conversation, "status"), {"status": "snoozed"}, JSON)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "snoozed_until"


# --- messages ---------------------------------------------------------------------------------
def test_messages_oldest_or_newest_first_with_delivery_and_constant_queries(
    admin: Client,
    make_conversation: MakeConversation,
    owner_actor: Actor,
    django_assert_max_num_queries: Any,
) -> None:
    from huike.inbox.services import note_add

    conversation = make_conversation(text="First", at=timezone.now() - dt.timedelta(minutes=5))
    reply = admin.post(_url(conversation, "messages"), {"body": "Second"}, JSON)
    assert reply.status_code == 201, reply.content
    note_add(actor=owner_actor, conversation=conversation, text="Third @owner")
    admin.get("/api/v1/workspace")
    with django_assert_max_num_queries(6):
        oldest = admin.get(_url(conversation, "messages")).json()
    with django_assert_max_num_queries(6):
        newest = admin.get(_url(conversation, "messages") + "?order=newest&limit=1").json()
    assert [item["text"] for item in oldest["items"]] == ["First", "Second", "Third @owner"]
    assert [item["direction"] for item in oldest["items"]] == ["in", "out", "note"]
    assert [item["text"] for item in newest["items"]] == ["Third @owner"]
    out = oldest["items"][1]
    assert out["delivery"]["status"] in {"queued", "sent"}
    assert set(out["delivery"]) == {"status", "error", "sent_at", "delivered_at", "read_at"}
    assert oldest["items"][0]["delivery"] is None
    owner_id = Membership.objects.get(user__email="owner@acme.test").public_id
    assert oldest["items"][2]["mentions"] == [str(owner_id)]


def test_reply_creates_a_message_and_a_delivery_sent_by_the_provider(
    admin: Client,
    make_conversation: MakeConversation,
    django_capture_on_commit_callbacks: Any,
) -> None:
    conversation = make_conversation()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(_url(conversation, "messages"), {"body": "Thanks!"}, JSON)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["direction"], body["text"]) == ("out", "Thanks!")
    delivery = OutboundDelivery.objects.get()
    assert delivery.status == "sent"
    assert delivery.content["text"] == "Thanks!"
    assert Message.objects.get(direction="out").outbound_delivery == delivery
    conversation.refresh_from_db()
    assert (conversation.unread_count, conversation.last_message_preview) == (0, "Thanks!")
    assert conversation.first_reply_at is not None


def test_empty_reply_is_422_and_a_refused_one_409_storing_nothing(
    admin: Client, make_conversation: MakeConversation
) -> None:
    conversation = make_conversation()
    empty = admin.post(_url(conversation, "messages"), {"body": "  "}, JSON)
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "body"
    consent_record(
        actor=None,
        customer=conversation.customer,
        purpose=ConsentPurpose.MARKETING,
        status=ConsentRecord.Status.WITHDRAWN,
        channel="sms",
    )
    refused = admin.post(_url(conversation, "messages"), {"body": "Offer"}, JSON)
    assert refused.status_code == 409
    assert refused["Content-Type"].startswith("application/problem+json")
    assert "opted out" in refused.json()["detail"]
    assert not Message.objects.filter(direction=MessageDirection.OUTBOUND).exists()
    assert not OutboundDelivery.objects.exists()


def test_reply_with_a_template_sends_its_text_for_the_customer(
    admin: Client, make_conversation: MakeConversation, owner_actor: Actor
) -> None:
    template = template_create(
        actor=owner_actor,
        data={"name": "Hi", "body_en": "Hi {{customer.first_name}}", "body_zh_hans": ""},
    )
    conversation = make_conversation(name="Ada Lovelace")
    response = admin.post(
        _url(conversation, "messages"), {"template_id": str(template.public_id)}, JSON
    )
    assert response.status_code == 201, response.content
    assert response.json()["text"] == "Hi Ada"
    unknown = admin.post(
        _url(conversation, "messages"), {"template_id": str(conversation.public_id)}, JSON
    )
    assert unknown.status_code == 422


def test_note_mentions_members_by_id(
    admin: Client, make_conversation: MakeConversation, make_member: Callable[..., Membership]
) -> None:
    colleague = make_member("colleague@acme.test", "service")
    conversation = make_conversation()
    response = admin.post(
        _url(conversation, "notes"),
        {"body": "Have a look", "mentions": [str(colleague.public_id)]},
        JSON,
    )
    assert response.status_code == 201, response.content
    assert response.json()["mentions"] == [str(colleague.public_id)]
    assert response.json()["direction"] == "note"
    assert not OutboundDelivery.objects.exists()
    bad = admin.post(
        _url(conversation, "notes"), {"body": "x", "mentions": [str(conversation.public_id)]}, JSON
    )
    assert bad.status_code == 422


# --- access -----------------------------------------------------------------------------------
def test_another_workspace_gets_404_everywhere(
    make_conversation: MakeConversation, other_workspace: Any, owner_actor: Actor
) -> None:
    conversation = make_conversation()
    reply = canned_reply_create(actor=owner_actor, shortcut="hi", title="Hi", body_en="Hi")
    outsider = key_client(other_workspace)
    assert outsider.get(BASE).json()["items"] == []
    for method, path, payload in [
        ("get", _url(conversation), None),
        ("get", _url(conversation, "messages"), None),
        ("post", _url(conversation, "messages"), {"body": "x"}),
        ("post", _url(conversation, "notes"), {"body": "x"}),
        ("post", _url(conversation, "assign"), {"assignee_id": None}),
        ("post", _url(conversation, "status"), {"status": "resolved"}),
        ("get", f"/api/v1/canned-replies/{reply.public_id}", None),
        ("patch", f"/api/v1/canned-replies/{reply.public_id}", {"title": "x"}),
        ("delete", f"/api/v1/canned-replies/{reply.public_id}", None),
    ]:
        call = getattr(outsider, method)
        response = call(path, payload, JSON) if payload is not None else call(path)
        assert response.status_code == 404, (method, path, response.content)
    assert outsider.get("/api/v1/canned-replies").json()["items"] == []
    conversation.refresh_from_db()
    assert conversation.status == "open"
    assert CannedReply.objects.get().title == "Hi"
    assert not Message.objects.exclude(direction="in").exists()


def test_a_role_without_the_permission_gets_403(
    make_conversation: MakeConversation, workspace: Any, owner_actor: Actor
) -> None:
    conversation = make_conversation()
    reply = canned_reply_create(actor=owner_actor, shortcut="hi", title="Hi", body_en="Hi")
    finance = key_client(workspace, "finance")
    assert finance.get(BASE).status_code == 403
    assert finance.get(_url(conversation)).status_code == 403
    assert finance.get("/api/v1/canned-replies").status_code == 403
    sales = key_client(workspace, "sales")
    assert sales.post(_url(conversation, "assign"), {"assignee_id": None}, JSON).status_code == 403
    assert (
        sales.post(
            "/api/v1/canned-replies", {"shortcut": "x", "title": "x", "body_en": "x"}, JSON
        ).status_code
        == 403
    )
    assert sales.delete(f"/api/v1/canned-replies/{reply.public_id}").status_code == 403
    marketing = key_client(workspace, "marketing")
    assert marketing.post(_url(conversation, "messages"), {"body": "x"}, JSON).status_code == 403
    assert not Message.objects.exclude(direction="in").exists()
    assert CannedReply.objects.count() == 1


def test_sales_rep_does_not_see_a_conversation_of_someone_in_another_team(
    make_member: Callable[..., Membership],
    make_conversation: MakeConversation,
    owner_actor: Actor,
    north: Team,
) -> None:
    from huike.accounts.services import team_create
    from huike.inbox.tests.test_inbox_support import member_with_role

    south = team_create(actor=owner_actor, name="South")
    rep = member_with_role(make_member, "rep@acme.test", "sales", team=north)
    colleague = member_with_role(make_member, "colleague@acme.test", "sales", team=south)
    other = make_conversation(name="Other", assignee=colleague, team=south)
    own = make_conversation(name="Own", assignee=rep, team=north)
    client = Client()
    client.force_login(rep.user)
    names = [item["customer"]["name"] for item in client.get(f"{BASE}?status=all").json()["items"]]
    assert names == ["Own"]
    assert client.get(_url(other)).status_code == 404
    assert client.post(_url(other, "messages"), {"body": "hi"}, JSON).status_code == 404
    assert client.get(_url(own)).status_code == 200


# --- canned replies ---------------------------------------------------------------------------
def test_canned_replies_crud(admin: Client) -> None:
    created = admin.post(
        "/api/v1/canned-replies",
        {
            "shortcut": "thanks",
            "title": "Thanks",
            "body_en": "Thank you!",
            "body_zh_hans": "谢谢",
        },
        JSON,
    )
    assert created.status_code == 201, created.content
    reply_id = created.json()["id"]
    url = f"/api/v1/canned-replies/{reply_id}"
    assert admin.get(url).json()["body_zh_hans"] == "谢谢"
    changed = admin.patch(url, {"title": "Thank you"}, JSON).json()
    assert (changed["title"], changed["body_en"]) == ("Thank you", "Thank you!")
    duplicate = admin.post(
        "/api/v1/canned-replies", {"shortcut": "thanks", "title": "x", "body_en": "x"}, JSON
    )
    assert duplicate.status_code == 409
    empty = admin.post("/api/v1/canned-replies", {"shortcut": "e", "title": "x"}, JSON)
    assert empty.status_code == 422
    listed = admin.get("/api/v1/canned-replies").json()["items"]
    assert [item["shortcut"] for item in listed] == ["thanks"]
    assert admin.delete(url).status_code == 204
    assert not CannedReply.objects.exists()


def test_the_endpoints_are_documented_under_inbox(admin: Client) -> None:
    schema = admin.get("/api/v1/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/conversations",
        "/api/v1/conversations/{conversation_id}/messages",
        "/api/v1/canned-replies/{reply_id}",
    ):
        assert path in paths, path
    tags = {
        tag for operation in paths["/api/v1/conversations"].values() for tag in operation["tags"]
    }
    assert tags == {"Inbox"}


# --- tags and claim ---------------------------------------------------------------------------
def test_tags_are_set_shown_and_filtered(
    admin: Client, owner_actor: Actor, make_conversation: MakeConversation
) -> None:
    vip = Tag.objects.create(workspace=owner_actor.workspace, name="VIP")
    refund = Tag.objects.create(workspace=owner_actor.workspace, name="Refund")
    tagged = make_conversation(name="Tagged")
    make_conversation(name="Plain")

    response = admin.put(
        f"{BASE}/{tagged.public_id}/tags",
        {"tag_ids": [str(vip.public_id), str(refund.public_id)]},
        content_type=JSON,
    )

    assert response.status_code == 200, response.content
    assert [tag["name"] for tag in response.json()["tags"]] == ["Refund", "VIP"]
    listed = admin.get(BASE, {"tag": str(vip.public_id)}).json()["items"]
    assert [item["id"] for item in listed] == [str(tagged.public_id)]
    cleared = admin.put(f"{BASE}/{tagged.public_id}/tags", {"tag_ids": []}, content_type=JSON)
    assert cleared.json()["tags"] == []
    assert not ConversationTag.objects.filter(conversation=tagged).exists()


def test_a_tag_of_another_workspace_is_refused(
    admin: Client, other_workspace: Any, make_conversation: MakeConversation
) -> None:
    foreign = Tag.objects.create(workspace=other_workspace, name="Theirs")
    conversation = make_conversation()

    response = admin.put(
        f"{BASE}/{conversation.public_id}/tags",
        {"tag_ids": [str(foreign.public_id)]},
        content_type=JSON,
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "tag_ids"
    assert not ConversationTag.objects.exists()


def test_tags_and_claim_of_another_workspaces_conversation_are_404(
    other_workspace: Any, make_conversation: MakeConversation
) -> None:
    conversation = make_conversation()
    theirs = key_client(other_workspace)

    assert (
        theirs.put(
            f"{BASE}/{conversation.public_id}/tags", {"tag_ids": []}, content_type=JSON
        ).status_code
        == 404
    )
    assert theirs.post(f"{BASE}/{conversation.public_id}/claim").status_code == 404
    conversation.refresh_from_db()
    assert conversation.assignee_id is None


def test_claim_takes_an_unassigned_conversation_once(
    member: Membership, member_client: Client, make_conversation: MakeConversation
) -> None:
    conversation = make_conversation()

    first = member_client.post(f"{BASE}/{conversation.public_id}/claim")
    again = member_client.post(f"{BASE}/{conversation.public_id}/claim")

    assert first.status_code == 200, first.content
    assert first.json()["assignee"]["id"] == str(member.public_id)
    assert again.status_code == 200
    assert ConversationAssignment.objects.filter(conversation=conversation).count() == 1
    conversation.refresh_from_db()
    assert conversation.assignee_id == member.pk
