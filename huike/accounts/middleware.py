"""Puts the acting member on the request and enforces workspace-wide rules for pages.

The workspace comes from the session (set by the switcher); a user without one lands in their
first active membership. Times are shown in the workspace's time zone.
"""

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership

SESSION_WORKSPACE_KEY = "huike_workspace_id"
# Pages a member of a workspace requiring two-factor sign-in may open before enrolling.
TWO_FACTOR_EXEMPT_PREFIXES = ("/account/", "/static/", "/i18n/", "/healthz", "/api/")


def current_membership(request: HttpRequest) -> Membership | None:
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = Membership.objects.select_related("workspace", "role", "team", "user").filter(
        user=user, is_active=True
    )
    workspace_id = request.session.get(SESSION_WORKSPACE_KEY)
    membership = None
    if workspace_id is not None:
        membership = memberships.filter(workspace_id=workspace_id).first()
    if membership is None:
        membership = memberships.order_by("created_at").first()
        if membership is not None:
            request.session[SESSION_WORKSPACE_KEY] = membership.workspace_id
    return membership


class WorkspaceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        membership = current_membership(request)
        request.actor = Actor.for_membership(membership) if membership else None  # type: ignore[attr-defined]
        if membership is not None:
            timezone.activate(zoneinfo.ZoneInfo(membership.workspace.timezone))
            if (
                membership.workspace.require_two_factor
                and not request.user.is_verified()  # type: ignore[union-attr]
                and not request.path.startswith(TWO_FACTOR_EXEMPT_PREFIXES)
            ):
                return redirect("accounts:two_factor_setup")
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
