"""Two-factor sign-in devices: checking codes, setting up and removing the authenticator app,
backup codes, and ending django-otp's back-off.

A user has at most one confirmed authenticator app (django-otp TOTPDevice) and one set of
single-use backup codes (StaticDevice). Every change lands in the audit log's system chain
through huike.accounts.receivers.audit_sign_in_event, like the other sign-in events.
"""

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import django_otp
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from huike.accounts.access import Actor
from huike.accounts.auth_forms import TOTP_DIGITS
from huike.accounts.models import Membership, User
from huike.accounts.receivers import audit_sign_in_event
from huike.core.audit import AuditAction, AuditTarget, audit_record
from huike.core.errors import PermissionDeniedError

# Ten single-use codes: enough to get back in for a while after losing the phone.
BACKUP_CODE_COUNT = 10
# Not in AuditAction (core names only what the foundation records); same dotted style.
BACKUP_CODES_REPLACED = "auth.backup_codes_replaced"


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


def two_factor_audit_failure(
    *, request: HttpRequest, user: User, check: CodeCheck, step: str
) -> None:
    """Record a code that was wrong or throttled at `step` (sign_in, disable, ...)."""
    audit_sign_in_event(
        action=AuditAction.TWO_FACTOR_FAILED,
        email=user.email,
        user=user,
        request=request,
        data={"step": step, "throttled": check.retry_at is not None},
    )


def two_factor_is_enabled(user: User) -> bool:
    return bool(TOTPDevice.objects.filter(user=user, confirmed=True).exists())


def two_factor_has_confirmed_device(user: User) -> bool:
    """True when signing in needs a code: an authenticator app or backup codes."""
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


def two_factor_throttle_reset(*, user: User) -> None:
    """End django-otp's back-off on every device of the user, confirmed or not.

    For callers that have just proved control of the account another way (a password-reset
    link): the back-off doubles with every wrong code and could otherwise keep the owner of
    the account out for years after someone else's guessing.
    """
    for device in django_otp.devices_for_user(user, confirmed=None):
        device.throttle_reset(commit=True)


def two_factor_reset(*, actor: Actor | None, user: User) -> None:
    """Remove a member's authenticator app and backup codes (they lost their phone), so they
    set up two-factor sign-in again at their next sign-in.

    Two-factor sign-in belongs to the person, across every workspace they are in, so an admin
    of one workspace may reset it only for someone who is a member of theirs alone, and
    holds no permission the admin lacks; anyone else is reset by the operator from the
    command line (`actor=None`). Raises PermissionDeniedError otherwise; audited in the system
    chain and in the admin's workspace.
    """
    if actor is not None:
        actor.require("members.manage")
        memberships = list(Membership.objects.filter(user=user).select_related("role"))
        own = [m for m in memberships if m.workspace_id == actor.workspace.pk]
        if not own:
            raise PermissionDeniedError(_("No such member."))
        if len(memberships) > len(own):
            raise PermissionDeniedError(
                _(
                    "This person also belongs to other workspaces; ask the operator to reset "
                    "their two-factor sign-in (huike user reset-two-factor)."
                )
            )
        if not set(own[0].role.permissions) <= actor.permissions:
            raise PermissionDeniedError(
                _("You cannot change a member who holds permissions you do not have.")
            )
    with transaction.atomic():
        devices = [TOTPDevice.objects.filter(user=user), StaticDevice.objects.filter(user=user)]
        removed = sum(queryset.count() for queryset in devices)
        for queryset in devices:
            queryset.delete()
        data = {"reset_by": actor.label if actor else "operator", "devices_removed": removed}
        audit_sign_in_event(
            action=AuditAction.TWO_FACTOR_DISABLED,
            email=user.email,
            user=user,
            request=None,
            data=data,
        )
        if actor is not None:
            audit_record(
                workspace_id=actor.workspace.pk,
                action=AuditAction.TWO_FACTOR_DISABLED,
                actor_id=actor.user_id,
                actor_label=actor.label,
                target=AuditTarget("user", str(user.public_id)),
                data=data,
            )
