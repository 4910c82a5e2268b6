"""Signing in and out, two-factor sign-in, password reset and the user's own security page.

Sign-in with two factors happens in two steps: the password step only remembers who is
signing in (for PENDING_SIGN_IN_SECONDS) and the code step logs them in. Every sign-in event
lands in the audit log: Django's and django-axes' own events through huike.accounts.receivers,
the two-factor and password events from here.
"""

import base64
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import django_otp
import segno
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth import views as django_auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse_lazy
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from huike.accounts.auth_forms import (
    TOTP_DIGITS,
    HuikePasswordResetForm,
    OneTimeCodeForm,
    SignInForm,
    TotpConfirmForm,
)
from huike.accounts.client_ip import client_ip_address
from huike.accounts.models import User, Workspace
from huike.accounts.receivers import audit_sign_in_event
from huike.core.audit import AuditAction
from huike.core.models import AuditEntry
from huike.core.ratelimit import rate_limit_hit

# Long enough to open the authenticator app, short enough that a password typed on a shared
# computer and then abandoned does not stay half-signed-in.
PENDING_SIGN_IN_SECONDS = 5 * 60
PENDING_SIGN_IN_KEY = "huike_pending_sign_in"
# Ten single-use codes: enough to get back in for a while after losing the phone.
BACKUP_CODE_COUNT = 10
SIGN_IN_HISTORY_LIMIT = 20
# Per-address throttles on top of django-axes' per-(account, address) lock-out, which alone
# lets one address try a few passwords on every account in turn. An office behind one NAT
# address makes far fewer than 30 honest typos in 15 minutes; 30 is far too few to guess
# passwords across accounts. Only failures count; once reached, every sign-in from the
# address is refused until the window ends.
SIGN_IN_FAILURES_PER_IP = 30
SIGN_IN_FAILURE_WINDOW_SECONDS = 15 * 60
SIGN_IN_BLOCK_CACHE_PREFIX = "huike:sign-in-blocked"
# Someone whose reset e-mail did not arrive asks again a few times. More requests for one
# mailbox in an hour fill that inbox; more from one address probe for accounts or bomb many
# inboxes. Beyond either, the page looks the same but nothing is sent.
PASSWORD_RESETS_PER_EMAIL = 5
PASSWORD_RESETS_PER_IP = 20
PASSWORD_RESET_WINDOW_SECONDS = 60 * 60
# Not in AuditAction (core names only what the foundation records); same dotted style.
BACKUP_CODES_REPLACED = "auth.backup_codes_replaced"

SIGN_IN_HISTORY_LABELS = {
    AuditAction.LOGIN_SUCCEEDED: gettext_lazy("Signed in"),
    AuditAction.LOGIN_FAILED: gettext_lazy("Wrong password"),
    AuditAction.LOGIN_LOCKED_OUT: gettext_lazy("Locked out after too many attempts"),
    AuditAction.TWO_FACTOR_FAILED: gettext_lazy("Wrong two-factor code"),
}


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


# --- two-factor devices ---------------------------------------------------------------------
@dataclass(frozen=True)
class CodeCheck:
    device: Any | None  # the django-otp device that accepted the code
    retry_at: datetime | None  # set when django-otp's throttle refused to look at the code

    def error_message(self) -> str:
        if self.retry_at is None:
            return _("That code is not right. Check the app and try again.")
        seconds = max(1, math.ceil((self.retry_at - timezone.now()).total_seconds()))
        return ngettext(
            "Too many wrong codes in a row. Wait %(seconds)d second, then try again.",
            "Too many wrong codes in a row. Wait %(seconds)d seconds, then try again.",
            seconds,
        ) % {"seconds": seconds}


def two_factor_code_check(*, user: User, code: str) -> CodeCheck:
    """Check a code against the user's confirmed devices.

    Six digits go to the authenticator app, anything else to the backup codes. django-otp's
    throttle (exponential back-off per device, persisted on the device) decides whether a code
    is looked at at all, and its replay guard refuses a code that was already used. The devices
    are locked for the check so two requests cannot both use one code.
    """
    model = TOTPDevice if code.isdigit() and len(code) == TOTP_DIGITS else StaticDevice
    retry_at = None
    with transaction.atomic():
        devices = model.objects.select_for_update().filter(user=user, confirmed=True)
        for device in devices.order_by("pk"):
            allowed, details = device.verify_is_allowed()
            if not allowed:
                retry_at = (details or {}).get("locked_until")
                continue
            if device.verify_token(code):
                return CodeCheck(device=device, retry_at=None)
    return CodeCheck(device=None, retry_at=retry_at)


def two_factor_is_enabled(user: User) -> bool:
    return bool(TOTPDevice.objects.filter(user=user, confirmed=True).exists())


def _has_any_confirmed_device(user: User) -> bool:
    return bool(django_otp.user_has_device(user, confirmed=True))


def two_factor_device_unconfirmed(*, user: User) -> Any:
    """The authenticator-app device being set up, created on first use.

    Kept across page loads so the QR code does not change under someone who is scanning it.
    """
    with transaction.atomic():
        devices = list(
            TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("pk")
        )
        if devices:
            for extra in devices[1:]:
                extra.delete()
            return devices[0]
        return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def _backup_codes_issue(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    codes: list[str] = []
    while len(codes) < BACKUP_CODE_COUNT:
        token = StaticToken.random_token()
        if token not in codes:
            codes.append(token)
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


@dataclass(frozen=True)
class TwoFactorEnrollment:
    device: Any | None  # the newly confirmed device; None when the code was not accepted
    backup_codes: list[str]
    retry_at: datetime | None  # set when django-otp's throttle refused to look at the code


def two_factor_confirm(*, request: HttpRequest, user: User, code: str) -> TwoFactorEnrollment:
    """Confirm the device being set up with its first code, and issue new backup codes.

    Nothing changes when the code is wrong or throttled. Confirming replaces any earlier
    authenticator app and backup codes.
    """
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("pk")
            .first()
        )
        if device is None:
            return TwoFactorEnrollment(device=None, backup_codes=[], retry_at=None)
        allowed, details = device.verify_is_allowed()
        if not allowed:
            retry_at = (details or {}).get("locked_until")
            return TwoFactorEnrollment(device=None, backup_codes=[], retry_at=retry_at)
        if not device.verify_token(code):
            return TwoFactorEnrollment(device=None, backup_codes=[], retry_at=None)
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        codes = _backup_codes_issue(user)
        audit_sign_in_event(
            action=AuditAction.TWO_FACTOR_ENABLED,
            email=user.email,
            user=user,
            request=request,
            data={"device": "totp", "backup_codes": len(codes)},
        )
    return TwoFactorEnrollment(device=device, backup_codes=codes, retry_at=None)


def two_factor_disable(*, request: HttpRequest, user: User) -> None:
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        audit_sign_in_event(
            action=AuditAction.TWO_FACTOR_DISABLED, email=user.email, user=user, request=request
        )
    request.session.pop(django_otp.DEVICE_ID_SESSION_KEY, None)


def backup_codes_replace(*, request: HttpRequest, user: User) -> list[str]:
    with transaction.atomic():
        codes = _backup_codes_issue(user)
        audit_sign_in_event(
            action=BACKUP_CODES_REPLACED,
            email=user.email,
            user=user,
            request=request,
            data={"backup_codes": len(codes)},
        )
    return codes


def _audit_code_failure(request: HttpRequest, user: User, check: CodeCheck, step: str) -> None:
    audit_sign_in_event(
        action=AuditAction.TWO_FACTOR_FAILED,
        email=user.email,
        user=user,
        request=request,
        data={"step": step, "throttled": check.retry_at is not None},
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


def _sign_in_block_key(ip_address: str) -> str:
    return f"{SIGN_IN_BLOCK_CACHE_PREFIX}:{ip_address}"


def sign_in_blocked_until(ip_address: str | None) -> float | None:
    """When the address may sign in again (a Unix time), or None if it is not blocked."""
    if ip_address is None:
        return None
    until = cache.get(_sign_in_block_key(ip_address))
    return float(until) if isinstance(until, int | float) and until > time.time() else None


def _sign_in_failure_count(ip_address: str | None) -> None:
    if ip_address is None:
        return
    state = rate_limit_hit(
        bucket=f"sign-in-failures:{ip_address}",
        limit=SIGN_IN_FAILURES_PER_IP,
        window_seconds=SIGN_IN_FAILURE_WINDOW_SECONDS,
    )
    if state.remaining == 0:
        # The block ends with the counting window, not a fixed time after the last failure.
        cache.set(
            _sign_in_block_key(ip_address),
            time.time() + state.reset_seconds,
            timeout=state.reset_seconds,
        )


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
        _sign_in_failure_count(ip_address)
    if form.is_valid() and form.user is not None:
        user = form.user
        if _has_any_confirmed_device(user):
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
        _audit_code_failure(request, pending.user, check, "sign_in")
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
def _password_reset_throttled(request: HttpRequest, email: str) -> bool:
    """Count this request against the mailbox and the address; True when either is over."""
    # Hashed so that no address sits in the cache in clear and keys stay short and plain.
    mailbox = hashlib.sha256(email.encode()).hexdigest()
    by_email = rate_limit_hit(
        bucket=f"password-reset-email:{mailbox}",
        limit=PASSWORD_RESETS_PER_EMAIL,
        window_seconds=PASSWORD_RESET_WINDOW_SECONDS,
    )
    ip_address = client_ip_address(request)
    by_ip = (
        rate_limit_hit(
            bucket=f"password-reset-ip:{ip_address}",
            limit=PASSWORD_RESETS_PER_IP,
            window_seconds=PASSWORD_RESET_WINDOW_SECONDS,
        )
        if ip_address is not None
        else None
    )
    return by_email.exceeded or (by_ip is not None and by_ip.exceeded)


class PasswordResetView(django_auth_views.PasswordResetView):
    form_class = HuikePasswordResetForm
    template_name = "accounts/password_reset_form.html"
    success_url = reverse_lazy("accounts:password_reset_done")

    def form_valid(self, form: HuikePasswordResetForm) -> HttpResponse:  # type: ignore[override]
        email = str(form.cleaned_data["email"]).strip().lower()
        users = list(form.get_users(email))
        throttled = _password_reset_throttled(self.request, email)
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
            # back-off: it doubles with every wrong code and could otherwise keep the owner
            # of the account out for years after someone else's guessing.
            for device in django_otp.devices_for_user(user, confirmed=None):
                device.throttle_reset(commit=True)
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
        workspace__isnull=True, actor_id=user.pk, action__in=list(SIGN_IN_HISTORY_LABELS)
    ).order_by("-created_at", "-seq")[:SIGN_IN_HISTORY_LIMIT]
    return [
        SignInRow(
            created_at=entry.created_at,
            action=entry.action,
            label=str(SIGN_IN_HISTORY_LABELS[entry.action]),
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
        _audit_code_failure(request, user, check, "disable")
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
        _audit_code_failure(request, user, check, "backup_codes")
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
        _audit_code_failure(request, user, check, "verify_session")
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
