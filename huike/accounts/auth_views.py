"""Signing in and out, two-factor sign-in and password reset.

Sign-in with two factors happens in two steps: the password step only remembers who is
signing in (for PENDING_SIGN_IN_SECONDS) and the code step logs them in. Every sign-in event
lands in the audit log: Django's and django-axes' own events through huike.accounts.receivers,
the two-factor and password events from here and from huike.accounts.two_factor. The user's
own security page and two-factor set-up are in huike.accounts.security_views.
"""

import math
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import django_otp
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth import views as django_auth_views
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse_lazy
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from huike.accounts.auth_forms import HuikePasswordResetForm, OneTimeCodeForm, SignInForm
from huike.accounts.client_ip import client_ip_address
from huike.accounts.models import User
from huike.accounts.receivers import audit_sign_in_event
from huike.accounts.sign_in_throttles import (
    SIGN_IN_FAILURES_PER_IP,
    password_reset_throttled,
    sign_in_blocked_until,
    sign_in_failure_count,
)
from huike.accounts.two_factor import (
    two_factor_audit_failure,
    two_factor_code_check,
    two_factor_has_confirmed_device,
    two_factor_throttle_reset,
)
from huike.core.audit import AuditAction

# Long enough to open the authenticator app, short enough that a password typed on a shared
# computer and then abandoned does not stay half-signed-in.
PENDING_SIGN_IN_SECONDS = 5 * 60
PENDING_SIGN_IN_KEY = "huike_pending_sign_in"


# --- signing in -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PendingSignIn:
    user: User
    backend: str
    next_url: str


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    """`candidate` if it stays on this site and does not lead back to signing in."""
    if (
        candidate
        and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        and not candidate.startswith(str(resolve_url("accounts:login")))
    ):
        return candidate
    return ""


def _pending_start(request: HttpRequest, user: User, next_url: str) -> None:
    # A fresh session id once the password is right, so a session id planted before this
    # point is worth nothing to whoever planted it.
    request.session.cycle_key()
    request.session[PENDING_SIGN_IN_KEY] = {
        "user_id": user.pk,
        "started_at": timezone.now().timestamp(),
        "backend": getattr(user, "backend", ""),
        "next": next_url,
    }


def _pending_load(request: HttpRequest) -> PendingSignIn | None:
    state = request.session.get(PENDING_SIGN_IN_KEY)
    if not isinstance(state, dict):
        return None
    age = timezone.now().timestamp() - float(state.get("started_at", 0))
    backend = str(state.get("backend", ""))
    user_id = state.get("user_id")
    user = (
        User.objects.filter(pk=user_id, is_active=True).first()
        if isinstance(user_id, int)
        else None
    )
    if (
        not 0 <= age <= PENDING_SIGN_IN_SECONDS
        or user is None
        or backend not in settings.AUTHENTICATION_BACKENDS
    ):
        request.session.pop(PENDING_SIGN_IN_KEY, None)
        return None
    return PendingSignIn(user=user, backend=backend, next_url=str(state.get("next", "")))


def _apply_language(response: HttpResponse, user: User) -> None:
    """Switch to the user's chosen language for this response and remember it in the cookie
    LocaleMiddleware reads, as Django's set_language view does."""
    if not user.language:
        return
    try:
        language = translation.get_supported_language_variant(user.language.lower())
    except LookupError:
        return
    translation.activate(language)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


def _finish_sign_in(
    request: HttpRequest, user: User, *, backend: str | None, device: Any | None, next_url: str
) -> HttpResponse:
    auth.login(request, user, backend=backend)
    if device is not None:
        django_otp.login(request, device)
    response = redirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))
    _apply_language(response, user)
    return response


def _sign_in_blocked_response(request: HttpRequest, until: float) -> HttpResponse:
    return render(
        request,
        settings.AXES_LOCKOUT_TEMPLATE,
        {
            # Tells the template this pause is for the whole address, not one account.
            "per_address": True,
            "failure_limit": SIGN_IN_FAILURES_PER_IP,
            "cooloff_timedelta": timedelta(seconds=math.ceil(until - time.time())),
        },
        status=429,
    )


@sensitive_post_parameters("password")
@never_cache
def login(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.method != "POST" and request.user.is_authenticated:
        return redirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))
    ip_address = client_ip_address(request)
    if request.method == "POST":
        blocked_until = sign_in_blocked_until(ip_address)
        if blocked_until is not None:
            return _sign_in_blocked_response(request, blocked_until)
    form = SignInForm(request, data=request.POST if request.method == "POST" else None)
    if form.is_bound and form.has_error(NON_FIELD_ERRORS, "invalid_login"):
        sign_in_failure_count(ip_address)
    if form.is_valid() and form.user is not None:
        user = form.user
        if two_factor_has_confirmed_device(user):
            _pending_start(request, user, next_url)
            return redirect("accounts:login_verify")
        return _finish_sign_in(request, user, backend=None, device=None, next_url=next_url)
    # A locked-out attempt also ends here; AxesMiddleware swaps this response for the
    # lockout page (accounts/locked_out.html, HTTP 429).
    return render(request, "accounts/login.html", {"form": form, "next": next_url})


@sensitive_post_parameters("code")
@never_cache
def login_verify(request: HttpRequest) -> HttpResponse:
    had_pending = PENDING_SIGN_IN_KEY in request.session
    pending = _pending_load(request)
    if pending is None:
        if had_pending:
            messages.error(request, _("That took too long. Please sign in again."))
        return redirect("accounts:login")
    form = OneTimeCodeForm(data=request.POST if request.method == "POST" else None)
    if form.is_valid():
        check = two_factor_code_check(user=pending.user, code=form.cleaned_data["code"])
        if check.device is not None:
            request.session.pop(PENDING_SIGN_IN_KEY, None)
            return _finish_sign_in(
                request,
                pending.user,
                backend=pending.backend,
                device=check.device,
                next_url=pending.next_url,
            )
        two_factor_audit_failure(request=request, user=pending.user, check=check, step="sign_in")
        form.add_error("code", check.error_message())
    return render(
        request,
        "accounts/login_verify.html",
        {
            "form": form,
            "pending_email": pending.user.email,
            "expires_minutes": PENDING_SIGN_IN_SECONDS // 60,
        },
    )


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    auth.logout(request)
    return redirect(settings.LOGOUT_REDIRECT_URL)


# --- password reset (Django's views, our templates and audit entries) ------------------------
class PasswordResetView(django_auth_views.PasswordResetView):
    form_class = HuikePasswordResetForm
    template_name = "accounts/password_reset_form.html"
    success_url = reverse_lazy("accounts:password_reset_done")

    def form_valid(self, form: HuikePasswordResetForm) -> HttpResponse:  # type: ignore[override]
        email = str(form.cleaned_data["email"]).strip().lower()
        users = list(form.get_users(email))
        throttled = password_reset_throttled(
            email=email, ip_address=client_ip_address(self.request)
        )
        # The page looks the same either way; only the audit log knows whether anyone matched
        # and whether the request was over a limit.
        if throttled:
            response: HttpResponse = HttpResponseRedirect(self.get_success_url())
        else:
            response = super().form_valid(form)
        extra = {"throttled": True} if throttled else {}
        for user in users:
            audit_sign_in_event(
                action=AuditAction.PASSWORD_RESET_REQUESTED,
                email=user.email,
                user=user,
                request=self.request,
                data=extra or None,
            )
        if not users:
            audit_sign_in_event(
                action=AuditAction.PASSWORD_RESET_REQUESTED,
                email=email,
                user=None,
                request=self.request,
                data={"known_address": False, **extra},
            )
        return response


class PasswordResetDoneView(django_auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(django_auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.user
        with transaction.atomic():
            response = super().form_valid(form)
            # The link proves control of the mailbox, which is enough to end django-otp's
            # back-off on the user's devices.
            two_factor_throttle_reset(user=user)
            audit_sign_in_event(
                action=AuditAction.PASSWORD_CHANGED,
                email=user.email,
                user=user,
                request=self.request,
                data={"via": "reset_link"},
            )
        return response


class PasswordResetCompleteView(django_auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"
