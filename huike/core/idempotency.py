"""Idempotency-Key: a retried POST gets the first response instead of doing the work twice.

The record is inserted before the request runs; the unique constraint on (workspace,
principal, key) is what decides which of two racing requests runs, the other sees the record
still in progress (409). When the first one finishes its response is stored and replayed for
every retry with the same body; a different body under the same key is a client bug (422).
Server errors are not stored, so a retry after a 5xx runs again.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
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
    record: IdempotencyRecord, *, status_code: int, content_type: str, body: bytes
) -> None:
    """Store the response for replay; a server error is dropped so a retry runs again."""
    if status_code >= 500:
        idempotency_abandon(record)
        return
    record.status_code = status_code
    record.content_type = content_type[:128]
    record.body = body
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
