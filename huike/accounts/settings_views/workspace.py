"""Settings page for the workspace itself: name, time zone, currency and two-factor policy."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from huike.accounts import services
from huike.accounts.access import Actor
from huike.accounts.settings_forms import (
    COMMON_CURRENCIES,
    WorkspaceSettingsForm,
    add_service_error,
)
from huike.accounts.settings_views.common import settings_page, settings_template
from huike.core.errors import ConflictError, InvalidInputError


@settings_page
@require_http_methods(["GET", "POST"])
def settings_workspace(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("workspace.manage")
    workspace = actor.workspace
    if request.method == "POST":
        form = WorkspaceSettingsForm(request.POST)
        if form.is_valid():
            try:
                services.workspace_update(
                    actor=actor, changes=services.WorkspaceChanges(**form.cleaned_data)
                )
            except (InvalidInputError, ConflictError) as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("Workspace settings saved."))
                return redirect("accounts:settings_workspace")
    else:
        form = WorkspaceSettingsForm(
            initial={
                "name": workspace.name,
                "timezone": workspace.timezone,
                "currency": workspace.currency,
                "require_two_factor": workspace.require_two_factor,
            }
        )
    return render(
        request,
        settings_template("workspace.html"),
        {"form": form, "workspace": workspace, "currencies": COMMON_CURRENCIES},
    )
