"""Idempotency-Key: a retried POST gets the first response instead of doing the work twice.

The record is inserted before the request runs; the unique constraint on (workspace,
principal, key) is what decides which of two racing requests runs, the other sees the record
still in progress (409). When the first one finishes its response is stored and replayed for
every retry with the same body; a different body under the same key is a client bug (422).
Server errors are not stored, so a retry after a 5xx runs again.

An endpoint whose response carries a secret (a new API key) marks those fields with
`idempotency_mark_secret`; they are stored, and so replayed, as null. The secret is then shown
only once, and the table never holds one for the day records are kept.
"""

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from huike.core.errors import ConflictError, InvalidInputError
from huike.core.models import IdempotencyRecord

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# How long a response is kept for replay: a day covers any sane retry schedule.
IDEMPOTENCY_TTL = timedelta(hours=24)
# A record still "in progress" after this long belongs to a request whose process died; no
# request runs this long (server timeouts are far shorter), so a retry may run again.
STALE_IN_PROGRESS_AFTER = timedelta(minutes=10)
MAX_KEY_LENGTH = 255  # IdempotencyRecord.key
PURGE_BATCH_SIZE = 1000  # short deletes, so the purge never holds long locks
# Where `idempotency_mark_secret` leaves the secret field names on the request.
SECRET_FIELDS_ATTRIBUTE = "idempotency_secret_fields"


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    content_type: str
    body: bytes


def idempotency_request_hash(*, method: str, path: str, content_type: str, body: bytes) -> str:
    """Fingerprint of a request; JSON bodies are canonical, so key order and spacing are moot."""
    canonical = body
    if content_type.split(";")[0].strip().lower() == "application/json" and body:
        try:
            canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
        except ValueError:
            canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def idempotency_mark_secret(request: HttpRequest, *fields: str) -> None:
    """Top-level fields of this request's JSON response that must never be stored for replay."""
    marked = getattr(request, SECRET_FIELDS_ATTRIBUTE, ())
    setattr(request, SECRET_FIELDS_ATTRIBUTE, (*marked, *fields))


def idempotency_secret_fields(request: HttpRequest) -> tuple[str, ...]:
    """The fields `idempotency_mark_secret` marked on this request (none by default)."""
    return tuple(getattr(request, SECRET_FIELDS_ATTRIBUTE, ()))


def idempotency_redact(*, content_type: str, body: bytes, fields: Collection[str]) -> bytes | None:
    """`body` with the top-level `fields` of its JSON object set to null, or None when a secret
    may be in it but it is no JSON object (so it cannot be redacted and must not be stored)."""
    if not fields:
        return body
    if not _is_json(content_type):
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    if not any(field in document for field in fields):
        return body  # e.g. an error response: nothing secret in it
    for field in fields:
        if field in document:
            document[field] = None
    return json.dumps(document).encode()


def idempotency_validate_key(key: str) -> None:
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise InvalidInputError(
            _("An Idempotency-Key has 1 to %(max)d characters.") % {"max": MAX_KEY_LENGTH},
            field=IDEMPOTENCY_HEADER,
        )


def _is_expired(record: IdempotencyRecord, now: datetime) -> bool:
    if record.created_at < now - IDEMPOTENCY_TTL:
        return True
    return record.status_code is None and record.created_at <= now - STALE_IN_PROGRESS_AFTER


def idempotency_begin(
    *,
    workspace_id: int,
    principal: str,
    key: str,
    request_hash: str,
    method: str,
    path: str,
) -> IdempotencyRecord | StoredResponse:
    """Claim `key` for this request, or return the response stored for it.

    Returns the new in-progress record when this request should run (finish it with
    `idempotency_complete` or `idempotency_abandon`), or the StoredResponse to replay.
    Raises InvalidInputError (422) when the key was used with another request, and
    ConflictError (409) while the first request with the key is still running.
    Commits the claim at once (call it outside any transaction), so that racing requests
    see it.
    """
    idempotency_validate_key(key)
    # Two rounds: the record found may be deleted under us (expired, or its request failed
    # with a 5xx), after which the insert is tried once more.
    for _attempt in range(2):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    workspace_id=workspace_id,
                    principal=principal,
                    key=key,
                    request_hash=request_hash,
                    method=method.upper(),
                    path=path[:512],
                )
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(
                workspace_id=workspace_id, principal=principal, key=key
            ).first()
        if existing is None:
            continue
        if _is_expired(existing, timezone.now()):
            # Delete exactly the row we judged, not one a racing request just created.
            IdempotencyRecord.objects.filter(
                pk=existing.pk, created_at=existing.created_at
            ).delete()
            continue
        if existing.request_hash != request_hash:
            raise InvalidInputError(
                _("This Idempotency-Key was already used for a different request."),
                field=IDEMPOTENCY_HEADER,
            )
        if existing.status_code is None:
            raise ConflictError(
                _("A request with this Idempotency-Key is still being processed; retry later."),
                field=IDEMPOTENCY_HEADER,
            )
        return StoredResponse(
            status_code=existing.status_code,
            content_type=existing.content_type,
            body=bytes(existing.body),
        )
    raise ConflictError(
        _("A request with this Idempotency-Key is still being processed; retry later."),
        field=IDEMPOTENCY_HEADER,
    )


def idempotency_complete(
    record: IdempotencyRecord,
    *,
    status_code: int,
    content_type: str,
    body: bytes,
    secret_fields: Collection[str] = (),
) -> None:
    """Store the response for replay, its `secret_fields` as null; a server error is dropped
    so a retry runs again."""
    stored = idempotency_redact(content_type=content_type, body=body, fields=secret_fields)
    if status_code >= 500 or stored is None:
        # A response that cannot be redacted is not kept either: better that a retry runs
        # again than that a secret sits in the table.
        idempotency_abandon(record)
        return
    record.status_code = status_code
    record.content_type = content_type[:128]
    record.body = stored
    record.save(update_fields=["status_code", "content_type", "body"])


def idempotency_abandon(record: IdempotencyRecord) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk).delete()


def idempotency_purge_expired(*, now: datetime | None = None) -> int:
    """Delete records older than IDEMPOTENCY_TTL; returns how many. Safe to run anywhere."""
    cutoff = (now or timezone.now()) - IDEMPOTENCY_TTL
    deleted = 0
    while True:
        batch = list(
            IdempotencyRecord.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[
                :PURGE_BATCH_SIZE
            ]
        )
        if not batch:
            return deleted
        deleted += IdempotencyRecord.objects.filter(pk__in=batch).delete()[0]
