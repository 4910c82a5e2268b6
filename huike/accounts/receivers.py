"""Audit entries for sign-in events.

Django and django-axes report sign-ins only through signals, so these receivers are the one
place signals are used: they record, they never drive domain flow.
"""

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.http import HttpRequest

from huike.accounts.models import Membership, User
from huike.core.audit import AuditAction, audit_record


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return getattr(request, "axes_ip_address", None) or request.META.get("REMOTE_ADDR")


def audit_sign_in_event(
    *,
    action: str,
    email: str,
    user: User | None,
    request: HttpRequest | None,
    data: dict[str, Any] | None = None,
) -> None:
    """Record in every workspace the user belongs to, or in the system chain for strangers."""
    workspace_ids: list[int | None] = []
    if user is not None:
        workspace_ids = list(
            Membership.objects.filter(user=user, is_active=True).values_list(
                "workspace_id", flat=True
            )
        )
    for workspace_id in workspace_ids or [None]:
        audit_record(
            workspace_id=workspace_id,
            action=action,
            actor_id=user.pk if user else None,
            actor_label=email,
            ip_address=client_ip(request),
            data=data,
        )


def _on_logged_in(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    audit_sign_in_event(
        action=AuditAction.LOGIN_SUCCEEDED, email=user.email, user=user, request=request
    )


def _on_logged_out(sender: Any, request: HttpRequest, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        audit_sign_in_event(action=AuditAction.LOGOUT, email=user.email, user=user, request=request)


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
