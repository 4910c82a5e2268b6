"""Helpers shared by the test_auth_* modules (no tests here)."""

import time
from typing import Any

from django.core.cache import cache
from django.test import Client
from django_otp.oath import hotp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from conftest import PASSWORD
from huike.accounts.models import User, Workspace
from huike.core.models import AuditEntry

IP_HOME = "192.0.2.10"  # documentation address ranges (RFC 5737): only strings here
IP_CAFE = "198.51.100.20"


def sign_in(
    client: Client,
    email: str,
    password: str = PASSWORD,
    *,
    ip: str = IP_HOME,
    next_url: str | None = None,
    **headers: Any,
) -> Any:
    data = {"username": email, "password": password}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/account/login/", data, REMOTE_ADDR=ip, **headers)


def clear_throttles() -> None:
    """Forget the per-address sign-in and reset counters (they live in the process's cache,
    which outlives a test)."""
    cache.clear()


def totp_code(device: Any) -> str:
    """A code the device accepts now and has not accepted before.

    The device allows one time step either side of its own clock (drift included) and refuses
    steps it already used, so take the current step, or the one after the last used one.
    """
    device.refresh_from_db()
    current_step = int((time.time() - device.t0) // device.step) + device.drift
    step = max(current_step, device.last_t + 1)
    return str(hotp(device.bin_key, step, device.digits)).zfill(device.digits)


def wrong_totp_code(device: Any) -> str:
    right = {totp_code(device)}
    device.refresh_from_db()
    current_step = int((time.time() - device.t0) // device.step) + device.drift
    for offset in range(-3, 4):
        right.add(str(hotp(device.bin_key, current_step + offset, device.digits)).zfill(6))
    return next(code for code in ("000000", "111111", "222222") if code not in right)


def confirmed_totp_device(user: User) -> Any:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def backup_codes(user: User, *codes: str) -> Any:
    device = StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    for code in codes:
        StaticToken.objects.create(device=device, token=code)
    return device


def audit_actions(workspace: Workspace | None, **filters: Any) -> list[str]:
    """Actions in one chain, oldest first: a workspace's, or the system chain for None."""
    entries = AuditEntry.objects.filter(workspace=workspace, **filters).order_by("seq")
    return list(entries.values_list("action", flat=True))


def is_signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session
