"""Per-key and per-user rate limits with RateLimit-* headers (fixed one-minute windows).

Time is frozen so that a run never straddles the turn of a minute.
"""

import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import resolve
from freezegun import freeze_time

from huike.accounts.models import Membership, Role, Team, Workspace
from huike.accounts.services import api_key_create
from huike.core.ratelimit import rate_limit_hit

JSON = "application/json"
# 10 s into a minute: 50 s until the window resets.
MOMENT = datetime(2026, 4, 1, 9, 30, 10, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    cache.clear()
    # Load the API before any test freezes time: pydantic cannot build schemas for the
    # datetime class freezegun substitutes while frozen.
    resolve("/api/v1/workspace")


def _key_client(workspace: Workspace, rate_limit_per_minute: int | None) -> Client:
    issued = api_key_create(
        actor=None,
        workspace=workspace,
        name="limited",
        role=Role.objects.get(workspace=workspace, key="admin"),
        rate_limit_per_minute=rate_limit_per_minute,
    )
    return Client(headers={"Authorization": f"Bearer {issued.plaintext}", "Accept-Language": "en"})


def test_fourth_request_over_a_limit_of_three_is_429(owner: Membership) -> None:
    # given a key limited to 3 requests a minute
    client = _key_client(owner.workspace, 3)
    with freeze_time(MOMENT):
        # when it makes four requests within the minute
        responses = [client.get("/api/v1/workspace") for _ in range(4)]
    # then the first three pass and count down, the fourth is refused with Retry-After
    assert [response.status_code for response in responses] == [200, 200, 200, 429]
    assert [response["RateLimit-Remaining"] for response in responses] == ["2", "1", "0", "0"]
    assert {response["RateLimit-Limit"] for response in responses} == {"3"}
    assert {response["RateLimit-Reset"] for response in responses} == {"50"}
    refused = responses[3]
    assert refused["Retry-After"] == "50"
    assert refused.json() == {
        "type": "urn:huike:problem:rate-limited",
        "title": "Too many requests",
        "status": 429,
        "detail": "Rate limit of 3 requests per minute exceeded.",
        "instance": "/api/v1/workspace",
    }


def test_refused_request_does_not_run(owner: Membership) -> None:
    client = _key_client(owner.workspace, 1)
    with freeze_time(MOMENT):
        assert client.get("/api/v1/workspace").status_code == 200
        refused = client.post("/api/v1/teams", {"name": "North"}, JSON)
    assert refused.status_code == 429
    assert Team.objects.filter(workspace=owner.workspace).count() == 0


def test_limit_resets_in_the_next_minute(owner: Membership) -> None:
    client = _key_client(owner.workspace, 1)
    with freeze_time(MOMENT) as frozen:
        assert client.get("/api/v1/workspace").status_code == 200
        assert client.get("/api/v1/workspace").status_code == 429
        frozen.move_to(MOMENT + timedelta(seconds=50))
        response = client.get("/api/v1/workspace")
    assert response.status_code == 200
    assert response["RateLimit-Remaining"] == "0"
    assert response["RateLimit-Reset"] == "60"


def test_keys_are_limited_separately(owner: Membership) -> None:
    busy = _key_client(owner.workspace, 1)
    quiet = _key_client(owner.workspace, 1)
    with freeze_time(MOMENT):
        busy.get("/api/v1/workspace")
        assert busy.get("/api/v1/workspace").status_code == 429
        assert quiet.get("/api/v1/workspace").status_code == 200


def test_key_without_its_own_limit_gets_the_server_default(
    owner: Membership, settings: Any
) -> None:
    settings.HUIKE_API_RATE_LIMIT_PER_MINUTE = 2
    client = _key_client(owner.workspace, None)
    with freeze_time(MOMENT):
        statuses = [client.get("/api/v1/workspace").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_session_user_is_limited_per_user(
    owner_client: Client, owner: Membership, settings: Any
) -> None:
    # given a server default of 2 a minute and a signed-in member
    settings.HUIKE_API_RATE_LIMIT_PER_MINUTE = 2
    with freeze_time(MOMENT):
        # when the member's browser makes three calls, from two tabs (two clients)
        second_tab = Client()
        second_tab.force_login(owner.user)
        statuses = [
            owner_client.get("/api/v1/workspace").status_code,
            second_tab.get("/api/v1/workspace").status_code,
            owner_client.get("/api/v1/workspace").status_code,
        ]
    # then the third is refused: the limit follows the user, not the client
    assert statuses == [200, 200, 429]


def test_requests_without_credentials_carry_no_rate_limit_headers(db: None) -> None:
    response = Client().get("/api/v1/workspace")
    assert response.status_code == 401
    assert "RateLimit-Limit" not in response


@pytest.mark.redis
def test_limit_counts_exactly_in_redis(settings: Any) -> None:
    # given the shared Redis cache that production uses with several web servers
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15",
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",  # apart from other runs and workers
        }
    }
    now = MOMENT.timestamp()
    # when one bucket is hit four times in a window of limit 3, and once in the next window
    states = [rate_limit_hit(bucket="api_key:x", limit=3, now=now) for _ in range(4)]
    later = rate_limit_hit(bucket="api_key:x", limit=3, now=now + 50)
    # then Redis counted exactly, and the next window starts over
    assert [(state.remaining, state.exceeded) for state in states] == [
        (2, False),
        (1, False),
        (0, False),
        (0, True),
    ]
    assert {state.reset_seconds for state in states} == {50}
    assert (later.remaining, later.exceeded, later.reset_seconds) == (2, False, 60)
