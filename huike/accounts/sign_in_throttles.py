"""Per-address throttles on signing in and on password-reset mail, counted in the cache.

They sit on top of django-axes' per-(account, address) lock-out, which alone lets one address
try a few passwords on every account in turn.
"""

import hashlib
import time

from django.core.cache import cache

from huike.core.ratelimit import rate_limit_hit

# An office behind one NAT address makes far fewer than 30 honest typos in 15 minutes; 30 is
# far too few to guess passwords across accounts. Only failures count; once reached, every
# sign-in from the address is refused until the window ends.
SIGN_IN_FAILURES_PER_IP = 30
SIGN_IN_FAILURE_WINDOW_SECONDS = 15 * 60
SIGN_IN_BLOCK_CACHE_PREFIX = "huike:sign-in-blocked"
# Someone whose reset e-mail did not arrive asks again a few times. More requests for one
# mailbox in an hour fill that inbox; more from one address probe for accounts or bomb many
# inboxes. Beyond either, the page looks the same but nothing is sent.
PASSWORD_RESETS_PER_EMAIL = 5
PASSWORD_RESETS_PER_IP = 20
PASSWORD_RESET_WINDOW_SECONDS = 60 * 60


def _sign_in_block_key(ip_address: str) -> str:
    return f"{SIGN_IN_BLOCK_CACHE_PREFIX}:{ip_address}"


def sign_in_blocked_until(ip_address: str | None) -> float | None:
    """When the address may sign in again (a Unix time), or None if it is not blocked."""
    if ip_address is None:
        return None
    until = cache.get(_sign_in_block_key(ip_address))
    return float(until) if isinstance(until, int | float) and until > time.time() else None


def sign_in_failure_count(ip_address: str | None) -> None:
    """Count one failed sign-in from the address; the last one allowed blocks the address."""
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


def password_reset_throttled(*, email: str, ip_address: str | None) -> bool:
    """Count this request against the mailbox and the address; True when either is over."""
    # Hashed so that no address sits in the cache in clear and keys stay short and plain.
    mailbox = hashlib.sha256(email.encode()).hexdigest()
    by_email = rate_limit_hit(
        bucket=f"password-reset-email:{mailbox}",
        limit=PASSWORD_RESETS_PER_EMAIL,
        window_seconds=PASSWORD_RESET_WINDOW_SECONDS,
    )
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
