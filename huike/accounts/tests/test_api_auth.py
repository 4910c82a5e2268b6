"""Who may call the API: API keys (scoped, revocable) and browser sessions (CSRF, 2FA)."""

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import resolve
from django_otp.plugins.otp_totp.models import TOTPDevice
from freezegun import freeze_time

from huike.accounts.access import Actor
from huike.accounts.models import ApiKey, Membership, Role, Team, Workspace
from huike.accounts.services import api_key_create, api_key_revoke, team_create
from huike.core.problem import PROBLEM_CONTENT_TYPE

JSON = "application/json"
# Details are translated; assertions on their text ask for English.
EN = {"Accept-Language": "en"}


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    cache.clear()
    # Load the API before any test freezes time: pydantic cannot build schemas for the
    # datetime class freezegun substitutes while frozen.
    resolve("/api/v1/workspace")


def _key(workspace: Workspace, role_key: str = "admin") -> tuple[ApiKey, str]:
    issued = api_key_create(
        actor=None,
        workspace=workspace,
        name=f"{role_key} key",
        role=Role.objects.get(workspace=workspace, key=role_key),
    )
    return issued.api_key, issued.plaintext


def _bearer(plaintext: str, **kwargs: Any) -> Client:
    return Client(headers={"Authorization": f"Bearer {plaintext}", **EN}, **kwargs)


@pytest.fixture
def team(owner_actor: Actor) -> Team:
    return team_create(actor=owner_actor, name="North")


def test_key_of_another_workspace_never_sees_or_changes_its_objects(
    owner: Membership, member: Membership, team: Team, outsider: Membership
) -> None:
    # given an admin key of Globex and objects of Acme
    _, secret = _key(outsider.workspace)
    acme_key, _ = _key(owner.workspace)
    client = _bearer(secret)
    # when it asks for or changes Acme's objects by their ids
    responses = [
        client.get(f"/api/v1/members/{member.public_id}"),
        client.patch(f"/api/v1/members/{member.public_id}", {"is_active": False}, JSON),
        client.get(f"/api/v1/teams/{team.public_id}"),
        client.patch(f"/api/v1/teams/{team.public_id}", {"name": "Taken"}, JSON),
        client.delete(f"/api/v1/teams/{team.public_id}"),
        client.get(f"/api/v1/roles/{member.role.public_id}"),
        client.delete(f"/api/v1/roles/{member.role.public_id}"),
        client.post(f"/api/v1/api-keys/{acme_key.public_id}/revoke"),
    ]
    # then every answer is 404, as for ids that do not exist, and nothing changed
    assert [response.status_code for response in responses] == [404] * 8
    assert {response["Content-Type"].split(";")[0] for response in responses} == {
        PROBLEM_CONTENT_TYPE
    }
    member.refresh_from_db()
    team.refresh_from_db()
    acme_key.refresh_from_db()
    assert member.is_active is True
    assert team.name == "North"
    assert acme_key.revoked_at is None
    # and its lists show Globex only
    emails = [item["email"] for item in client.get("/api/v1/members").json()["items"]]
    assert emails == ["outsider@globex.test"]
    assert client.get("/api/v1/workspace").json()["slug"] == "globex"


def test_read_only_key_cannot_write(owner: Membership, member: Membership) -> None:
    # given a key with the read-only role
    _, secret = _key(owner.workspace, "read_only")
    client = _bearer(secret)
    # when it tries to create a team, add a member and change the workspace
    created = client.post("/api/v1/teams", {"name": "Sneaky"}, JSON)
    added = client.post(
        "/api/v1/members", {"email": "new@acme.test", "role": str(member.role.public_id)}, JSON
    )
    patched = client.patch("/api/v1/workspace", {"name": "Renamed"}, JSON)
    # then each is refused and nothing changed
    assert (created.status_code, added.status_code, patched.status_code) == (403, 403, 403)
    assert created.json()["title"] == "Permission denied"
    assert Team.objects.filter(workspace=owner.workspace).count() == 0
    assert Membership.objects.filter(workspace=owner.workspace).count() == 2
    assert Workspace.objects.get(pk=owner.workspace.pk).name == "Acme"


def test_revoked_key_is_rejected(owner: Membership, owner_actor: Actor) -> None:
    # given a key that worked, then was revoked
    api_key, secret = _key(owner.workspace)
    client = _bearer(secret)
    assert client.get("/api/v1/workspace").status_code == 200
    api_key_revoke(actor=owner_actor, api_key=api_key)
    # when it is used again
    response = client.get("/api/v1/workspace")
    # then it is 401 with a problem body and the bearer challenge
    assert response.status_code == 401
    assert response["Content-Type"].startswith(PROBLEM_CONTENT_TYPE)
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["detail"] == "This API key is not valid or has been revoked."


@pytest.mark.parametrize(
    "authorization",
    ["Bearer hk_nothere_secret", "Bearer ", "Basic dXNlcjpwYXNz", "hk_abc_def"],
)
def test_unknown_or_malformed_credentials_are_rejected(
    owner: Membership, authorization: str
) -> None:
    _key(owner.workspace)
    response = Client(headers={"Authorization": authorization}).get("/api/v1/workspace")
    assert response.status_code == 401
    assert response.json()["status"] == 401


def test_key_with_the_right_prefix_but_wrong_secret_is_rejected(owner: Membership) -> None:
    api_key, secret = _key(owner.workspace)
    forged = f"hk_{api_key.prefix}_{'A' * 43}"
    assert forged != secret
    assert _bearer(forged).get("/api/v1/workspace").status_code == 401


def test_request_without_credentials_is_rejected(db: None) -> None:
    response = Client().get("/api/v1/members")
    assert response.status_code == 401
    assert response.json()["type"] == "urn:huike:problem:unauthenticated"


def test_key_use_records_last_used_at(owner: Membership) -> None:
    # given a key never used
    api_key, secret = _key(owner.workspace)
    assert api_key.last_used_at is None
    # when it is used
    moment = datetime(2026, 5, 4, 10, 30, tzinfo=UTC)
    with freeze_time(moment):
        assert _bearer(secret).get("/api/v1/workspace").status_code == 200
    # then the time is recorded
    api_key.refresh_from_db()
    assert api_key.last_used_at == moment


def test_key_acts_with_its_own_role_not_its_creators(owner: Membership, owner_actor: Actor) -> None:
    # given the admin made a read-only key
    issued = api_key_create(
        actor=owner_actor,
        workspace=owner.workspace,
        name="reporting",
        role=Role.objects.get(workspace=owner.workspace, key="read_only"),
    )
    # when it lists members
    response = _bearer(issued.plaintext).get("/api/v1/members")
    # then the admin's own rights do not apply
    assert response.status_code == 403


def test_key_needs_no_csrf_token(owner: Membership) -> None:
    _, secret = _key(owner.workspace)
    client = _bearer(secret, enforce_csrf_checks=True)
    response = client.post("/api/v1/teams", {"name": "North"}, JSON)
    assert response.status_code == 201


# --- sessions -------------------------------------------------------------------------------
def test_signed_in_member_uses_the_api_with_the_session(owner_client: Client) -> None:
    response = owner_client.get("/api/v1/workspace")
    assert response.status_code == 200
    assert response.json()["slug"] == "acme"
    assert response["RateLimit-Limit"] == "600"


def test_outsider_session_cannot_read_workspace_a(
    outsider_client: Client, owner: Membership, team: Team
) -> None:
    # given a member of Globex only, signed in
    # when they ask for Acme's objects
    member_response = outsider_client.get(f"/api/v1/members/{owner.public_id}")
    team_response = outsider_client.get(f"/api/v1/teams/{team.public_id}")
    workspace_response = outsider_client.get("/api/v1/workspace")
    workspaces = outsider_client.get("/api/v1/workspaces").json()["items"]
    # then Acme is not found and their workspace is Globex
    assert (member_response.status_code, team_response.status_code) == (404, 404)
    assert workspace_response.json()["slug"] == "globex"
    assert [item["slug"] for item in workspaces] == ["globex"]


def test_session_write_needs_the_csrf_token(owner: Membership) -> None:
    # given a browser session that enforces CSRF, as real browsers get
    client = Client(enforce_csrf_checks=True, headers=EN)
    client.force_login(owner.user)
    # when it posts without the token
    refused = client.post("/api/v1/teams", {"name": "North"}, JSON)
    # then the write is refused and nothing was created
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("CSRF check failed")
    assert Team.objects.filter(workspace=owner.workspace).count() == 0
    # and with the token the docs page hands out, it works
    page = client.get("/api/v1/docs").content.decode()
    token = re.search(r'data-csrf-token="([^"]+)"', page)
    assert token is not None
    accepted = client.post(
        "/api/v1/teams", {"name": "North"}, JSON, headers={"X-CSRFToken": token.group(1)}
    )
    assert accepted.status_code == 201
    assert Team.objects.filter(workspace=owner.workspace).count() == 1


def test_session_reads_need_no_csrf_token(owner: Membership) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner.user)
    assert client.get("/api/v1/members").status_code == 200


def test_unverified_session_is_refused_when_the_workspace_requires_two_factor(
    owner: Membership, owner_client: Client
) -> None:
    # given the workspace requires two-factor sign-in and the session did not pass it
    Workspace.objects.filter(pk=owner.workspace.pk).update(require_two_factor=True)
    # when the session calls the API
    response = owner_client.get("/api/v1/workspace", headers=EN)
    # then it is refused
    assert response.status_code == 403
    assert "two-factor" in response.json()["detail"]


def test_verified_session_is_let_in_when_the_workspace_requires_two_factor(
    owner: Membership, owner_client: Client
) -> None:
    # given the session passed two-factor sign-in with a confirmed device
    Workspace.objects.filter(pk=owner.workspace.pk).update(require_two_factor=True)
    device = TOTPDevice.objects.create(user=owner.user, name="phone", confirmed=True)
    session = owner_client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    # when it calls the API, then it is let in
    assert owner_client.get("/api/v1/workspace").status_code == 200


def test_keys_are_not_subject_to_the_two_factor_rule(owner: Membership) -> None:
    # A key is a machine credential; the two-factor rule is about people signing in.
    Workspace.objects.filter(pk=owner.workspace.pk).update(require_two_factor=True)
    _, secret = _key(owner.workspace)
    assert _bearer(secret).get("/api/v1/workspace").status_code == 200


def test_session_of_a_deactivated_member_is_refused(
    member: Membership, member_client: Client
) -> None:
    Membership.objects.filter(pk=member.pk).update(is_active=False)
    response = member_client.get("/api/v1/workspace", headers=EN)
    assert response.status_code == 403
    assert response.json()["detail"] == "You are not an active member of any workspace."


def test_key_wins_over_a_session_sent_along(owner_client: Client, outsider: Membership) -> None:
    # A client that sends a key means the key, whatever cookies the browser adds.
    _, secret = _key(outsider.workspace)
    response = owner_client.get("/api/v1/workspace", headers={"Authorization": f"Bearer {secret}"})
    assert response.json()["slug"] == "globex"


def test_openapi_and_docs_need_no_credentials(db: None) -> None:
    assert Client().get("/api/v1/openapi.json").status_code == 200
    assert Client().get("/api/v1/docs").status_code == 200
