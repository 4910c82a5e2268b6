import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from huike.channels.base import (
    EVENT_OTHER,
    ChannelContext,
    InboundEvent,
    InboundMessage,
    OutboundMessage,
    SendContext,
    Sender,
    SendRefused,
    SignatureError,
    StoredDelivery,
    WebhookRequest,
)
from huike.channels.providers.linkedin import PROVIDERS
from huike.channels.providers.linkedin.provider import LinkedInProvider, challenge_response
from huike.channels.testing import FakePlatform
from huike.core.tasks import PermanentError

FIXTURES = Path(__file__).parents[1] / "providers" / "linkedin" / "fixtures"
NOW = dt.datetime(2025, 6, 8, 12, 0, tzinfo=dt.UTC)
CLIENT_SECRET = "WPL_AP1.s3cr3t.Zm9v"
ORGANIZATION = "urn:li:organization:2414183"

linkedin = LinkedInProvider()


def channel(**config: str) -> ChannelContext:
    values = {
        "client_id": "86abcdefghijkl",
        "client_secret": CLIENT_SECRET,
        "organization_urn": ORGANIZATION,
        **config,
    }
    return ChannelContext(5, "ch_li", 1, "linkedin", "LinkedIn", values)


def hex_hmac(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def post(body: bytes, signature: str | None) -> WebhookRequest:
    headers = {} if signature is None else {"x-li-signature": signature}
    return WebhookRequest("POST", {}, headers, body, NOW)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse_all(name: str) -> list:
    items = []
    for delivery in linkedin.deliveries(channel(), post(fixture(name), None)):
        stored = StoredDelivery(1, delivery.dedupe_key, delivery.body, "application/json", {}, NOW)
        items.extend(linkedin.parse(channel(), stored))
    return items


def test_providers_cover_linkedin():
    assert [provider.kind for provider in PROVIDERS] == ["linkedin"]


def test_challenge_response_is_hex_hmac_of_code():
    code = "890e4665-4dfe-4ab1-b689-ed553bceeed0"
    assert challenge_response(CLIENT_SECRET, code) == hex_hmac(CLIENT_SECRET, code.encode())


def test_handshake_answers_challenge():
    # given
    code = "890e4665-4dfe-4ab1-b689-ed553bceeed0"
    request = WebhookRequest("GET", {"challengeCode": code}, {}, b"", NOW)
    # when
    response = linkedin.handshake(channel(), request)
    # then
    assert response is not None
    assert (response.status, response.content_type) == (200, "application/json")
    assert json.loads(response.body) == {
        "challengeCode": code,
        "challengeResponse": hex_hmac(CLIENT_SECRET, code.encode()),
    }


def test_handshake_with_another_secret_gives_another_answer():
    # LinkedIn checks the answer: a different secret cannot pass the validation.
    request = WebhookRequest("GET", {"challengeCode": "c0de"}, {}, b"", NOW)
    mine = json.loads(linkedin.handshake(channel(), request).body)["challengeResponse"]
    other = json.loads(linkedin.handshake(channel(client_secret="x"), request).body)
    assert mine != other["challengeResponse"]


def test_handshake_ignores_pushes():
    assert linkedin.handshake(channel(), post(b"{}", None)) is None


@pytest.mark.parametrize(
    "make_signature",
    [
        lambda body: hex_hmac(CLIENT_SECRET, body),
        lambda body: "hmacsha256=" + hex_hmac(CLIENT_SECRET, body),
        lambda body: hex_hmac(CLIENT_SECRET, b"hmacsha256=" + body),
        lambda body: "hmacsha256=" + hex_hmac(CLIENT_SECRET, b"hmacsha256=" + body),
    ],
)
def test_valid_signature_is_accepted(make_signature):
    body = fixture("social_actions.json")
    linkedin.verify(channel(), post(body, make_signature(body)))


def test_tampered_body_is_refused():
    body = fixture("social_actions.json")
    signature = hex_hmac(CLIENT_SECRET, body)
    with pytest.raises(SignatureError) as caught:
        linkedin.verify(channel(), post(body.replace(b"Shanghai", b"Beijing"), signature))
    assert caught.value.status == 403


def test_wrong_secret_is_refused():
    body = fixture("social_actions.json")
    with pytest.raises(SignatureError) as caught:
        linkedin.verify(channel(), post(body, hex_hmac("other", body)))
    assert caught.value.status == 403


def test_missing_signature_is_401():
    with pytest.raises(SignatureError) as caught:
        linkedin.verify(channel(), post(fixture("social_actions.json"), None))
    assert caught.value.status == 401


def test_notifications_become_deliveries_keyed_by_notification_id():
    body = fixture("social_actions.json")
    first = [d.dedupe_key for d in linkedin.deliveries(channel(), post(body, None))]
    again = [d.dedupe_key for d in linkedin.deliveries(channel(), post(body, None))]
    # 1005 is another organization's
    assert first == ["1001", "1002", "1003", "1004", "1006"]
    assert again == first


def test_lead_notifications_are_not_stored():
    assert linkedin.deliveries(channel(), post(fixture("lead_action.json"), None)) == []


def test_comments_mentions_and_likes_are_parsed():
    # when
    items = parse_all("social_actions.json")
    # then: the admin's own comment and an organization's comment are not customers' actions
    comment, like, mention = items
    assert comment == InboundMessage(
        sender=Sender("linkedin_id", "Ylpq-RobP9"),
        external_id="1001",
        sent_at=dt.datetime(2025, 6, 8, 20, 59, 43, tzinfo=dt.UTC),
        text="Is this available in Shanghai?",
        properties={
            "action": "COMMENT",
            "source_post": "urn:li:share:7010000000000000001",
            "activity": "urn:li:comment:(urn:li:activity:7010000000000000001,7010000000000000101)",
        },
        thread_key="urn:li:share:7010000000000000001",
    )
    assert like == InboundEvent(
        sender=Sender("linkedin_id", "Zx9-Kq2"),
        kind=EVENT_OTHER,
        external_id="1002",
        occurred_at=dt.datetime(2025, 6, 8, 20, 59, 44, tzinfo=dt.UTC),
        properties={
            "action": "LIKE",
            "source_post": "urn:li:share:7010000000000000001",
            "activity": None,
        },
    )
    assert isinstance(mention, InboundMessage)
    assert (mention.sender.identity_value, mention.text) == (
        "Mn3-Tt7",
        "Great webinar by @Huike today",
    )


def test_unreadable_body_is_value_error():
    with pytest.raises(ValueError, match="not JSON"):
        linkedin.deliveries(channel(), post(b"nope", None))


def test_replies_are_refused():
    context = SendContext(now=NOW, last_inbound_at=NOW)
    with pytest.raises(SendRefused, match="reply to the comment on LinkedIn"):
        linkedin.check_send(channel(), OutboundMessage(to="Ylpq-RobP9", text="Yes"), context)
    with pytest.raises(PermanentError, match="LinkedIn"):
        linkedin.send(channel(), OutboundMessage(to="Ylpq-RobP9", text="Yes"))


def test_organization_urn_is_validated():
    assert linkedin.validate_config({"organization_urn": ORGANIZATION}) == {}
    assert set(linkedin.validate_config({"organization_urn": "2414183"})) == {"organization_urn"}


def test_test_connection_without_token_checks_nothing_remote():
    result = linkedin.test_connection(channel())
    assert result.ok
    assert "access token" in result.message


def test_test_connection_reads_the_organization():
    with FakePlatform() as platform:
        platform.route(
            "GET",
            "/rest/organizations/2414183",
            (200, {"id": 2414183, "localizedName": "Huike Demo"}),
        )
        result = linkedin.test_connection(
            channel(api_base_url=platform.url, access_token="AQX-token")
        )
    assert result.ok
    assert result.message == "Connected to the page Huike Demo."
    headers = platform.calls[0].headers
    assert headers["authorization"] == "Bearer AQX-token"
    assert headers["linkedin-version"] == "202601"
    assert headers["x-restli-protocol-version"] == "2.0.0"


def test_test_connection_reports_refusal_and_outage():
    with FakePlatform() as platform:
        platform.route(
            "GET",
            "/rest/organizations/2414183",
            (403, {"status": 403, "message": "Not enough permissions"}),
        )
        refused = linkedin.test_connection(channel(api_base_url=platform.url, access_token="t"))
        platform.route("GET", "/rest/organizations/2414183", (500, {"message": "oops"}))
        down = linkedin.test_connection(channel(api_base_url=platform.url, access_token="t"))
    assert (refused.ok, refused.message) == (False, "LinkedIn refused: Not enough permissions")
    assert not down.ok
    assert "HTTP 500" in down.message
