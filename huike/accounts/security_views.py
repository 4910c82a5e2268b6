"""The user's own security page (password, two-factor sign-in, sign-in history) and setting up
two-factor sign-in.

WorkspaceMiddleware sends members of a workspace that requires two-factor sign-in to the set-up
page until their session is verified; the device services are in huike.accounts.two_factor.
"""

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import django_otp
import segno
from django.contrib import auth, messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django_otp.plugins.otp_static.models import StaticDevice

from huike.accounts.auth_forms import OneTimeCodeForm, TotpConfirmForm
from huike.accounts.models import User, Workspace
from huike.accounts.receivers import audit_sign_in_event
from huike.accounts.two_factor import (
    CodeCheck,
    backup_codes_replace,
    two_factor_audit_failure,
    two_factor_code_check,
    two_factor_confirm,
    two_factor_device_unconfirmed,
    two_factor_disable,
    two_factor_is_enabled,
)
from huike.core.audit import AuditAction, audit_action_label
from huike.core.models import AuditEntry

SIGN_IN_HISTORY_LIMIT = 20

SIGN_IN_HISTORY_ACTIONS = (
    AuditAction.LOGIN_SUCCEEDED,
    AuditAction.LOGIN_FAILED,
    AuditAction.LOGIN_LOCKED_OUT,
    AuditAction.TWO_FACTOR_FAILED,
)


def _signed_in_user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User), "only for views behind login_required"
    return user


def _session_is_verified(request: HttpRequest) -> bool:
    # OTPMiddleware adds is_verified(); a user object set by auth.login() in this request has
    # not been through it yet.
    is_verified = getattr(request.user, "is_verified", None)
    return bool(is_verified()) if callable(is_verified) else False


def _workspace_requiring_two_factor(request: HttpRequest) -> Workspace | None:
    actor = getattr(request, "actor", None)
    if actor is not None and actor.workspace.require_two_factor:
        workspace: Workspace = actor.workspace
        return workspace
    return None


# --- the user's own security page -----------------------------------------------------------
@dataclass(frozen=True)
class SignInRow:
    created_at: datetime
    action: str
    label: str
    ip_address: str | None
    succeeded: bool


def sign_in_history(*, user: User) -> list[SignInRow]:
    """The user's own sign-in events, newest first, from the system chain where all of a
    person's sign-in events are recorded (whichever workspace they went to)."""
    entries = AuditEntry.objects.filter(
        workspace__isnull=True, actor_id=user.pk, action__in=SIGN_IN_HISTORY_ACTIONS
    ).order_by("-created_at", "-seq")[:SIGN_IN_HISTORY_LIMIT]
    return [
        SignInRow(
            created_at=entry.created_at,
            action=entry.action,
            label=audit_action_label(entry.action),
            ip_address=entry.ip_address,
            succeeded=entry.action == AuditAction.LOGIN_SUCCEEDED,
        )
        for entry in entries
    ]


SecurityOutcome = HttpResponse | dict[str, Any]


def _security_change_password(request: HttpRequest, user: User) -> SecurityOutcome:
    form = PasswordChangeForm(user, data=request.POST, prefix="password")
    if not form.is_valid():
        return {"password_form": form}
    with transaction.atomic():
        form.save()
        audit_sign_in_event(
            action=AuditAction.PASSWORD_CHANGED,
            email=user.email,
            user=user,
            request=request,
            data={"via": "security_page"},
        )
    # Keeps this session signed in; every other session of the user ends.
    auth.update_session_auth_hash(request, user)
    messages.success(request, _("Your password has been changed."))
    return redirect("accounts:security")


def _security_disable_two_factor(request: HttpRequest, user: User) -> SecurityOutcome:
    form = OneTimeCodeForm(data=request.POST, prefix="disable")
    if not form.is_valid():
        return {"disable_form": form}
    check = two_factor_code_check(user=user, code=form.cleaned_data["code"])
    if check.device is None:
        two_factor_audit_failure(request=request, user=user, check=check, step="disable")
        form.add_error("code", check.error_message())
        return {"disable_form": form}
    two_factor_disable(request=request, user=user)
    messages.success(request, _("Two-factor sign-in is off."))
    return redirect("accounts:security")


def _security_replace_backup_codes(request: HttpRequest, user: User) -> SecurityOutcome:
    form = OneTimeCodeForm(data=request.POST, prefix="backup")
    if not form.is_valid():
        return {"backup_form": form}
    check = two_factor_code_check(user=user, code=form.cleaned_data["code"])
    if check.device is None:
        two_factor_audit_failure(request=request, user=user, check=check, step="backup_codes")
        form.add_error("code", check.error_message())
        return {"backup_form": form}
    return {"new_backup_codes": backup_codes_replace(request=request, user=user)}


SECURITY_ACTIONS: dict[str, Callable[[HttpRequest, User], SecurityOutcome]] = {
    "change_password": _security_change_password,
    "disable_two_factor": _security_disable_two_factor,
    "replace_backup_codes": _security_replace_backup_codes,
}


@login_required
@sensitive_post_parameters(
    "password-old_password",
    "password-new_password1",
    "password-new_password2",
    "disable-code",
    "backup-code",
)
def security(request: HttpRequest) -> HttpResponse:
    user = _signed_in_user(request)
    context: dict[str, Any] = {
        "password_form": PasswordChangeForm(user, prefix="password"),
        "disable_form": OneTimeCodeForm(prefix="disable"),
        "backup_form": OneTimeCodeForm(prefix="backup"),
        "new_backup_codes": [],
    }
    if request.method == "POST":
        handler = SECURITY_ACTIONS.get(request.POST.get("action", ""))
        if handler is None:
            return HttpResponseBadRequest(_("Unknown action."))
        outcome = handler(request, user)
        if isinstance(outcome, HttpResponse):
            return outcome
        context.update(outcome)
    for form_name in ("password_form", "disable_form", "backup_form"):
        # Several forms share this page; focusing one would scroll a phone past the rest.
        for field in context[form_name].fields.values():
            field.widget.attrs.pop("autofocus", None)
    static_device = StaticDevice.objects.filter(user=user, confirmed=True).first()
    context.update(
        {
            "two_factor_enabled": two_factor_is_enabled(user),
            "session_verified": _session_is_verified(request),
            "backup_codes_left": static_device.token_set.count() if static_device else 0,
            "required_by": _workspace_requiring_two_factor(request),
            "sign_ins": sign_in_history(user=user),
        }
    )
    return render(request, "accounts/security.html", context)


# --- setting up two-factor sign-in ----------------------------------------------------------
@login_required
@sensitive_post_parameters("code")
@never_cache
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Add an authenticator app, or prove this session with the one already added.

    WorkspaceMiddleware sends members of a workspace that requires two-factor sign-in here
    until their session is verified.
    """
    user = _signed_in_user(request)
    context: dict[str, Any] = {"required_by": _workspace_requiring_two_factor(request)}
    if two_factor_is_enabled(user):
        return _two_factor_verify_session(request, user, context)
    return _two_factor_enroll(request, user, context)


def _two_factor_verify_session(
    request: HttpRequest, user: User, context: dict[str, Any]
) -> HttpResponse:
    if _session_is_verified(request):
        return render(request, "accounts/two_factor_setup.html", {**context, "state": "enabled"})
    form = OneTimeCodeForm(data=request.POST if request.method == "POST" else None)
    if form.is_valid():
        check = two_factor_code_check(user=user, code=form.cleaned_data["code"])
        if check.device is not None:
            django_otp.login(request, check.device)
            messages.success(request, _("This session is verified."))
            return redirect("accounts:home")
        two_factor_audit_failure(request=request, user=user, check=check, step="verify_session")
        form.add_error("code", check.error_message())
    return render(
        request, "accounts/two_factor_setup.html", {**context, "state": "verify", "form": form}
    )


def _two_factor_enroll(request: HttpRequest, user: User, context: dict[str, Any]) -> HttpResponse:
    device = two_factor_device_unconfirmed(user=user)
    form = TotpConfirmForm(data=request.POST if request.method == "POST" else None)
    if form.is_valid():
        enrollment = two_factor_confirm(request=request, user=user, code=form.cleaned_data["code"])
        if enrollment.device is not None:
            # The code just proved this session, so it counts as verified from now on.
            django_otp.login(request, enrollment.device)
            return render(
                request,
                "accounts/two_factor_setup.html",
                {
                    **context,
                    "required_by": None,
                    "state": "done",
                    "backup_codes": enrollment.backup_codes,
                },
            )
        form.add_error("code", CodeCheck(None, enrollment.retry_at).error_message())
    return render(
        request,
        "accounts/two_factor_setup.html",
        {
            **context,
            "state": "enroll",
            "form": form,
            "qr_svg": _qr_svg(device.config_url),
            "secret": _grouped_secret(device),
        },
    )


def _qr_svg(config_url: str) -> SafeString:
    # segno draws the QR code here, so the secret never leaves the server for a QR service.
    svg = segno.make(config_url, error="m").svg_inline(
        scale=5, border=2, omitsize=True, dark="#000", light="#fff", svgclass="qr"
    )
    return mark_safe(svg)  # noqa: S308 -- markup generated by segno from our own URL


def _grouped_secret(device: Any) -> str:
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[index : index + 4] for index in range(0, len(secret), 4))
