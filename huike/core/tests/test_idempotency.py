from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import RequestFactory
from freezegun import freeze_time

from huike.core.errors import ConflictError, InvalidInputError
from huike.core.idempotency import (
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_TTL,
    STALE_IN_PROGRESS_AFTER,
    StoredResponse,
    idempotency_begin,
    idempotency_complete,
    idempotency_mark_secret,
    idempotency_purge_expired,
    idempotency_request_hash,
    idempotency_secret_fields,
)
from huike.core.models import IdempotencyRecord

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BODY = b'{"name": "North", "parent": null}'


def _hash(body: bytes = BODY, path: str = "/api/v1/teams") -> str:
    return idempotency_request_hash(
        method="POST", path=path, content_type="application/json", body=body
    )


def _begin(workspace: Any, key: str = "k1", request_hash: str | None = None) -> Any:
    return idempotency_begin(
        workspace_id=workspace.pk,
        principal="api_key:test",
        key=key,
        request_hash=request_hash or _hash(),
        method="POST",
        path="/api/v1/teams",
    )


def test_finished_request_is_replayed(workspace: Any) -> None:
    # given a first request that finished with 201
    record = _begin(workspace)
    assert isinstance(record, IdempotencyRecord)
    idempotency_complete(
        record, status_code=201, content_type="application/json", body=b'{"id": 1}'
    )
    # when the same request comes again
    outcome = _begin(workspace)
    # then the stored response comes back
    assert outcome == StoredResponse(
        status_code=201, content_type="application/json", body=b'{"id": 1}'
    )
    assert IdempotencyRecord.objects.count() == 1


def test_json_key_order_and_spacing_do_not_change_the_request_hash() -> None:
    assert _hash(b'{"parent":null,"name":"North"}') == _hash(BODY)
    assert _hash(b'{"name": "South", "parent": null}') != _hash(BODY)
    assert _hash(path="/api/v1/roles") != _hash()


def test_same_key_with_another_body_is_invalid_input(workspace: Any) -> None:
    record = _begin(workspace)
    idempotency_complete(record, status_code=201, content_type="application/json", body=b"{}")
    with pytest.raises(InvalidInputError) as raised:
        _begin(workspace, request_hash=_hash(b'{"name": "South"}'))
    assert raised.value.field == IDEMPOTENCY_HEADER


def test_request_in_progress_makes_the_second_one_conflict(workspace: Any) -> None:
    # given the first request claimed the key and is still running
    _begin(workspace)
    # when a second one arrives with the same key: the unique constraint stops it
    with pytest.raises(ConflictError):
        _begin(workspace)
    assert IdempotencyRecord.objects.get().status_code is None


def test_server_error_is_not_stored_so_a_retry_runs_again(workspace: Any) -> None:
    record = _begin(workspace)
    idempotency_complete(record, status_code=503, content_type="text/plain", body=b"down")
    assert IdempotencyRecord.objects.count() == 0
    assert isinstance(_begin(workspace), IdempotencyRecord)


def test_keys_are_separate_per_principal_and_workspace(
    workspace: Any, other_workspace: Any
) -> None:
    _begin(workspace)
    other_principal = idempotency_begin(
        workspace_id=workspace.pk,
        principal="user:someone",
        key="k1",
        request_hash=_hash(),
        method="POST",
        path="/api/v1/teams",
    )
    other_tenant = _begin(other_workspace)
    assert isinstance(other_principal, IdempotencyRecord)
    assert isinstance(other_tenant, IdempotencyRecord)
    assert IdempotencyRecord.objects.count() == 3


@pytest.mark.parametrize("key", ["", "   ", "x" * 256])
def test_key_must_have_1_to_255_characters(workspace: Any, key: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        _begin(workspace, key=key)
    assert raised.value.field == IDEMPOTENCY_HEADER
    assert IdempotencyRecord.objects.count() == 0


def test_request_abandoned_mid_way_frees_the_key_after_a_while(workspace: Any) -> None:
    # given a request that claimed the key and whose process died
    with freeze_time(NOW):
        _begin(workspace)
    # when a retry comes before the stale limit, it still waits; after it, it runs
    with (
        freeze_time(NOW + STALE_IN_PROGRESS_AFTER - timedelta(seconds=1)),
        pytest.raises(ConflictError),
    ):
        _begin(workspace)
    with freeze_time(NOW + STALE_IN_PROGRESS_AFTER + timedelta(seconds=1)):
        retry = _begin(workspace)
    assert isinstance(retry, IdempotencyRecord)
    assert IdempotencyRecord.objects.count() == 1


def test_expired_record_is_not_replayed(workspace: Any) -> None:
    with freeze_time(NOW):
        record = _begin(workspace)
        idempotency_complete(record, status_code=201, content_type="application/json", body=b"1")
    with freeze_time(NOW + IDEMPOTENCY_TTL + timedelta(seconds=1)):
        outcome = _begin(workspace, request_hash=_hash(b'{"name": "Other"}'))
    assert isinstance(outcome, IdempotencyRecord)
    assert IdempotencyRecord.objects.get().request_hash == _hash(b'{"name": "Other"}')


def test_purge_deletes_records_older_than_a_day_only(workspace: Any) -> None:
    # given records made 25 h, 23 h and 1 min before now
    for key, age in [
        ("old", timedelta(hours=25)),
        ("day", timedelta(hours=23)),
        ("new", timedelta(minutes=1)),
    ]:
        with freeze_time(NOW - age):
            _begin(workspace, key=key)
    # when purging
    deleted = idempotency_purge_expired(now=NOW)
    # then only the one past 24 h is gone
    assert deleted == 1
    assert sorted(IdempotencyRecord.objects.values_list("key", flat=True)) == ["day", "new"]


def test_purge_defaults_to_the_current_time(workspace: Any) -> None:
    with freeze_time(NOW - timedelta(hours=30)):
        _begin(workspace, key="old")
    with freeze_time(NOW):
        assert idempotency_purge_expired() == 1
    assert IdempotencyRecord.objects.count() == 0


def test_secret_fields_are_stored_and_replayed_as_null(workspace: Any) -> None:
    # given a response with a secret marked as such
    record = _begin(workspace)
    idempotency_complete(
        record,
        status_code=201,
        content_type="application/json; charset=utf-8",
        body=b'{"id": "k-1", "key": "hk_ab_secret", "token": "t-2"}',
        secret_fields=("key", "token"),
    )
    # then neither secret is in the table, and a retry gets them as null
    assert b"secret" not in bytes(IdempotencyRecord.objects.get().body)
    assert _begin(workspace) == StoredResponse(
        status_code=201,
        content_type="application/json; charset=utf-8",
        body=b'{"id": "k-1", "key": null, "token": null}',
    )


def test_response_without_the_secret_fields_is_stored_unchanged(workspace: Any) -> None:
    problem = b'{"status": 422, "errors": [{"field": "role", "message": "No such role."}]}'
    record = _begin(workspace)
    idempotency_complete(
        record,
        status_code=422,
        content_type="application/problem+json",
        body=problem,
        secret_fields=("key",),
    )
    assert _begin(workspace) == StoredResponse(
        status_code=422, content_type="application/problem+json", body=problem
    )


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b"hk_ab_secret"),
        ("application/json", b"not json"),
        ("application/json", b"[]"),
    ],
)
def test_response_with_secrets_that_cannot_be_redacted_is_not_stored(
    workspace: Any, content_type: str, body: bytes
) -> None:
    # given a response marked secret that is no JSON object
    record = _begin(workspace)
    idempotency_complete(
        record, status_code=201, content_type=content_type, body=body, secret_fields=("key",)
    )
    # then nothing is kept, and a retry runs again
    assert IdempotencyRecord.objects.count() == 0
    assert isinstance(_begin(workspace), IdempotencyRecord)


def test_secret_fields_are_marked_on_the_request() -> None:
    request = RequestFactory().post("/api/v1/api-keys")
    assert idempotency_secret_fields(request) == ()
    idempotency_mark_secret(request, "key")
    idempotency_mark_secret(request, "token")
    assert idempotency_secret_fields(request) == ("key", "token")
