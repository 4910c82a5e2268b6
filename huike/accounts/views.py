from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from huike.accounts.access import access_workspace_membership
from huike.accounts.middleware import SESSION_WORKSPACE_KEY
from huike.accounts.selectors import dashboard_figures
from huike.core.errors import NotFoundError


@login_required
def home(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    if actor is None:
        return render(request, "accounts/no_workspace.html", status=403)
    figures = dashboard_figures(workspace=actor.workspace) if actor.has("dashboard.view") else None
    return render(request, "accounts/home.html", {"figures": figures})


@login_required
@require_POST
def workspace_switch(request: HttpRequest) -> HttpResponse:
    try:
        membership = access_workspace_membership(request.user, request.POST.get("workspace", ""))  # type: ignore[arg-type]
    except NotFoundError:
        messages.error(request, _("You are not a member of that workspace."))
        return redirect("accounts:home")
    request.session[SESSION_WORKSPACE_KEY] = membership.workspace_id
    messages.success(request, _("Switched to %(name)s.") % {"name": membership.workspace.name})
    next_url = request.POST.get("next", "")
    if next_url and url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        return redirect(next_url)
    return redirect("accounts:home")
