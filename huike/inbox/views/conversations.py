"""The inbox pages: the conversation list (filters, tab counts, "Load more" pages) and the
conversation page (thread, the customer's summary, the composer and the actions). Thin over
huike.inbox.services; the list and the thread refresh on the `huike:inbox` DOM event that
realtime.js dispatches."""

import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from huike.accounts.access import Actor, lookup_membership, lookup_team
from huike.channels.conversation_actions import conversation_actions
from huike.core.errors import (
    ConflictError,
    HuikeError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from huike.core.pagination import Page, paginate
from huike.customers import selectors as customer_selectors
from huike.customers.access import access_customer
from huike.customers.models import Customer
from huike.inbox import actions, selectors, services
from huike.inbox.forms import (
    STATUS_TABS,
    AssignForm,
    ConversationFilterForm,
    NoteForm,
    PresenceForm,
    ReplyForm,
    StatusForm,
    TagsForm,
    add_service_error,
)
from huike.inbox.models import AgentPresence, Conversation, ConversationStatus, Message
from huike.inbox.views.common import (
    THREAD_PAGE_SIZE,
    inbox_page,
    page_limit,
    template,
    wants_fragment,
)

# Query parameters of the list that are not filters.
NOT_FILTERS = frozenset({"cursor", "limit"})
# Events of the customer's timeline shown beside the thread.
SUMMARY_EVENTS = 5
SAFE_URL_SCHEMES = ("https://", "http://")
REFRESH_EVENT = "huike:inbox"
# The thread is read newest first to page back in time, and shown oldest first.
THREAD_ORDERING = ("-created_at", "-id")


def _detail_url(conversation: Conversation) -> str:
    return reverse("inbox:conversation_detail", args=[conversation.public_id])


# --- the list -------------------------------------------------------------------------------
@vary_on_headers("HX-Request")
@inbox_page
@require_GET
def conversation_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("inbox.view")
    form = ConversationFilterForm(request.GET, actor=actor)
    filters = form.to_filters()
    page = paginate(
        selectors.conversation_list(actor, filters),
        cursor=request.GET.get("cursor"),
        limit=page_limit(request),
        ordering=selectors.CONVERSATION_ORDERING,
    )
    filter_params = [
        (key, value)
        for key, values in request.GET.lists()
        if key not in NOT_FILTERS
        for value in values
    ]
    counts = selectors.status_counts(actor)
    tab_params = [(key, value) for key, value in filter_params if key != "status"]
    tabs = [
        {
            "status": status,
            "label": label,
            "count": counts.get(status),
            "query": urlencode([*tab_params, ("status", status)]),
            "current": status == filters.status,
        }
        for status, label in STATUS_TABS
    ]
    state = selectors.agent_state(actor)
    context = {
        "form": form,
        "page": page,
        "tabs": tabs,
        "filters_encoded": urlencode(filter_params),
        "presence_form": PresenceForm(
            initial={
                "presence": state.presence if state else AgentPresence.OFFLINE,
                "capacity": state.capacity if state else 10,
                "auto_assign": state.auto_assign if state else True,
            }
        )
        if actor.membership is not None
        else None,
        "realtime_enabled": True,
    }
    partial = ""
    if wants_fragment(request):
        partial = "list_rows" if request.GET.get("cursor") else "list_results"
    return render(request, template("conversation_list.html", partial), context)


@inbox_page
@require_POST
def presence_set(request: HttpRequest, actor: Actor) -> HttpResponse:
    """The agent's own availability for automatic assignment."""
    form = PresenceForm(request.POST)
    if form.is_valid():
        try:
            services.agent_presence_set(
                actor=actor,
                presence=form.cleaned_data["presence"],
                capacity=form.cleaned_data["capacity"],
                auto_assign=form.cleaned_data["auto_assign"],
            )
        except InvalidInputError as error:
            messages.error(request, error.detail)
        else:
            messages.success(request, _("Your availability is saved."))
    else:
        for errors in form.errors.values():
            messages.error(request, " ".join(str(error) for error in errors))
    return redirect("inbox:conversation_list")


# --- the conversation page ------------------------------------------------------------------
@dataclass(frozen=True)
class AttachmentView:
    name: str
    url: str  # "" when the platform gave none we can link to
    is_image: bool
    mime_type: str


def _attachments(message: Message) -> list[AttachmentView]:
    shown = []
    for item in message.attachments or []:
        if not isinstance(item, dict):
            continue
        url = str(item.get("url") or "")
        # Only web links: a javascript: or data: URL in a payload must not become a link.
        if not url.lower().startswith(SAFE_URL_SCHEMES):
            url = ""
        mime_type = str(item.get("mime_type") or "")
        kind = str(item.get("kind") or "")
        shown.append(
            AttachmentView(
                name=str(item.get("name") or item.get("media_id") or kind or _("attachment")),
                url=url,
                is_image=bool(url) and (kind == "image" or mime_type.startswith("image/")),
                mime_type=mime_type,
            )
        )
    return shown


@dataclass(frozen=True)
class MessageView:
    message: Message
    attachments: list[AttachmentView]


def _thread(
    request: HttpRequest, conversation: Conversation
) -> tuple[list[MessageView], Page[Message]]:
    page = paginate(
        selectors.conversation_messages(conversation),
        cursor=request.GET.get("before"),
        limit=THREAD_PAGE_SIZE,
        ordering=THREAD_ORDERING,
    )
    rows = [MessageView(message, _attachments(message)) for message in reversed(page.items)]
    return rows, page


@dataclass(frozen=True)
class CustomerSummary:
    customer: Customer
    contacts: customer_selectors.Contacts
    tags: list[Any]
    events: list[Any]


def _customer_summary(actor: Actor, conversation: Conversation) -> CustomerSummary | None:
    """The customer's 360 summary when the actor may see the customer, else None."""
    try:
        customer = access_customer(actor, conversation.customer.public_id)
    except (NotFoundError, PermissionDeniedError):
        return None
    return CustomerSummary(
        customer=customer,
        contacts=customer_selectors.customer_contacts([customer])[customer.pk],
        tags=customer_selectors.customer_tags([customer])[customer.pk],
        events=list(
            customer_selectors.customer_timeline(customer).order_by("-occurred_at", "-id")[
                :SUMMARY_EVENTS
            ]
        ),
    )


def _composer_context(
    actor: Actor,
    conversation: Conversation,
    *,
    reply_form: ReplyForm | None = None,
    note_form: NoteForm | None = None,
    reply_error: str = "",
    tab: str = "reply",
) -> dict[str, Any]:
    templates = selectors.composer_templates(actor, conversation)
    canned = selectors.composer_canned_replies(actor, conversation)
    members = selectors.assignable_members(actor)
    reply_form = reply_form or ReplyForm(template_choices=templates)
    # realtime.js tells the customer (website chat) that an agent is typing here.
    reply_form.fields["text"].widget.attrs["data-typing-conversation"] = str(conversation.public_id)
    return {
        "conversation": conversation,
        "can_reply": actor.has("inbox.reply"),
        "reply_form": reply_form,
        "note_form": note_form or NoteForm(members=members),
        "reply_error": reply_error,
        "canned_replies": canned,
        "canned_json": json.dumps(
            {choice.shortcut: choice.text for choice in canned}, ensure_ascii=False
        ),
        "templates_json": json.dumps(
            {str(choice.id): choice.text for choice in templates}, ensure_ascii=False
        ),
        "is_email": conversation.channel.kind == "email",
        "tab": tab,
    }


def _detail_context(
    request: HttpRequest, actor: Actor, conversation: Conversation, **composer: Any
) -> dict[str, Any]:
    rows, page = _thread(request, conversation)
    tags = selectors.conversation_tags(conversation)
    assign_form = None
    if actor.has("inbox.assign"):
        assign_form = AssignForm(
            actor=actor,
            initial={
                "assignee": str(conversation.assignee.public_id) if conversation.assignee else "",
                "team": str(conversation.team.public_id) if conversation.team else "",
            },
        )
    return {
        **_composer_context(actor, conversation, **composer),
        "rows": rows,
        "thread_page": page,
        "tags": tags,
        "tags_form": (
            TagsForm(actor=actor, initial={"tags": tags}) if actor.has("inbox.reply") else None
        ),
        "summary": _customer_summary(actor, conversation),
        "assign_form": assign_form,
        "status_form": StatusForm(initial={"status": conversation.status}),
        "can_claim": actor.has("inbox.reply")
        and actor.membership is not None
        and conversation.assignee_id is None,
        "actions": conversation_actions(actor.permissions),
        "linked_records": conversation.linked_records,
        "realtime_enabled": True,
    }


def _conversation(actor: Actor, public_id: uuid.UUID) -> Conversation:
    conversation = services.access_conversation(actor, public_id)
    loaded: Conversation = Conversation.objects.select_related(
        "channel__workspace", "customer__workspace", "identity", "assignee__user", "team"
    ).get(pk=conversation.pk)
    return loaded


@inbox_page
@require_GET
def conversation_detail(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    """The conversation; opening it marks it read."""
    conversation = _conversation(actor, public_id)
    services.conversation_mark_read(actor=actor, conversation=conversation)
    return render(
        request,
        template("conversation_detail.html"),
        _detail_context(request, actor, conversation),
    )


@vary_on_headers("HX-Request")
@inbox_page
@require_GET
def conversation_thread(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    """The thread alone, for the htmx refresh; the agent is looking at it, so it is read."""
    conversation = _conversation(actor, public_id)
    if not wants_fragment(request):
        return redirect(_detail_url(conversation))
    services.conversation_mark_read(actor=actor, conversation=conversation)
    rows, page = _thread(request, conversation)
    return render(
        request,
        template("conversation_detail.html", "thread"),
        {"conversation": conversation, "rows": rows, "thread_page": page},
    )


def _composer_response(
    request: HttpRequest,
    actor: Actor,
    conversation: Conversation,
    *,
    sent: bool,
    status: int = 200,
    **composer: Any,
) -> HttpResponse:
    """After a reply or a note: htmx gets the composer back (empty when sent, with the typed
    text and the reason otherwise) and, when sent, the refresh event; a plain form post goes
    back to the page."""
    if wants_fragment(request):
        response = render(
            request,
            template("conversation_detail.html", "composer"),
            _composer_context(actor, conversation, **composer),
        )
        if sent:
            response["HX-Trigger"] = json.dumps(
                {REFRESH_EVENT: {"conversation_id": str(conversation.public_id)}}
            )
        return response
    if sent:
        return redirect(_detail_url(conversation))
    return render(
        request,
        template("conversation_detail.html"),
        _detail_context(request, actor, conversation, **composer),
        status=status,
    )


@inbox_page
@require_POST
def conversation_reply(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("inbox.reply")
    conversation = _conversation(actor, public_id)
    form = ReplyForm(
        request.POST, template_choices=selectors.composer_templates(actor, conversation)
    )
    if not form.is_valid():
        return _composer_response(
            request, actor, conversation, sent=False, status=422, reply_form=form
        )
    text = form.cleaned_data["text"]
    platform_template = ""
    try:
        if form.cleaned_data["template"]:
            chosen = selectors.access_reply_template(conversation, form.cleaned_data["template"])
            text = text or selectors.template_rendered(actor, conversation, chosen)
            platform_template = chosen.platform_template
        services.reply_send(
            actor=actor,
            conversation=conversation,
            text=text,
            subject=form.cleaned_data["subject"],
            template=platform_template,
        )
    except InvalidInputError as error:
        add_service_error(form, error)
        return _composer_response(
            request, actor, conversation, sent=False, status=422, reply_form=form
        )
    except ConflictError as error:
        return _composer_response(
            request,
            actor,
            conversation,
            sent=False,
            status=409,
            reply_form=form,
            reply_error=error.detail,
        )
    return _composer_response(request, actor, conversation, sent=True)


@inbox_page
@require_POST
def conversation_note(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("inbox.reply")
    conversation = _conversation(actor, public_id)
    form = NoteForm(request.POST, members=selectors.assignable_members(actor))
    if form.is_valid():
        try:
            services.note_add(
                actor=actor,
                conversation=conversation,
                text=form.cleaned_data["text"],
                mentions=list(form.cleaned_data["mentions"]),
            )
        except InvalidInputError as error:
            add_service_error(form, error)
        else:
            return _composer_response(request, actor, conversation, sent=True, tab="note")
    return _composer_response(
        request, actor, conversation, sent=False, status=422, note_form=form, tab="note"
    )


@inbox_page
@require_POST
def conversation_claim(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    conversation = _conversation(actor, public_id)
    try:
        services.conversation_claim(actor=actor, conversation=conversation)
    except ConflictError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("The conversation is yours."))
    return redirect(_detail_url(conversation))


@inbox_page
@require_POST
def conversation_action(
    request: HttpRequest, actor: Actor, public_id: uuid.UUID, key: str
) -> HttpResponse:
    """An action another part registered ("Turn into a lead"): go to what it made."""
    conversation = _conversation(actor, public_id)
    try:
        url = actions.conversation_action_run(actor=actor, conversation=conversation, key=key)
    except (NotFoundError, PermissionDeniedError):
        raise
    except HuikeError as error:
        messages.error(request, error.detail)
        return redirect(_detail_url(conversation))
    return redirect(url)


@inbox_page
@require_POST
def conversation_tags(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("inbox.reply")
    conversation = _conversation(actor, public_id)
    form = TagsForm(request.POST, actor=actor)
    if not form.is_valid():
        messages.error(request, _("Choose tags from the list."))
        return redirect(_detail_url(conversation))
    services.conversation_tags_set(
        actor=actor, conversation=conversation, tags=list(form.cleaned_data["tags"])
    )
    messages.success(request, _("Tags saved."))
    return redirect(_detail_url(conversation))


@inbox_page
@require_POST
def conversation_assign(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("inbox.assign")
    conversation = _conversation(actor, public_id)
    form = AssignForm(request.POST, actor=actor)
    if not form.is_valid():
        messages.error(request, _("Choose a member or a team from the lists."))
        return redirect(_detail_url(conversation))
    assignee_id = form.cleaned_data["assignee"]
    team_id = form.cleaned_data["team"]
    try:
        assignee = lookup_membership(actor.workspace, assignee_id) if assignee_id else None
        team = lookup_team(actor.workspace, team_id) if team_id else None
        services.conversation_assign(
            actor=actor, conversation=conversation, assignee=assignee, team=team
        )
    except (NotFoundError, InvalidInputError, ConflictError) as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("Assignment saved."))
    return redirect(_detail_url(conversation))


@inbox_page
@require_POST
def conversation_status(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    conversation = _conversation(actor, public_id)
    form = StatusForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(str(error) for error in errors))
        return redirect(_detail_url(conversation))
    try:
        changed = services.conversation_set_status(
            actor=actor,
            conversation=conversation,
            status=form.cleaned_data["status"],
            snoozed_until=form.cleaned_data["snoozed_until"],
        )
    except InvalidInputError as error:
        messages.error(request, error.detail)
    else:
        messages.success(
            request,
            _("Status: %(status)s.") % {"status": ConversationStatus(changed.status).label},
        )
    return redirect(_detail_url(conversation))
