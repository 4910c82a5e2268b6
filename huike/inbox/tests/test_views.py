"""The inbox pages through the client: the list (filters, tabs, pages), the conversation page
(thread, customer summary, composer), replies and notes, taking, assigning, status, presence,
and who sees what."""

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team
from huike.channels.conversation_actions import (
    ConversationContext,
    register_conversation_action,
    unregister_conversation_action,
)
from huike.channels.models import OutboundDelivery
from huike.core.errors import InvalidInputError
from huike.customers.models import ConsentPurpose, ConsentRecord, Tag
from huike.customers.services import consent_record
from huike.inbox.models import (
    AgentState,
    Conversation,
    ConversationAssignment,
    ConversationTag,
    Message,
    MessageDirection,
)
from huike.inbox.tests import test_inbox_support
from huike.inbox.tests.test_inbox_support import MakeConversation, member_with_role

pytestmark = pytest.mark.django_db

sms_channel = test_inbox_support.sms_channel
north = test_inbox_support.north
make_conversation = test_inbox_support.make_conversation

LIST = "/inbox/"
HTMX = {"HX-Request": "true"}


def _url(conversation: Conversation, action: str = "") -> str:
    return f"/inbox/{conversation.public_id}/" + (f"{action}/" if action else "")


def _client(member: Membership) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def _rows(response: Any) -> list[str]:
    return [conversation.customer.name for conversation in response.context["page"].items]


# --- the list --------------------------------------------------------------------------------
def test_list_shows_open_conversations_newest_first_with_unread_and_assignee(
    owner_client: Client, make_conversation: MakeConversation, owner: Membership
) -> None:
    # given three conversations, one resolved
    now = timezone.now()
    make_conversation(name="Old", at=now - dt.timedelta(hours=2))
    make_conversation(name="New", at=now - dt.timedelta(minutes=5), assignee=owner)
    make_conversation(name="Done", status="resolved")
    # when the inbox is opened
    response = owner_client.get(LIST)
    # then the open ones show, newest first, with their unread badge and assignee
    assert response.status_code == 200
    assert _rows(response) == ["New", "Old"]
    html = response.content.decode()
    assert 'data-testid="unread">1<' in html
    assert "Hello" in html
    assert 'id="inbox-list"' in html
    assert "hx-trigger=\"huike:inbox[detail.type!='typing'] from:body\"" in html
    assert "inbox/realtime.js" in html


def test_tabs_count_with_one_grouped_query_and_resolved_shows_no_count(
    owner_client: Client, make_conversation: MakeConversation
) -> None:
    for status in ("open", "open", "pending", "resolved"):
        make_conversation(status=status)
    response = owner_client.get(LIST)
    tabs = {tab["status"]: tab["count"] for tab in response.context["tabs"]}
    assert tabs == {"open": 2, "pending": 1, "snoozed": 0, "resolved": None, "all": None}
    assert _rows(owner_client.get(LIST + "?status=all")) != []
    assert len(owner_client.get(LIST + "?status=all").context["page"].items) == 4


def test_list_filters_by_assignee_team_tag_channel_and_unread(
    owner_client: Client,
    make_conversation: MakeConversation,
    owner: Membership,
    member: Membership,
    north: Team,
    workspace: Any,
) -> None:
    mine = make_conversation(name="Mine", assignee=owner)
    theirs = make_conversation(name="Theirs", assignee=member, team=north)
    queue = make_conversation(name="Queue", text="")
    vip = Tag.objects.create(workspace=workspace, name="VIP")
    ConversationTag.objects.create(workspace=workspace, conversation=theirs, tag=vip)
    assert _rows(owner_client.get(LIST + "?assignee=me")) == [mine.customer.name]
    assert _rows(owner_client.get(LIST + "?assignee=none")) == [queue.customer.name]
    assert _rows(owner_client.get(f"{LIST}?assignee={member.public_id}")) == ["Theirs"]
    assert _rows(owner_client.get(f"{LIST}?team={north.public_id}")) == ["Theirs"]
    assert _rows(owner_client.get(f"{LIST}?tag={vip.public_id}")) == ["Theirs"]
    assert _rows(owner_client.get(LIST + "?unread=on")) == ["Theirs", "Mine"]
    channel_id = mine.channel.public_id
    assert len(owner_client.get(f"{LIST}?channel={channel_id}").context["page"].items) == 3


def test_load_more_pages_without_repeating_and_htmx_gets_only_rows(
    owner_client: Client, make_conversation: MakeConversation
) -> None:
    now = timezone.now()
    for number in range(5):
        make_conversation(name=f"C{number}", at=now - dt.timedelta(minutes=number))
    first = owner_client.get(LIST + "?limit=2")
    assert _rows(first) == ["C0", "C1"]
    cursor = first.context["page"].next
    second = owner_client.get(f"{LIST}?limit=2&cursor={cursor}", headers=HTMX)
    assert _rows(second) == ["C2", "C3"]
    body = second.content.decode()
    assert "<html" not in body
    assert 'id="inbox-list"' not in body
    assert "Load more" in body
    refreshed = owner_client.get(LIST, headers=HTMX)
    assert refreshed.content.decode().lstrip().startswith('<div id="inbox-list"')
    # the live refresh sits on the page's wrapper, outside what a refresh swaps
    assert 'id="inbox-list-live"' not in refreshed.content.decode()
    assert 'id="inbox-list-live"' in first.content.decode()


def test_forged_cursor_is_a_bad_request(owner_client: Client) -> None:
    assert owner_client.get(LIST + "?cursor=bm90LWEtY3Vyc29y").status_code == 400


def test_sales_rep_sees_own_and_queue_but_not_someone_elses_in_another_team(
    make_member: Callable[..., Membership],
    make_conversation: MakeConversation,
    owner: Membership,
    north: Team,
    owner_actor: Actor,
) -> None:
    from huike.accounts.services import team_create

    south = team_create(actor=owner_actor, name="South")
    rep = member_with_role(make_member, "rep@acme.test", "sales", team=north)
    colleague = member_with_role(make_member, "colleague@acme.test", "sales", team=south)
    own = make_conversation(name="Own", assignee=rep, team=north)
    make_conversation(name="Queue")
    north_queue = make_conversation(name="North queue", team=north)
    other = make_conversation(name="Other", assignee=colleague, team=south)
    client = _client(rep)
    assert sorted(_rows(client.get(LIST + "?status=all"))) == ["North queue", "Own", "Queue"]
    assert client.get(_url(other)).status_code == 404
    assert client.get(_url(own)).status_code == 200
    assert client.get(_url(north_queue)).status_code == 200


def test_member_without_inbox_role_is_refused_and_other_workspace_gets_404(
    make_member: Callable[..., Membership],
    make_conversation: MakeConversation,
    outsider_client: Client,
) -> None:
    conversation = make_conversation(name="Li")
    finance = _client(make_member("finance@acme.test", "finance"))
    assert finance.get(LIST).status_code == 403
    assert finance.get(_url(conversation)).status_code == 403
    assert finance.post(_url(conversation, "reply"), {"text": "hi"}).status_code == 403
    for action in ("", "thread"):
        assert outsider_client.get(_url(conversation, action), headers=HTMX).status_code == 404
    for action in ("reply", "note", "claim", "assign", "status"):
        response = outsider_client.post(_url(conversation, action), {"text": "x"})
        assert response.status_code == 404, action
    assert Message.objects.filter(direction=MessageDirection.OUTBOUND).count() == 0


# --- the conversation page -------------------------------------------------------------------
def test_opening_a_conversation_marks_it_read_and_shows_the_thread(
    owner_client: Client, make_conversation: MakeConversation, owner: Membership
) -> None:
    conversation = make_conversation(name="Wang Fang", text="Where is my order?")
    Message.objects.create(
        workspace_id=conversation.workspace_id,
        conversation=conversation,
        direction=MessageDirection.NOTE,
        author=owner,
        text="Check the warehouse",
    )
    Message.objects.create(
        workspace_id=conversation.workspace_id,
        conversation=conversation,
        direction=MessageDirection.INBOUND,
        text="",
        html="<p>Hi <b>there</b></p>",
        attachments=[
            {"kind": "image", "url": "https://cdn.example.com/a.jpg", "name": "a.jpg"},
            {"kind": "file", "url": "javascript:alert(1)", "name": "evil.pdf"},
            {"kind": "file", "url": "https://cdn.example.com/b.pdf", "name": "b.pdf"},
        ],
    )
    response = owner_client.get(_url(conversation))
    assert response.status_code == 200
    html = response.content.decode()
    conversation.refresh_from_db()
    assert conversation.unread_count == 0
    assert "Where is my order?" in html
    assert 'class="message message-note"' in html
    assert "Check the warehouse" in html
    # sanitized email HTML only inside a sandboxed frame, escaped into srcdoc
    assert 'sandbox="" referrerpolicy="no-referrer"' in html
    assert 'srcdoc="&lt;p&gt;Hi &lt;b&gt;there&lt;/b&gt;&lt;/p&gt;"' in html
    assert "<b>there</b>" not in html
    assert '<img src="https://cdn.example.com/a.jpg"' in html
    assert 'href="https://cdn.example.com/b.pdf"' in html
    assert "javascript:" not in html
    assert f'data-conversation-id="{conversation.public_id}"' in html
    assert 'id="inbox-thread"' in html
    # the customer's summary with masked phone and a link to the full profile
    summary = response.context["summary"]
    assert summary.customer == conversation.customer
    assert "+86*******" in html
    assert f"/customers/{conversation.customer.public_id}/" in html


def test_thread_partial_for_htmx_marks_read(
    owner_client: Client, make_conversation: MakeConversation
) -> None:
    conversation = make_conversation(text="Ping")
    response = owner_client.get(_url(conversation, "thread"), headers=HTMX)
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="inbox-thread"')
    assert "Ping" in body
    conversation.refresh_from_db()
    assert conversation.unread_count == 0
    assert owner_client.get(_url(conversation, "thread")).status_code == 302


def test_sales_rep_without_access_to_the_customer_sees_a_short_line(
    make_member: Callable[..., Membership], make_conversation: MakeConversation
) -> None:
    # the customer belongs to the owner; the conversation is in the shared queue
    conversation = make_conversation(name="Private")
    rep = _client(make_member("rep@acme.test", "sales"))
    response = rep.get(_url(conversation))
    assert response.status_code == 200
    assert response.context["summary"] is None
    assert "no access to this customer" in response.content.decode()


def test_reply_sends_through_the_channel_and_shows_in_the_thread(
    owner_client: Client,
    make_conversation: MakeConversation,
    owner: Membership,
    django_capture_on_commit_callbacks: Any,
) -> None:
    conversation = make_conversation(text="Is it in stock?")
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(_url(conversation, "reply"), {"text": "Yes, it is."})
    assert response.status_code == 302
    message = Message.objects.get(direction=MessageDirection.OUTBOUND)
    assert (message.text, message.author) == ("Yes, it is.", owner)
    delivery = message.outbound_delivery
    assert delivery is not None
    delivery.refresh_from_db()
    assert delivery.status == OutboundDelivery.Status.SENT
    assert delivery.provider_message_id.startswith("console-")
    page = owner_client.get(_url(conversation)).content.decode()
    assert "Yes, it is." in page
    assert 'data-testid="delivery">Sent<' in page


def test_htmx_reply_returns_an_empty_composer_and_the_refresh_event(
    owner_client: Client, make_conversation: MakeConversation
) -> None:
    conversation = make_conversation()
    response = owner_client.post(_url(conversation, "reply"), {"text": "On its way"}, headers=HTMX)
    assert response.status_code == 200
    assert response["HX-Trigger"] == (
        '{"huike:inbox": {"conversation_id": "' + str(conversation.public_id) + '"}}'
    )
    assert "On its way" not in response.content.decode()
    assert Message.objects.filter(direction="out", text="On its way").count() == 1


def test_refused_reply_shows_the_reason_and_keeps_the_text(
    owner_client: Client, make_conversation: MakeConversation
) -> None:
    # given a customer who replied STOP to our SMS
    conversation = make_conversation()
    consent_record(
        actor=None,
        customer=conversation.customer,
        purpose=ConsentPurpose.MARKETING,
        status=ConsentRecord.Status.WITHDRAWN,
        channel="sms",
    )
    # when an agent replies
    response = owner_client.post(_url(conversation, "reply"), {"text": "Special offer!"})
    # then the platform's reason shows in the composer, the text stays, nothing is stored
    assert response.status_code == 409
    html = response.content.decode()
    assert "opted out of messages on this channel" in html
    assert "Special offer!</textarea>" in html
    assert not Message.objects.filter(direction=MessageDirection.OUTBOUND).exists()
    assert not OutboundDelivery.objects.exists()
    htmx = owner_client.post(_url(conversation, "reply"), {"text": "Again"}, headers=HTMX)
    assert htmx.status_code == 200
    assert "HX-Trigger" not in htmx
    assert 'data-testid="reply-error"' in htmx.content.decode()


def test_empty_reply_is_refused_with_a_field_error(
    owner_client: Client, make_conversation: MakeConversation
) -> None:
    conversation = make_conversation()
    response = owner_client.post(_url(conversation, "reply"), {"text": "   "})
    assert response.status_code == 422
    assert "Write a message first." in response.content.decode()
    assert not Message.objects.filter(direction=MessageDirection.OUTBOUND).exists()


def test_reply_with_a_template_renders_it_for_the_customer(
    owner_client: Client, owner_actor: Actor, make_conversation: MakeConversation
) -> None:
    from huike.channels.services import template_create

    template = template_create(
        actor=owner_actor,
        data={"name": "Thanks", "body_en": "Thank you, {{customer.name}}!", "body_zh_hans": ""},
    )
    conversation = make_conversation(name="Ada")
    page = owner_client.get(_url(conversation)).content.decode()
    assert "Thank you, Ada!" in page  # offered to the picker, rendered
    owner_client.post(_url(conversation, "reply"), {"text": "", "template": template.public_id})
    assert Message.objects.get(direction="out").text == "Thank you, Ada!"


def test_canned_replies_are_offered_in_the_customers_language(
    owner_client: Client, owner_actor: Actor, make_conversation: MakeConversation
) -> None:
    from huike.inbox.configure import canned_reply_create

    canned_reply_create(
        actor=owner_actor,
        shortcut="hi",
        title="Greeting",
        body_zh_hans="您好 {{customer.first_name}}",
        body_en="Hello {{customer.first_name}}",
    )
    conversation = make_conversation(name="王小明")
    conversation.customer.locale = "zh-hans"
    conversation.customer.save(update_fields=["locale"])
    response = owner_client.get(_url(conversation))
    assert [choice.text for choice in response.context["canned_replies"]] == ["您好 小明"]
    assert "/hi · Greeting" in response.content.decode()


def test_note_with_mentions_from_the_select_and_handles(
    owner_client: Client,
    make_conversation: MakeConversation,
    make_member: Callable[..., Membership],
) -> None:
    picked = make_member("picked@acme.test", "service")
    named = make_member("lily@acme.test", "service")
    conversation = make_conversation()
    response = owner_client.post(
        _url(conversation, "note"), {"text": "Ask @lily please", "mentions": [picked.pk]}
    )
    assert response.status_code == 302
    note = Message.objects.get(direction=MessageDirection.NOTE)
    assert set(note.mentions.all()) == {picked, named}
    assert not OutboundDelivery.objects.exists()


def test_take_a_conversation_then_a_second_take_is_refused(
    owner_client: Client,
    make_member: Callable[..., Membership],
    make_conversation: MakeConversation,
) -> None:
    conversation = make_conversation()
    first = make_member("first@acme.test", "service")
    second = make_member("second@acme.test", "service")
    assert _client(first).post(_url(conversation, "claim")).status_code == 302
    # a colleague of the same role no longer sees it; an admin (sees all) is refused
    assert _client(second).post(_url(conversation, "claim")).status_code == 404
    response = owner_client.post(_url(conversation, "claim"), follow=True)
    assert "Someone else has taken this conversation." in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.assignee == first
    assert list(ConversationAssignment.objects.values_list("reason", flat=True)) == ["claimed"]


def test_assign_and_transfer_need_inbox_assign(
    owner_client: Client,
    member_client: Client,
    make_conversation: MakeConversation,
    owner: Membership,
    member: Membership,
    north: Team,
) -> None:
    conversation = make_conversation()
    refused = member_client.post(_url(conversation, "assign"), {"assignee": owner.public_id})
    assert refused.status_code == 403
    owner_client.post(
        _url(conversation, "assign"), {"assignee": member.public_id, "team": north.public_id}
    )
    owner_client.post(_url(conversation, "assign"), {"assignee": owner.public_id})
    conversation.refresh_from_db()
    assert (conversation.assignee, conversation.team) == (owner, None)
    assert list(ConversationAssignment.objects.order_by("pk").values_list("reason", flat=True)) == [
        "manual",
        "transfer",
    ]


def test_status_change_and_snooze_until(
    owner_client: Client, make_conversation: MakeConversation
) -> None:
    conversation = make_conversation()
    refused = owner_client.post(_url(conversation, "status"), {"status": "snoozed"}, follow=True)
    assert "Snoozing needs a time in the future." in refused.content.decode()
    until = timezone.localtime(timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    owner_client.post(_url(conversation, "status"), {"status": "snoozed", "snoozed_until": until})
    conversation.refresh_from_db()
    assert conversation.status == "snoozed"
    assert conversation.snoozed_until is not None
    owner_client.post(_url(conversation, "status"), {"status": "resolved"})
    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until) == ("resolved", None)
    assert conversation.resolved_at is not None


def test_agent_sets_own_presence_and_capacity(member_client: Client, member: Membership) -> None:
    response = member_client.post(
        "/inbox/presence/", {"presence": "online", "capacity": "3", "auto_assign": "on"}
    )
    assert response.status_code == 302
    state = AgentState.objects.get(membership=member)
    assert (state.presence, state.capacity, state.auto_assign) == ("online", 3, True)
    assert state.last_seen_at is not None


def test_registered_conversation_actions_show_as_buttons(
    owner_client: Client, member_client: Client, make_conversation: MakeConversation
) -> None:
    conversation = make_conversation()
    assert 'data-action="probe"' not in owner_client.get(_url(conversation)).content.decode()
    register_conversation_action("probe", "Turn into a lead", "inbox.configure", lambda *_: "/")
    try:
        assert 'data-action="probe"' in owner_client.get(_url(conversation)).content.decode()
        member_page = member_client.get(_url(conversation)).content.decode()
        assert 'data-action="probe"' not in member_page
    finally:
        unregister_conversation_action("probe")


def test_conversation_action_runs_the_handler_and_links_its_record(
    owner_client: Client, member_client: Client, make_conversation: MakeConversation
) -> None:
    # given an action whose handler sees the conversation as plain values
    conversation = make_conversation(text="I want 20 licences")
    seen: list[ConversationContext] = []

    def handler(actor: Actor, context: ConversationContext) -> str:
        seen.append(context)
        return "/customers/"

    register_conversation_action("probe", "Turn into a lead", "inbox.configure", handler)
    try:
        # when a role without the action's permission presses it
        denied = member_client.post(_url(conversation, "actions/probe"))
        # then it is not found and nothing ran
        assert denied.status_code == 404
        assert seen == []
        # when the owner presses it
        response = owner_client.post(_url(conversation, "actions/probe"))
        # then the handler got the conversation and the page goes to what it made
        assert response.status_code == 302
        assert response["Location"] == "/customers/"
        assert len(seen) == 1
        context = seen[0]
        assert context.conversation_public_id == conversation.public_id
        assert context.customer_id == conversation.customer_id
        assert context.channel_kind == "sms"
        assert context.transcript == "Customer: I want 20 licences"
        conversation.refresh_from_db()
        assert conversation.linked_records == {"probe": "/customers/"}
        page = owner_client.get(_url(conversation)).content.decode()
        assert 'data-linked="probe"' in page
    finally:
        unregister_conversation_action("probe")


def test_conversation_action_errors_are_shown_and_change_nothing(
    owner_client: Client, make_conversation: MakeConversation
) -> None:
    conversation = make_conversation()

    def handler(actor: Actor, context: ConversationContext) -> str:
        raise InvalidInputError("This customer has no phone.")

    register_conversation_action("probe", "Turn into a lead", "inbox.configure", handler)
    try:
        response = owner_client.post(_url(conversation, "actions/probe"), follow=True)
        assert "This customer has no phone." in response.content.decode()
        conversation.refresh_from_db()
        assert conversation.linked_records == {}
        unknown = owner_client.post(_url(conversation, "actions/nothing"))
        assert unknown.status_code == 404
    finally:
        unregister_conversation_action("probe")


# --- settings --------------------------------------------------------------------------------
def test_canned_reply_settings_create_edit_delete(owner_client: Client, workspace: Any) -> None:
    from huike.inbox.models import CannedReply

    url = "/inbox/settings/canned-replies/"
    created = owner_client.post(
        url, {"shortcut": "/thanks", "title": "Thanks", "body_en": "Thank you!"}
    )
    assert created.status_code == 302
    reply = CannedReply.objects.get(workspace=workspace)
    assert (reply.shortcut, reply.body_en) == ("thanks", "Thank you!")
    duplicate = owner_client.post(url, {"shortcut": "thanks", "title": "Again", "body_en": "x"})
    assert "Another canned reply has this shortcut." in duplicate.content.decode()
    owner_client.post(
        f"{url}{reply.public_id}/",
        {"shortcut": "thanks", "title": "Thanks", "body_zh_hans": "谢谢", "body_en": ""},
    )
    reply.refresh_from_db()
    assert (reply.body_zh_hans, reply.body_en) == ("谢谢", "")
    owner_client.post(f"{url}{reply.public_id}/delete/")
    assert not CannedReply.objects.exists()


def test_settings_pages_need_inbox_configure_and_stay_in_the_workspace(
    owner_client: Client, member_client: Client, outsider_client: Client, owner_actor: Actor
) -> None:
    from huike.inbox.configure import canned_reply_create
    from huike.inbox.models import CannedReply

    reply = canned_reply_create(actor=owner_actor, shortcut="hi", title="Hi", body_en="Hi")
    for url in ("/inbox/settings/canned-replies/", "/inbox/settings/assignment/"):
        assert owner_client.get(url).status_code == 200
        assert member_client.get(url).status_code == 403
    assert (
        member_client.post(f"/inbox/settings/canned-replies/{reply.public_id}/delete/").status_code
        == 403
    )
    outsider = outsider_client.post(f"/inbox/settings/canned-replies/{reply.public_id}/delete/")
    assert outsider.status_code == 404
    assert CannedReply.objects.count() == 1


def test_assignment_settings_save_strategy_and_timeout(
    owner_client: Client, workspace: Any
) -> None:
    from huike.inbox.services import inbox_settings

    response = owner_client.post(
        "/inbox/settings/assignment/",
        {"strategy": "least_open", "online_timeout_seconds": "300"},
    )
    assert response.status_code == 302
    saved = inbox_settings(workspace.pk)
    assert (saved.strategy, saved.online_timeout_seconds) == ("least_open", 300)


def test_a_filter_naming_an_unknown_channel_matches_nothing(
    owner_client: Client, make_conversation: MakeConversation
) -> None:
    make_conversation()
    assert _rows(owner_client.get(LIST + "?channel=0b7c0c1e-0000-4000-8000-000000000000")) == []
    assert _rows(owner_client.get(LIST + "?channel=junk")) == []
    assert len(_rows(owner_client.get(LIST + "?status=bogus"))) == 1


def test_tags_are_set_from_the_conversation_page(
    owner_client: Client, owner_actor: Actor, make_conversation: MakeConversation
) -> None:
    vip = Tag.objects.create(workspace=owner_actor.workspace, name="VIP")
    conversation = make_conversation()

    page = owner_client.get(f"/inbox/{conversation.public_id}/")
    response = owner_client.post(
        f"/inbox/{conversation.public_id}/tags/", {"tags": [str(vip.public_id)]}
    )

    assert b'data-testid="tags-form"' in page.content
    assert response.status_code == 302
    assert list(
        ConversationTag.objects.filter(conversation=conversation).values_list("tag", flat=True)
    ) == [vip.pk]


def test_tags_of_a_conversation_in_another_workspace_cannot_be_set(
    owner_actor: Actor, other_workspace: Any, make_member: Any, make_conversation: MakeConversation
) -> None:
    vip = Tag.objects.create(workspace=owner_actor.workspace, name="VIP")
    conversation = make_conversation()
    stranger = make_member("stranger@other.test", "admin", target=other_workspace)
    stranger.accepted_at = timezone.now()
    stranger.save(update_fields=["accepted_at"])
    client = Client()
    client.force_login(stranger.user)

    response = client.post(f"/inbox/{conversation.public_id}/tags/", {"tags": [str(vip.public_id)]})

    assert response.status_code in (403, 404)
    assert not ConversationTag.objects.exists()
