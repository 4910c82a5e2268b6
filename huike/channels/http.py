"""Talking to a platform's API: one way to build the HTTP client and to sort its failures
into retryable and permanent (huike.core.tasks)."""

from collections.abc import Mapping
from typing import Any

import httpx

from huike.channels.base import ChannelContext
from huike.core.tasks import PermanentError, RetryableError

# A platform that does not answer in this long is retried later; the worker must not hang.
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 15.0
USER_AGENT = "Huike/1.0 (+https://github.com/huike-scrm)"


def api_base_url(channel: ChannelContext, default: str) -> str:
    """The channel's configured API base URL (private deployments, proxies, tests) or the
    platform's public one, without a trailing slash."""
    return (channel.get("api_base_url") or default).rstrip("/")


def http_client(**kwargs: Any) -> httpx.Client:
    timeout = httpx.Timeout(READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS)
    headers = {"User-Agent": USER_AGENT, **kwargs.pop("headers", {})}
    return httpx.Client(timeout=timeout, headers=headers, follow_redirects=False, **kwargs)


def http_request(
    method: str,
    url: str,
    *,
    client: httpx.Client | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One request; a connection failure or timeout is a RetryableError, and so is a 429 or
    5xx answer. Other answers are returned for the caller to read (platforms often report
    errors inside a 200 body)."""
    own = client is None
    client = client or http_client()
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TimeoutException as error:
        raise RetryableError(f"{method} {_safe(url)}: timed out") from error
    except httpx.TransportError as error:
        raise RetryableError(f"{method} {_safe(url)}: {type(error).__name__}") from error
    finally:
        if own:
            client.close()
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableError(f"{method} {_safe(url)}: HTTP {response.status_code}")
    return response


def json_body(response: httpx.Response) -> Mapping[str, Any]:
    """The JSON object of an answer; PermanentError when it is not one."""
    try:
        data = response.json()
    except ValueError as error:
        raise PermanentError(f"HTTP {response.status_code}: the answer is not JSON") from error
    if not isinstance(data, dict):
        raise PermanentError(f"HTTP {response.status_code}: the answer is not a JSON object")
    return data


def _safe(url: str) -> str:
    # Access tokens travel in query strings (WeChat): never log them.
    return url.split("?", 1)[0]
