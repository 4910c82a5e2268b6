"""Settings pages for members: the searchable list (which also adds people), one member, and
deactivating or reactivating a member."""

import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from huike.accounts import selectors, services
from huike.accounts.access import Actor, access_membership
from huike.accounts.settings_forms import (
    MemberAddForm,
    MemberChangeForm,
    MemberFilterForm,
    add_service_error,
)
from huike.accounts.settings_views.common import settings_page, settings_template
from huike.accounts.two_factor import two_factor_is_enabled, two_factor_reset
from huike.core.errors import ConflictError, InvalidInputError

MEMBERS_PER_PAGE = 50
# The filter form's status choice, as the selector's is_active (absent: any status).
IS_ACTIVE_BY_STATUS: dict[str, bool] = {"active": True, "inactive": False}


@vary_on_headers("HX-Request")
@settings_page
@require_http_methods(["GET", "POST"])
def settings_members(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require_any("members.view", "members.manage")
    add_form = None
    if actor.has("members.manage"):
        add_form = MemberAddForm(
            request.POST if request.method == "POST" else None, workspace=actor.workspace
        )
    if request.method == "POST":
        actor.require("members.manage")
        assert add_form is not None
        if add_form.is_valid():
            data = add_form.cleaned_data
            try:
                membership = services.member_add(
                    actor=actor,
                    email=data["email"],
                    role=data["role"],
                    team=data["team"],
                    full_name=data["full_name"],
                )
            except (InvalidInputError, ConflictError) as error:
                add_service_error(add_form, error)
            else:
                user = membership.user
                if not user.has_usable_password():
                    messages.success(
                        request,
                        _("%(email)s was added and invited to choose a password.")
                        % {"email": user.email},
                    )
                elif membership.is_pending:
                    messages.success(
                        request,
                        _(
                            "%(email)s already has an account: they are invited and join once "
                            "they accept on their home page."
                        )
                        % {"email": user.email},
                    )
                else:
                    messages.success(request, _("%(email)s was added.") % {"email": user.email})
                return redirect("accounts:settings_members")

    filter_form = MemberFilterForm(request.GET, workspace=actor.workspace)
    if filter_form.is_valid():
        cleaned = filter_form.cleaned_data
        members = selectors.membership_search(
            workspace=actor.workspace,
            query=cleaned["q"],
            role=cleaned["role"],
            team=cleaned["team"],
            is_active=IS_ACTIVE_BY_STATUS.get(cleaned["status"]),
        )
    else:
        # An invalid filter (say, a role of another workspace) narrows nothing.
        members = selectors.membership_list(workspace=actor.workspace)
    page = Paginator(members, MEMBERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        settings_template("members.html", request, "member_results"),
        {"filter_form": filter_form, "add_form": add_form, "page": page},
    )


@settings_page
@require_http_methods(["GET", "POST"])
def settings_member(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    membership = access_membership(actor, public_id)
    form = None
    if actor.has("members.manage"):
        form = MemberChangeForm(
            request.POST if request.method == "POST" else None,
            workspace=actor.workspace,
            initial={"role": membership.role, "team": membership.team},
        )
    if request.method == "POST":
        actor.require("members.manage")
        assert form is not None
        if form.is_valid():
            team = form.cleaned_data["team"]
            try:
                services.member_update(
                    actor=actor,
                    membership=membership,
                    role=form.cleaned_data["role"],
                    team=team,
                    clear_team=team is None,
                )
            except (InvalidInputError, ConflictError) as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("Member updated."))
                return redirect("accounts:settings_member", public_id=membership.public_id)
    return render(
        request,
        settings_template("member_detail.html"),
        {
            "membership": membership,
            "form": form,
            "managed_teams": selectors.team_managed_list(manager=membership),
            "has_two_factor": two_factor_is_enabled(membership.user),
        },
    )


@settings_page
@require_POST
def settings_member_status(
    request: HttpRequest, actor: Actor, public_id: uuid.UUID
) -> HttpResponse:
    membership = access_membership(actor, public_id)
    is_active = request.POST.get("active") == "true"
    try:
        services.member_update(actor=actor, membership=membership, is_active=is_active)
    except ConflictError as error:
        messages.error(request, error.detail)
    else:
        if is_active:
            messages.success(request, _("The member was reactivated."))
        else:
            messages.success(request, _("The member was deactivated."))
    return redirect("accounts:settings_member", public_id=membership.public_id)


@settings_page
@require_POST
def settings_member_two_factor_reset(
    request: HttpRequest, actor: Actor, public_id: uuid.UUID
) -> HttpResponse:
    """For a member who lost their phone: they set two-factor sign-in up again."""
    membership = access_membership(actor, public_id)
    two_factor_reset(actor=actor, user=membership.user)
    messages.success(
        request, _("Two-factor sign-in was reset; the member sets it up at the next sign-in.")
    )
    return redirect("accounts:settings_member", public_id=membership.public_id)
