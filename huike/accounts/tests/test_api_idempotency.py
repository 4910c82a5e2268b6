"""Idempotency-Key on POST: replay, reuse with another body, in progress, server errors."""

import json
from typing import Any

import pytest
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.urls import include, path

from huike.accounts.models import ApiKey, Membership, Role, Team, Workspace
from huike.accounts.services import api_key_create
from huike.core.audit import AuditAction
from huike.core.idempotency import idempotency_begin, idempotency_request_hash
from huike.core.models import AuditEntry, IdempotencyRecord

JSON = "application/json"
EN = {"Accept-Language": "en"}  # details are translated
BODY = {"name": "North"}

# --- a URL configuration with endpoints that fail the way servers do -----------------------
attempts: dict[str, int] = {}


def _unavailable_once(request: HttpRequest) -> HttpResponse:
    """503 on the first call, then 201: like a dependency that was briefly down."""
    attempts["unavailable"] = attempts.get("unavailable", 0) + 1
    if attempts["unavailable"] == 1:
        return HttpResponse("try again", status=503, content_type="text/plain")
    return JsonResponse({"attempt": attempts["unavailable"]}, status=201)


def _crashes_once(request: HttpRequest) -> HttpResponse:
    attempts["crash"] = attempts.get("crash", 0) + 1
    if attempts["crash"] == 1:
        raise RuntimeError("bug")
    return JsonResponse({"attempt": attempts["crash"]}, status=201)


urlpatterns = [
    path("api/v1/test/unavailable-once", _unavailable_once),
    path("api/v1/test/crashes-once", _crashes_once),
    path("", include("config.urls")),
]


@pytest.fixture(autouse=True)
def _fresh_state() -> None:
    cache.clear()
    attempts.clear()


@pytest.fixture
def admin_key(workspace: Workspace) -> tuple[ApiKey, Client]:
    issued = api_key_create(
        actor=None,
        workspace=workspace,
        name="integration",
        role=Role.objects.get(workspace=workspace, key="admin"),
    )
    return issued.api_key, Client(headers={"Authorization": f"Bearer {issued.plaintext}", **EN})


def _post(client: Client, key: str, body: dict[str, object], url: str = "/api/v1/teams") -> Any:
    return client.post(url, body, JSON, headers={"Idempotency-Key": key})


def test_retry_with_the_same_body_replays_the_first_response(
    admin_key: tuple[ApiKey, Client], workspace: Workspace
) -> None:
    _, client = admin_key
    # when the same POST is sent twice with one key
    first = _post(client, "create-north", BODY)
    second = _post(client, "create-north", BODY)
    # then the second gets the identical response, marked as replayed
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second["Content-Type"] == first["Content-Type"]
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    # and the team was created, and audited, once
    assert Team.objects.filter(workspace=workspace).count() == 1
    assert AuditEntry.objects.filter(action=AuditAction.TEAM_CREATED).count() == 1


def test_same_key_with_another_body_is_422(
    admin_key: tuple[ApiKey, Client], workspace: Workspace
) -> None:
    _, client = admin_key
    _post(client, "create-team", BODY)
    # when the key is reused for a different team
    response = _post(client, "create-team", {"name": "South"})
    # then it is refused naming the header, and South was not created
    assert response.status_code == 422
    problem = json.loads(response.content)
    assert problem["errors"] == [
        {
            "field": "Idempotency-Key",
            "message": "This Idempotency-Key was already used for a different request.",
        }
    ]
    assert list(Team.objects.filter(workspace=workspace).values_list("name", flat=True)) == [
        "North"
    ]


def test_same_key_on_another_endpoint_is_422(admin_key: tuple[ApiKey, Client]) -> None:
    _, client = admin_key
    _post(client, "k", BODY)
    response = _post(client, "k", {"name": "x", "permissions": []}, url="/api/v1/roles")
    assert response.status_code == 422
    assert not Role.objects.filter(key="x").exists()


def test_request_while_the_first_is_still_running_is_409(
    admin_key: tuple[ApiKey, Client], workspace: Workspace
) -> None:
    # given the first request with this key has claimed it and not finished
    api_key, client = admin_key
    idempotency_begin(
        workspace_id=workspace.pk,
        principal=f"api_key:{api_key.public_id}",
        key="slow",
        request_hash=idempotency_request_hash(
            method="POST",
            path="/api/v1/teams",
            content_type=JSON,
            body=json.dumps(BODY).encode(),
        ),
        method="POST",
        path="/api/v1/teams",
    )
    # when the retry arrives
    response = _post(client, "slow", BODY)
    # then it is told to wait and does not run
    assert response.status_code == 409
    assert Team.objects.filter(workspace=workspace).count() == 0


def test_server_error_is_not_stored_and_the_retry_runs(
    admin_key: tuple[ApiKey, Client], settings: Any
) -> None:
    settings.ROOT_URLCONF = __name__
    _, client = admin_key
    # when the first attempt fails with 503 and the client retries with the same key
    first = _post(client, "k", BODY, url="/api/v1/test/unavailable-once")
    second = _post(client, "k", BODY, url="/api/v1/test/unavailable-once")
    third = _post(client, "k", BODY, url="/api/v1/test/unavailable-once")
    # then the retry ran for real, and only its success is replayed afterwards
    assert first.status_code == 503
    assert first["Content-Type"].startswith("application/problem+json")
    assert (second.status_code, json.loads(second.content)) == (201, {"attempt": 2})
    assert (third.status_code, json.loads(third.content)) == (201, {"attempt": 2})
    assert third["Idempotent-Replayed"] == "true"
    assert attempts["unavailable"] == 2


def test_crash_is_not_stored_and_the_retry_runs(workspace: Workspace, settings: Any) -> None:
    settings.ROOT_URLCONF = __name__
    issued = api_key_create(
        actor=None,
        workspace=workspace,
        name="k",
        role=Role.objects.get(workspace=workspace, key="admin"),
    )
    client = Client(
        headers={"Authorization": f"Bearer {issued.plaintext}"}, raise_request_exception=False
    )
    first = _post(client, "k", BODY, url="/api/v1/test/crashes-once")
    second = _post(client, "k", BODY, url="/api/v1/test/crashes-once")
    assert first.status_code == 500
    assert second.status_code == 201
    assert IdempotencyRecord.objects.get().status_code == 201


def test_client_errors_are_replayed_too(admin_key: tuple[ApiKey, Client]) -> None:
    # A 4xx is the answer to that request; running it again would give the same answer.
    _, client = admin_key
    first = _post(client, "bad", {"name": ""})
    second = _post(client, "bad", {"name": ""})
    assert first.status_code == second.status_code == 422
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"


def test_keys_of_different_callers_do_not_collide(
    admin_key: tuple[ApiKey, Client],
    workspace: Workspace,
    owner_client: Client,
    owner: Membership,
) -> None:
    _, client = admin_key
    _post(client, "same", BODY)
    response = _post(owner_client, "same", {"name": "South"})
    assert response.status_code == 201
    assert Team.objects.filter(workspace=workspace).count() == 2


def test_session_posts_are_idempotent_too(owner_client: Client, owner: Membership) -> None:
    first = _post(owner_client, "form-submit", BODY)
    second = _post(owner_client, "form-submit", BODY)
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert Team.objects.filter(workspace=owner.workspace).count() == 1


def test_posts_without_the_header_are_not_recorded(admin_key: tuple[ApiKey, Client]) -> None:
    _, client = admin_key
    client.post("/api/v1/teams", BODY, JSON)
    assert IdempotencyRecord.objects.count() == 0


def test_overlong_key_is_422(admin_key: tuple[ApiKey, Client], workspace: Workspace) -> None:
    _, client = admin_key
    response = _post(client, "x" * 256, BODY)
    assert response.status_code == 422
    assert json.loads(response.content)["errors"][0]["field"] == "Idempotency-Key"
    assert Team.objects.filter(workspace=workspace).count() == 0


def test_retried_key_creation_replays_without_the_secret(
    admin_key: tuple[ApiKey, Client], workspace: Workspace
) -> None:
    _, client = admin_key
    read_only = Role.objects.get(workspace=workspace, key="read_only")
    body = {"name": "BI export", "role": str(read_only.public_id)}
    # when a key is created with an Idempotency-Key, and the request is retried
    first = _post(client, "new-key", body, url="/api/v1/api-keys")
    second = _post(client, "new-key", body, url="/api/v1/api-keys")
    # then the first response has the secret, which authenticates
    assert first.status_code == 201
    plaintext = json.loads(first.content)["key"]
    assert plaintext.startswith("hk_")
    new_key = Client(headers={"Authorization": f"Bearer {plaintext}"})
    assert new_key.get("/api/v1/workspace").status_code == 200
    # and the stored response has it as null, nowhere else
    record = IdempotencyRecord.objects.get(key="new-key")
    stored = json.loads(bytes(record.body))
    assert stored["key"] is None
    assert plaintext.encode() not in bytes(record.body)
    # and the retry replays that: the same key, without the secret
    assert second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    replayed = json.loads(second.content)
    assert replayed["key"] is None
    assert replayed == {**json.loads(first.content), "key": None}
    assert ApiKey.objects.filter(workspace=workspace, name="BI export").count() == 1


def test_refused_key_creation_is_replayed_as_it_was(
    admin_key: tuple[ApiKey, Client], workspace: Workspace, other_workspace: Workspace
) -> None:
    # An error response has no secret in it: it is stored and replayed unchanged.
    _, client = admin_key
    foreign = Role.objects.get(workspace=other_workspace, key="read_only")
    body = {"name": "x", "role": str(foreign.public_id)}
    first = _post(client, "bad-key", body, url="/api/v1/api-keys")
    second = _post(client, "bad-key", body, url="/api/v1/api-keys")
    assert first.status_code == second.status_code == 422
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert ApiKey.objects.filter(workspace=workspace).count() == 1
