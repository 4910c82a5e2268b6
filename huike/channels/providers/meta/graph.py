"""What WhatsApp Cloud API and Messenger share: both are Meta Graph API webhooks (the
`hub.challenge` handshake, the `X-Hub-Signature-256` HMAC of the raw body) and both send
through the Graph API, which reports errors as `{"error": {"code", "message"}}`."""

import hashlib
import hmac
from collections.abc import Collection, Mapping
from typing import Any

import httpx

from huike.channels.base import ChannelContext, SignatureError, WebhookRequest, WebhookResponse
from huike.channels.http import api_base_url, http_request, json_body
from huike.core.tasks import PermanentError, RetryableError

DEFAULT_API_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"
SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="


def handshake(channel: ChannelContext, request: WebhookRequest) -> WebhookResponse | None:
    """Meta's subscription check: GET `hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`;
    the challenge is echoed only when the token is the one configured on the channel."""
    if request.method != "GET" or "hub.mode" not in request.query:
        return None
    expected = channel.get("verify_token")
    token = request.query.get("hub.verify_token", "")
    if request.query["hub.mode"] != "subscribe" or not expected:
        raise SignatureError("not a subscription request", status=403)
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise SignatureError("hub.verify_token does not match", status=403)
    return WebhookResponse(200, request.query.get("hub.challenge", "").encode())


def sign(app_secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value Meta sends for `body`."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify(channel: ChannelContext, request: WebhookRequest) -> None:
    signature = request.header(SIGNATURE_HEADER)
    if not signature:
        raise SignatureError(f"{SIGNATURE_HEADER} is missing", status=401)
    expected = sign(channel.get("app_secret"), request.body)
    if not hmac.compare_digest(signature.strip().lower().encode(), expected.encode()):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body", status=403)


def graph_url(channel: ChannelContext, path: str) -> str:
    version = channel.get("api_version", DEFAULT_API_VERSION).strip("/")
    return f"{api_base_url(channel, DEFAULT_API_BASE_URL)}/{version}/{path.lstrip('/')}"


def graph_call(
    method: str,
    url: str,
    *,
    token: str,
    retryable_codes: Collection[int],
    json: Mapping[str, Any] | None = None,
    params: Mapping[str, str] | None = None,
) -> Mapping[str, Any]:
    """One Graph API request. Rate limits are reported as a 400 with a code (the pair rate
    limit, the spam limit), so the code, not only the status, decides whether to retry."""
    response: httpx.Response = http_request(
        method,
        url,
        headers={"Authorization": f"Bearer {token}"},
        json=json,
        params=params,
    )
    if response.is_success:
        return json_body(response)
    error = _error_of(response)
    code = error.get("code")
    message = str(error.get("message") or f"HTTP {response.status_code}")
    error_data = error.get("error_data")
    details = error_data.get("details") if isinstance(error_data, dict) else None
    text = f"{message} ({details})" if details else message
    if isinstance(code, int) and code in retryable_codes:
        raise RetryableError(f"Graph API rate limit {code}: {text}")
    raise PermanentError(f"{text} [code {code}]" if code is not None else text)


def _error_of(response: httpx.Response) -> Mapping[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}
