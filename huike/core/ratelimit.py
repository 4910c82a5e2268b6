"""Fixed-window counters in Django's cache, shared by every web node when the cache is Redis.

Used for the API's per-key limits and for sign-in and password-reset throttles.
"""

import math
import time
from dataclasses import dataclass

from django.core.cache import cache

RATE_CACHE_PREFIX = "huike:rate"


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    reset_seconds: int
    exceeded: bool


def rate_limit_hit(
    *, bucket: str, limit: int, window_seconds: int = 60, now: float | None = None
) -> RateLimitState:
    """Count one hit of `bucket` in the current fixed window of `window_seconds`.

    `cache.add` creates the counter only if absent and `cache.incr` is atomic (in Redis and in
    the local-memory cache), so concurrent requests on many workers count exactly.
    """
    now = time.time() if now is None else now
    window_start = int(now // window_seconds) * window_seconds
    reset_seconds = max(1, math.ceil(window_start + window_seconds - now))
    key = f"{RATE_CACHE_PREFIX}:{bucket}:{window_start}"
    # A little longer than the window, so the counter never expires while it still counts.
    timeout = window_seconds + 5
    cache.add(key, 0, timeout=timeout)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr: this request starts a fresh count
        cache.add(key, 0, timeout=timeout)
        count = cache.incr(key)
    return RateLimitState(
        limit=limit,
        remaining=max(0, limit - count),
        reset_seconds=reset_seconds,
        exceeded=count > limit,
    )
