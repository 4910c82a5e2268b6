"""Settings pages of the inbox (permission inbox.configure): canned replies and how new
conversations are assigned."""

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from huike.accounts.access import Actor
from huike.core.errors import ConflictError, InvalidInputError
from huike.inbox import configure, selectors
from huike.inbox.forms import CannedReplyForm, InboxSettingsForm, add_service_error
from huike.inbox.services import inbox_settings
from huike.inbox.views.common import inbox_page, template


@inbox_page
@require_http_methods(["GET", "POST"])
def settings_canned_replies(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("inbox.configure")
    form = CannedReplyForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            configure.canned_reply_create(actor=actor, **form.cleaned_data)
        except (InvalidInputError, ConflictError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Canned reply created."))
            return redirect("inbox:settings_canned_replies")
    return render(
        request,
        template("settings/canned_replies.html"),
        {"form": form, "replies": selectors.canned_replies(actor).order_by("shortcut")},
    )


@inbox_page
@require_http_methods(["GET", "POST"])
def settings_canned_reply(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("inbox.configure")
    reply = selectors.access_canned_reply(actor, public_id)
    form = CannedReplyForm(
        request.POST if request.method == "POST" else None,
        initial={
            "shortcut": reply.shortcut,
            "title": reply.title,
            "body_zh_hans": reply.body_zh_hans,
            "body_en": reply.body_en,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            configure.canned_reply_update(actor=actor, reply=reply, **form.cleaned_data)
        except (InvalidInputError, ConflictError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Canned reply saved."))
            return redirect("inbox:settings_canned_replies")
    return render(
        request, template("settings/canned_reply_form.html"), {"form": form, "reply": reply}
    )


@inbox_page
@require_POST
def settings_canned_reply_delete(
    request: HttpRequest, actor: Actor, public_id: uuid.UUID
) -> HttpResponse:
    actor.require("inbox.configure")
    reply = selectors.access_canned_reply(actor, public_id)
    configure.canned_reply_delete(actor=actor, reply=reply)
    messages.success(request, _("Canned reply deleted."))
    return redirect("inbox:settings_canned_replies")


@inbox_page
@require_http_methods(["GET", "POST"])
def settings_assignment(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("inbox.configure")
    current = inbox_settings(actor.workspace.pk)
    form = InboxSettingsForm(
        request.POST if request.method == "POST" else None,
        initial={
            "strategy": current.strategy,
            "online_timeout_seconds": current.online_timeout_seconds,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            configure.inbox_settings_update(actor=actor, **form.cleaned_data)
        except InvalidInputError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Assignment settings saved."))
            return redirect("inbox:settings_assignment")
    return render(request, template("settings/assignment.html"), {"form": form})
