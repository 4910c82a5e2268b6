"""LinkedIn webhooks for an organization page: the `challengeCode` validation, the
`X-LI-Signature` HMAC, and organization social action notifications (comments, mentions,
likes, shares) as messages and events of the member who acted.

LinkedIn has no messaging API for organizations: nothing is sent from Huike; people are
answered on LinkedIn itself (a comment reply on the post).
"""

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huike.channels.base import (
    EVENT_OTHER,
    ChannelContext,
    ConfigField,
    ConnectionTest,
    InboundEvent,
    InboundItem,
    InboundMessage,
    IncomingDelivery,
    OutboundMessage,
    Provider,
    SendContext,
    Sender,
    SendRefused,
    SendResult,
    SignatureError,
    StoredDelivery,
    WebhookRequest,
    WebhookResponse,
)
from huike.channels.http import api_base_url, http_request, json_body
from huike.core.tasks import PermanentError, RetryableError

DEFAULT_API_BASE_URL = "https://api.linkedin.com"
# LinkedIn's versioned REST API wants a YYYYMM version; each one is served for about a year.
DEFAULT_API_VERSION = "202601"
SIGNATURE_HEADER = "X-LI-Signature"
SIGNATURE_PREFIX = "hmacsha256="
SOCIAL_ACTIONS = "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS"
PERSON_URN_PREFIX = "urn:li:person:"
# Actions whose generated activity carries text the person wrote to the organization.
MESSAGE_ACTIONS = frozenset({"COMMENT", "SHARE_MENTION"})
# ADMIN_COMMENT is the page's own admins commenting: not a customer's action.
EVENT_ACTIONS = frozenset({"LIKE", "SHARE", "COMMENT_EDIT", "COMMENT_DELETE"})


def challenge_response(client_secret: str, challenge_code: str) -> str:
    return hmac.new(client_secret.encode(), challenge_code.encode(), hashlib.sha256).hexdigest()


def signatures(client_secret: str, body: bytes) -> tuple[str, str]:
    """The two digests LinkedIn's documentation can be read to describe: of the body, and of
    `hmacsha256=` + body. Both need the client secret, so accepting either is as safe."""
    key = client_secret.encode()
    return (
        hmac.new(key, body, hashlib.sha256).hexdigest(),
        hmac.new(key, SIGNATURE_PREFIX.encode() + body, hashlib.sha256).hexdigest(),
    )


class LinkedInProvider(Provider):
    kind = "linkedin"
    label = gettext_lazy("LinkedIn page")
    description = gettext_lazy(
        "Comments and mentions on your LinkedIn page (receiving; replies are made on LinkedIn)."
    )
    default_api_base_url = DEFAULT_API_BASE_URL
    config_fields = (
        ConfigField("client_id", gettext_lazy("Client ID")),
        ConfigField("client_secret", gettext_lazy("Client secret"), secret=True, widget="password"),
        ConfigField(
            "organization_urn",
            gettext_lazy("Organization URN"),
            help_text=gettext_lazy("For example urn:li:organization:2414183."),
        ),
        ConfigField(
            "access_token",
            gettext_lazy("Access token"),
            secret=True,
            required=False,
            widget="password",
            help_text=gettext_lazy("Optional: a page admin's token, to test the connection."),
        ),
        ConfigField(
            "api_base_url",
            gettext_lazy("API base URL"),
            required=False,
            default=DEFAULT_API_BASE_URL,
            widget="url",
        ),
        ConfigField(
            "api_version",
            gettext_lazy("API version (YYYYMM)"),
            required=False,
            default=DEFAULT_API_VERSION,
        ),
    )

    def validate_config(self, config: Mapping[str, str]) -> dict[str, str]:
        urn = config.get("organization_urn", "")
        if urn and not (urn.startswith("urn:li:organization:") and urn.rsplit(":", 1)[1].isdigit()):
            return {"organization_urn": _("Enter a URN like urn:li:organization:2414183.")}
        return {}

    def handshake(self, channel: ChannelContext, request: WebhookRequest) -> WebhookResponse | None:
        """LinkedIn validates the URL (and again every 2 hours) with GET `?challengeCode=`;
        the answer proves we hold the client secret."""
        if request.method != "GET" or "challengeCode" not in request.query:
            return None
        code = request.query["challengeCode"]
        body = {
            "challengeCode": code,
            "challengeResponse": challenge_response(channel.get("client_secret"), code),
        }
        return WebhookResponse(200, json.dumps(body).encode(), "application/json")

    def verify(self, channel: ChannelContext, request: WebhookRequest) -> None:
        given = request.header(SIGNATURE_HEADER).strip().lower()
        if not given:
            raise SignatureError(f"{SIGNATURE_HEADER} is missing", status=401)
        given = given.removeprefix(SIGNATURE_PREFIX)
        candidates = signatures(channel.get("client_secret"), request.body)
        # Compare with every candidate so the time taken does not say which one matched.
        matches = [hmac.compare_digest(given.encode(), digest.encode()) for digest in candidates]
        if not any(matches):
            raise SignatureError(f"{SIGNATURE_HEADER} does not match the body", status=403)

    def deliveries(
        self, channel: ChannelContext, request: WebhookRequest
    ) -> list[IncomingDelivery]:
        payload = _load(request.body)
        if payload.get("type") != SOCIAL_ACTIONS:
            # Lead Sync (LEAD_ACTION) names only the form response, not the member: without
            # a follow-up API read there is no one to attach it to.
            return []
        organization = channel.get("organization_urn")
        found: list[IncomingDelivery] = []
        for notification in payload.get("notifications") or []:
            if notification.get("organizationalEntity") != organization:
                continue
            if "notificationId" not in notification:
                raise ValueError("a notification without notificationId")
            body = json.dumps(notification, ensure_ascii=False, sort_keys=True).encode()
            found.append(
                IncomingDelivery(str(notification["notificationId"]), body, "application/json")
            )
        return found

    def parse(self, channel: ChannelContext, delivery: StoredDelivery) -> list[InboundItem]:
        notification = _load(delivery.body)
        action = str(notification.get("action") or "")
        if action not in MESSAGE_ACTIONS | EVENT_ACTIONS:
            return []
        activity = _activity(notification)
        actor = str(
            notification.get("actor") or activity.get("owner") or activity.get("author") or ""
        )
        if not actor.startswith(PERSON_URN_PREFIX):
            # An organization acting on our page, or no actor given: not a person to track.
            return []
        sender = Sender(
            identity_kind="linkedin_id", identity_value=actor.removeprefix(PERSON_URN_PREFIX)
        )
        at = dt.datetime.fromtimestamp(int(notification["lastModifiedAt"]) / 1000, tz=dt.UTC)
        text = _text(activity)
        properties: dict[str, Any] = {
            "action": action,
            "source_post": notification.get("sourcePost"),
            "activity": notification.get("generatedActivity"),
        }
        if action in MESSAGE_ACTIONS and text:
            return [
                InboundMessage(
                    sender=sender,
                    external_id=delivery.dedupe_key,
                    sent_at=at,
                    text=text,
                    properties=properties,
                    # One conversation per post the person commented on.
                    thread_key=str(notification.get("sourcePost") or ""),
                )
            ]
        if text:
            properties["text"] = text
        return [
            InboundEvent(
                sender=sender,
                kind=EVENT_OTHER,
                external_id=delivery.dedupe_key,
                occurred_at=at,
                properties=properties,
            )
        ]

    def check_send(
        self, channel: ChannelContext, message: OutboundMessage, context: SendContext
    ) -> None:
        raise SendRefused(
            _(
                "LinkedIn has no messaging for company pages: reply to the comment on "
                "LinkedIn itself."
            )
        )

    def send(self, channel: ChannelContext, message: OutboundMessage) -> SendResult:
        raise PermanentError(
            _("LinkedIn has no messaging for company pages: reply on LinkedIn itself.")
        )

    def test_connection(self, channel: ChannelContext) -> ConnectionTest:
        token = channel.get("access_token")
        if not token:
            return ConnectionTest(
                True,
                _(
                    "Webhooks are checked with the client secret. Add an access token to "
                    "test API access."
                ),
            )
        organization_id = channel.get("organization_urn").rsplit(":", 1)[-1]
        url = f"{api_base_url(channel, DEFAULT_API_BASE_URL)}/rest/organizations/{organization_id}"
        try:
            response = http_request(
                "GET",
                url,
                headers={
                    "Authorization": f"Bearer {token}",
                    "LinkedIn-Version": channel.get("api_version", DEFAULT_API_VERSION),
                    "X-Restli-Protocol-Version": "2.0.0",
                },
            )
            data = json_body(response)
        except (PermanentError, RetryableError) as error:
            return ConnectionTest(
                False, _("LinkedIn could not be reached: %(error)s") % {"error": error}
            )
        if not response.is_success:
            return ConnectionTest(
                False, _("LinkedIn refused: %(error)s") % {"error": data.get("message") or ""}
            )
        name = data.get("localizedName") or organization_id
        return ConnectionTest(True, _("Connected to the page %(name)s.") % {"name": name})


def _load(body: bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as error:
        raise ValueError("the body is not JSON") from error
    if not isinstance(data, dict):
        raise ValueError("the body is not a JSON object")
    return data


def _activity(notification: Mapping[str, Any]) -> Mapping[str, Any]:
    """The comment or share the action created (`decoratedGeneratedActivity`)."""
    decorated = notification.get("decoratedGeneratedActivity") or {}
    for key in ("comment", "share"):
        if isinstance(decorated.get(key), dict):
            return dict(decorated[key])
    return {}


def _text(activity: Mapping[str, Any]) -> str:
    text = activity.get("text")
    if isinstance(text, dict):
        text = text.get("text")
    return str(text or activity.get("commentary") or "")
