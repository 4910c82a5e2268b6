"""Puts the acting member on the request and enforces workspace-wide rules for pages.

The workspace comes from the session (set by the switcher); a user without one lands in their
first active membership. Times are shown in the workspace's time zone.
"""

from collections.abc import Callable

from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership, User

SESSION_WORKSPACE_KEY = "huike_workspace_id"
# Pages a member of a workspace requiring two-factor sign-in may open before enrolling:
# signing in and the security pages, assets, the language switch, health checks, the API
# (API keys are not sessions; a session on the API is checked by the API itself) and the
# workspace switcher, so a member can still move to a workspace that does not require it.
TWO_FACTOR_EXEMPT_PREFIXES = (
    "/account/",
    "/static/",
    "/i18n/",
    "/healthz",
    "/api/v1/",
    "/workspace/switch/",
)


def session_membership(*, user: User, session: SessionBase) -> Membership | None:
    """The membership a session of `user` acts in: the workspace the session names if the
    user is still an active member there, else the user's first active membership. Invitations
    not yet accepted never count."""
    memberships = (
        Membership.objects.usable()
        .select_related("workspace", "role", "team", "user")
        .filter(user=user)
    )
    workspace_id = session.get(SESSION_WORKSPACE_KEY)
    membership = None
    if workspace_id is not None:
        membership = memberships.filter(workspace_id=workspace_id).first()
    if membership is None:
        membership = memberships.order_by("created_at", "pk").first()
    return membership


def current_membership(request: HttpRequest) -> Membership | None:
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        return None
    membership = session_membership(user=user, session=request.session)
    if membership is not None and request.session.get(SESSION_WORKSPACE_KEY) != (
        membership.workspace_id
    ):
        request.session[SESSION_WORKSPACE_KEY] = membership.workspace_id
    return membership


class WorkspaceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        membership = current_membership(request)
        request.actor = Actor.for_membership(membership) if membership else None  # type: ignore[attr-defined]
        if membership is not None:
            timezone.activate(membership.workspace.zone)
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
