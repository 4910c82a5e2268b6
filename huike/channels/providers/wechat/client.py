"""Calling the WeChat and WeCom APIs: an access token cached across workers, one refresh when
the platform says it has expired, and errcodes sorted into retryable and permanent.

Both platforms answer HTTP 200 with `{"errcode": N, "errmsg": "…"}` for their errors, and both
invalidate a token early at times (a second token fetched elsewhere, a secret reset), so a
token error is answered by dropping the cached token and trying once more with a fresh one.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.utils.translation import gettext as _

from huike.channels.http import http_request, json_body
from huike.core.tasks import PermanentError, RetryableError

# A token is used until this long before WeChat's expires_in (7200 s): a send that started
# with a token about to expire must not reach WeChat after it has.
TOKEN_EXPIRY_MARGIN_SECONDS = 300


@dataclass(frozen=True)
class PlatformApi:
    """One app's API: where the token comes from and how the platform reports errors."""

    # "WeChat" or "WeCom": names the platform in error messages.
    platform: str
    base_url: str
    token_path: str
    token_params: Mapping[str, str]
    # Scoped by kind and app, so two channels of one app share a token (WeChat keeps one
    # valid token per app; fetching a new one for each channel would void the others).
    cache_key: str
    # errcodes that mean "this access token is invalid or expired".
    token_errcodes: frozenset[int]
    # errcodes that mean "busy or rate-limited, try later".
    retryable_errcodes: frozenset[int]

    def access_token(self) -> str:
        """The cached token, or a new one when none is cached."""
        cached = cache.get(self.cache_key)
        if isinstance(cached, str) and cached:
            return cached
        return self.refresh_token()

    def refresh_token(self) -> str:
        """Fetch a new token and cache it for the others (this checks the credentials)."""
        response = http_request("GET", self.base_url + self.token_path, params=self.token_params)
        data = self._checked(json_body(response))
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise PermanentError(
                _("%(platform)s returned no access token.") % {"platform": self.platform}
            )
        lifetime = _int(data.get("expires_in")) - TOKEN_EXPIRY_MARGIN_SECONDS
        if lifetime > 0:
            cache.set(self.cache_key, token, timeout=lifetime)
        else:
            cache.delete(self.cache_key)
        return token

    def post(self, path: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """POST `payload` as JSON with the access token; the checked answer."""
        # UTF-8 as is, as WeChat's own samples send it, not \uXXXX escapes (which double the
        # size of Chinese text).
        body = json.dumps(payload, ensure_ascii=False).encode()
        data = self._post_once(path, body)
        if _int(data.get("errcode")) in self.token_errcodes:
            self.refresh_token()
            data = self._post_once(path, body)
        return self._checked(data)

    def _post_once(self, path: str, body: bytes) -> Mapping[str, Any]:
        response = http_request(
            "POST",
            self.base_url + path,
            params={"access_token": self.access_token()},
            content=body,
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        return json_body(response)

    def _checked(self, data: Mapping[str, Any]) -> Mapping[str, Any]:
        code = _int(data.get("errcode"))
        if code == 0:
            return data
        message = str(data.get("errmsg") or "")
        if code in self.retryable_errcodes:
            raise RetryableError(f"{self.platform} errcode {code}: {message}")
        raise PermanentError(
            _("%(platform)s refused the request (error %(code)s): %(message)s")
            % {"platform": self.platform, "code": code, "message": message}
        )


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
