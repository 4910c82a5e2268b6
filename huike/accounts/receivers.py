"""Audit entries for sign-in events.

Django and django-axes report sign-ins only through signals, so these receivers are the one
place signals are used: they record, they never drive domain flow.

Where an event is recorded: a person's sign-ins belong to the person, not to every workspace
that happens to list their address. Every event goes to the system chain, where the user's own
security page reads it. A successful sign-in is also recorded in the one workspace the session
lands in, and a sign-out in the workspace the session was in, so a workspace's admins see who
came and went there, and nothing of what the same person did elsewhere.
"""

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.http import HttpRequest

from huike.accounts.client_ip import client_ip_address
from huike.accounts.middleware import session_membership
from huike.accounts.models import User
from huike.core.audit import AuditAction, audit_record


def audit_sign_in_event(
    *,
    action: str,
    email: str,
    user: User | None,
    request: HttpRequest | None,
    data: dict[str, Any] | None = None,
    workspace_id: int | None = None,
) -> None:
    """Record in the system chain, and also in `workspace_id` when one is given."""
    ip_address = client_ip_address(request) if request is not None else None
    for chain_workspace_id in [None] if workspace_id is None else [None, workspace_id]:
        audit_record(
            workspace_id=chain_workspace_id,
            action=action,
            actor_id=user.pk if user else None,
            actor_label=email,
            ip_address=ip_address,
            data=data,
        )


def _session_workspace_id(request: HttpRequest, user: User) -> int | None:
    session = getattr(request, "session", None)
    if session is None:
        return None
    membership = session_membership(user=user, session=session)
    return membership.workspace_id if membership is not None else None


def _on_logged_in(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    audit_sign_in_event(
        action=AuditAction.LOGIN_SUCCEEDED,
        email=user.email,
        user=user,
        request=request,
        workspace_id=_session_workspace_id(request, user),
    )


def _on_logged_out(sender: Any, request: HttpRequest, user: User | None, **kwargs: Any) -> None:
    # Sent before the session is flushed, so it still names the workspace it was in.
    if user is not None:
        audit_sign_in_event(
            action=AuditAction.LOGOUT,
            email=user.email,
            user=user,
            request=request,
            workspace_id=_session_workspace_id(request, user),
        )


def _on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    email = str(credentials.get("username") or credentials.get("email") or "").strip().lower()
    user = User.objects.filter(email=email).first()
    audit_sign_in_event(action=AuditAction.LOGIN_FAILED, email=email, user=user, request=request)


def _on_locked_out(
    sender: Any, request: HttpRequest, username: str, ip_address: str, **kwargs: Any
) -> None:
    email = (username or "").strip().lower()
    user = User.objects.filter(email=email).first()
    audit_sign_in_event(
        action=AuditAction.LOGIN_LOCKED_OUT, email=email, user=user, request=request
    )


def connect() -> None:
    user_logged_in.connect(_on_logged_in, dispatch_uid="huike_audit_logged_in")
    user_logged_out.connect(_on_logged_out, dispatch_uid="huike_audit_logged_out")
    user_login_failed.connect(_on_login_failed, dispatch_uid="huike_audit_login_failed")
    user_locked_out.connect(_on_locked_out, dispatch_uid="huike_audit_locked_out")
