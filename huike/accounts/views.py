import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from huike.accounts.access import access_workspace_membership
from huike.accounts.middleware import SESSION_WORKSPACE_KEY
from huike.accounts.models import Membership, User
from huike.accounts.selectors import dashboard_figures, invitation_list
from huike.accounts.services import invitation_accept, invitation_decline
from huike.core.errors import NotFoundError


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User), "only for views behind login_required"
    return user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    invitations = list(invitation_list(user=_user(request)))
    if actor is None:
        return render(
            request, "accounts/no_workspace.html", {"invitations": invitations}, status=403
        )
    figures = dashboard_figures(workspace=actor.workspace) if actor.has("dashboard.view") else None
    return render(request, "accounts/home.html", {"figures": figures, "invitations": invitations})


def _own_invitation(request: HttpRequest, public_id: uuid.UUID) -> Membership:
    """Only the invited person's own pending invitation; anything else is a 404."""
    membership = invitation_list(user=_user(request)).filter(public_id=public_id).first()
    if membership is None:
        raise Http404(_("No such invitation."))
    return membership


@login_required
@require_POST
def invitation_accept_view(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    membership = _own_invitation(request, public_id)
    invitation_accept(user=_user(request), membership=membership)
    request.session[SESSION_WORKSPACE_KEY] = membership.workspace_id
    messages.success(request, _("Welcome to %(name)s.") % {"name": membership.workspace.name})
    return redirect("accounts:home")


@login_required
@require_POST
def invitation_decline_view(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    membership = _own_invitation(request, public_id)
    invitation_decline(user=_user(request), membership=membership)
    name = membership.workspace.name
    messages.success(request, _("You declined the invitation to %(name)s.") % {"name": name})
    return redirect("accounts:home")


@login_required
@require_POST
def workspace_switch(request: HttpRequest) -> HttpResponse:
    try:
        membership = access_workspace_membership(_user(request), request.POST.get("workspace", ""))
    except NotFoundError:
        messages.error(request, _("You are not a member of that workspace."))
        return redirect("accounts:home")
    request.session[SESSION_WORKSPACE_KEY] = membership.workspace_id
    messages.success(request, _("Switched to %(name)s.") % {"name": membership.workspace.name})
    next_url = request.POST.get("next", "")
    if next_url and url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        return redirect(next_url)
    return redirect("accounts:home")
