"""Settings pages for teams: the tree (which also creates teams), one team, and deleting one."""

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from huike.accounts import selectors, services
from huike.accounts.access import Actor, access_team
from huike.accounts.settings_forms import TeamForm, add_service_error
from huike.accounts.settings_views.common import settings_page, settings_template
from huike.core.errors import ConflictError, InvalidInputError


@settings_page
@require_http_methods(["GET", "POST"])
def settings_teams(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require_any("members.view", "teams.manage")
    form = None
    if actor.has("teams.manage"):
        form = TeamForm(
            request.POST if request.method == "POST" else None, workspace=actor.workspace
        )
    if request.method == "POST":
        actor.require("teams.manage")
        assert form is not None
        if form.is_valid():
            try:
                team = services.team_create(
                    actor=actor,
                    name=form.cleaned_data["name"],
                    parent=form.cleaned_data["parent"],
                    manager=form.cleaned_data["manager"],
                )
            except (InvalidInputError, ConflictError) as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("Team %(name)s created.") % {"name": team.name})
                return redirect("accounts:settings_teams")
    return render(
        request,
        settings_template("teams.html"),
        {"teams": selectors.team_list(workspace=actor.workspace), "form": form},
    )


@settings_page
@require_http_methods(["GET", "POST"])
def settings_team(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    team = access_team(actor, public_id)
    form = None
    if actor.has("teams.manage"):
        form = TeamForm(
            request.POST if request.method == "POST" else None,
            workspace=actor.workspace,
            team=team,
            initial={"name": team.name, "parent": team.parent, "manager": team.manager},
        )
    if request.method == "POST":
        actor.require("teams.manage")
        assert form is not None
        if form.is_valid():
            parent, manager = form.cleaned_data["parent"], form.cleaned_data["manager"]
            # Only what changed is passed: the service records every manager it is given.
            try:
                services.team_update(
                    actor=actor,
                    team=team,
                    name=form.cleaned_data["name"],
                    parent=parent if parent is not None and parent.pk != team.parent_id else None,
                    clear_parent=parent is None,
                    manager=manager
                    if manager is not None and manager.pk != team.manager_id
                    else None,
                    clear_manager=manager is None and team.manager_id is not None,
                )
            except (InvalidInputError, ConflictError) as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("Team saved."))
                return redirect("accounts:settings_team", public_id=team.public_id)
    return render(
        request,
        settings_template("team_detail.html"),
        {
            "team": team,
            "form": form,
            "members": selectors.team_member_list(workspace=actor.workspace, team=team),
            "children": selectors.team_child_list(team=team),
        },
    )


@settings_page
@require_POST
def settings_team_delete(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    team = access_team(actor, public_id)
    try:
        services.team_delete(actor=actor, team=team)
    except ConflictError as error:
        messages.error(request, error.detail)
        return redirect("accounts:settings_team", public_id=team.public_id)
    messages.success(request, _("Team %(name)s deleted.") % {"name": team.name})
    return redirect("accounts:settings_teams")
