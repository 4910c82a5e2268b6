"""Personal-data key status and rotation, on top of huike.core.crypto.

- `keys_status`: each workspace's key versions and how many rows of each encrypted column each
  encryption key version holds.
- `keys_rotate`: new data key versions, every registered column re-encrypted in batches without
  downtime, resumable after a crash.
- `keys_rewrap`: every data key wrapped under the current master key (master-key rotation).

All three serve `huike keys status|rotate|rewrap` (huike.core.management.commands.keys).
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from huike.core.audit import AuditAction, AuditTarget, audit_record
from huike.core.crypto import (
    ENCRYPTION,
    INDEX,
    DecryptionError,
    EncryptedColumn,
    MasterKeyError,
    WorkspaceKeys,
    datakey_unwrap,
    datakey_wrap,
    encrypted_columns,
    index_header,
    index_header_version,
    index_version,
    keys_cache_clear,
    master_keys,
    token_header,
    token_header_version,
    workspace_keys,
)
from huike.core.errors import InvalidInputError
from huike.core.models import DataKey

# Rows re-encrypted per transaction: long enough that round trips do not dominate, short
# enough that the row locks a batch takes are held for milliseconds and memory stays flat.
ROTATION_BATCH_SIZE = 500
# Writers that loaded their keys before a rotation began may still add rows under the old
# versions while it runs; each further pass picks those up. Rows written after the last pass
# stay readable and findable (retired keys still decrypt, lookups match every index key) and
# the next rotation moves them; `huike keys status` counts them.
ROTATION_MAX_PASSES = 3
# How many failed rows a rotation report lists (all are counted).
ROTATION_FAILURES_LISTED = 100
# Keys re-wrapped per transaction; the rows are tiny, this only bounds the lock set.
REWRAP_BATCH_SIZE = 200

SYSTEM_ACTOR = "system"


# --- status ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnVersions:
    label: str
    # Rows per encryption key version; None counts tokens too malformed to name a version.
    rows_by_version: dict[int | None, int]
    # Rows per index key version of their blind index (empty for a column without one); None
    # counts indexes that name no version (missing, or from before indexes carried one).
    index_rows_by_version: dict[int | None, int] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkspaceKeyStatus:
    workspace_id: int
    keys: list[DataKey]
    columns: list[ColumnVersions]


def keys_status(*, workspace_ids: Sequence[int]) -> list[WorkspaceKeyStatus]:
    """Each workspace's key versions and, per registered column, its rows per key version.

    One query for the keys and one grouped query per column (a scan of the column).
    """
    keys: dict[int, list[DataKey]] = {workspace_id: [] for workspace_id in workspace_ids}
    for row in DataKey.objects.filter(workspace_id__in=workspace_ids).order_by(
        "workspace_id", "purpose", "version"
    ):
        keys[row.workspace_id].append(row)
    counts: dict[tuple[int, str], dict[int | None, int]] = {}
    index_counts: dict[tuple[int, str], dict[int | None, int]] = {}
    columns = encrypted_columns()
    for column in columns:
        workspace_attname = column.workspace_attname
        rows = column.model._default_manager.filter(
            **{
                f"{workspace_attname}__in": workspace_ids,
                f"{column.ciphertext_field}__isnull": False,
            }
        )
        _count_versions(
            rows,
            workspace_attname,
            column.header_expression(),
            token_header_version,
            counts,
            column.label,
        )
        if column.index_field:
            _count_versions(
                rows,
                workspace_attname,
                column.index_header_expression(),
                index_header_version,
                index_counts,
                column.label,
            )
    return [
        WorkspaceKeyStatus(
            workspace_id=workspace_id,
            keys=keys[workspace_id],
            columns=[
                ColumnVersions(
                    label=column.label,
                    rows_by_version=_sorted_versions(counts, workspace_id, column.label),
                    index_rows_by_version=_sorted_versions(
                        index_counts, workspace_id, column.label
                    ),
                )
                for column in columns
            ],
        )
        for workspace_id in workspace_ids
    ]


def _count_versions(
    rows: QuerySet[Any],
    workspace_attname: str,
    expression: Any,
    version_of: Callable[[bytes], int | None],
    counts: dict[tuple[int, str], dict[int | None, int]],
    label: str,
) -> None:
    grouped = (
        rows.annotate(huike_header=expression)
        .values(workspace_attname, "huike_header")
        .annotate(rows=Count("pk"))
        .order_by()
    )
    for item in grouped:
        version = version_of(bytes(item["huike_header"] or b""))
        per_version = counts.setdefault((item[workspace_attname], label), {})
        per_version[version] = per_version.get(version, 0) + item["rows"]


def _sorted_versions(
    counts: dict[tuple[int, str], dict[int | None, int]], workspace_id: int, label: str
) -> dict[int | None, int]:
    return dict(
        sorted(
            counts.get((workspace_id, label), {}).items(),
            key=lambda item: -1 if item[0] is None else item[0],
        )
    )


# --- rotation -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RowFailure:
    column: str
    pk: str
    reason: str


@dataclass(frozen=True)
class RotationProgress:
    """Handed to `on_batch` after each committed batch."""

    workspace_id: int
    column: str
    rows: int
    reencrypted: int


@dataclass
class WorkspaceRotation:
    workspace_id: int
    encryption_version: int | None = None
    index_version: int | None = None
    resumed: bool = False
    reindexed: bool = False
    reencrypted: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    failures: list[RowFailure] = field(default_factory=list)
    retired: list[tuple[str, int]] = field(default_factory=list)  # (purpose, version)
    finished: bool = False

    @property
    def has_keys(self) -> bool:
        return self.encryption_version is not None


@dataclass
class RotationReport:
    workspaces: list[WorkspaceRotation]

    @property
    def failed(self) -> int:
        return sum(workspace.failed for workspace in self.workspaces)


@dataclass
class _Batch:
    rows: int
    last_pk: Any
    reencrypted: int
    failures: list[RowFailure]


def _rotate_batch(
    column: EncryptedColumn,
    *,
    keys: WorkspaceKeys,
    after_pk: Any,
    batch_size: int,
) -> _Batch:
    """Bring the next rows of `column` (after `after_pk`) to the newest keys: re-encrypt a
    token on an older encryption version, recompute an index on an older index version.

    Rows are selected by what they hold, not by which rotation is running: a row a stale writer
    stored with an old index (keys loaded before a rotation, or `save()` of an instance loaded
    before it) is brought up to date by whichever rotation runs next.

    One transaction; the batch's rows are locked (select_for_update) before they are read, so
    a concurrent writer either commits first (and we re-encrypt its value) or waits for us.
    Only the token (and index) columns are written, never the rest of the row.
    """
    version = keys.current_version(ENCRYPTION)
    assert version is not None
    current_header = token_header(version)
    current_index: bytes | None = None
    # None when the column has no index, or the workspace no index key yet (nothing to redo).
    current_index_version = keys.current_version(INDEX) if column.index_field else None
    if current_index_version is not None:
        current_index = index_header(current_index_version)
    fields = [column.ciphertext_field]
    if column.index_field:
        fields.append(column.index_field)
    loaded = {"pk", column.ciphertext_field, column.row_key_field, *fields}
    if column.kind_field:
        loaded.add(column.kind_field)
    with transaction.atomic():
        queryset = column.rows(keys.workspace_id).annotate(
            huike_token_header=column.header_expression()
        )
        stale = ~Q(huike_token_header=current_header)
        if current_index is not None:
            queryset = queryset.annotate(huike_index_header=column.index_header_expression())
            stale |= Q(huike_index_header__isnull=True) | ~Q(huike_index_header=current_index)
        queryset = queryset.filter(stale)
        if after_pk is not None:
            queryset = queryset.filter(pk__gt=after_pk)
        rows = list(queryset.order_by("pk").only(*sorted(loaded)).select_for_update()[:batch_size])
        changed: list[models.Model] = []
        failures: list[RowFailure] = []
        for row in rows:
            row_key = str(getattr(row, column.row_key_field))
            token = bytes(getattr(row, column.ciphertext_field))
            try:
                plaintext = keys.decrypt(
                    table=column.table, column=column.column, row_key=row_key, token=token
                )
                index_field = column.index_field
                if (
                    index_field is not None
                    and current_index_version is not None
                    and index_version(getattr(row, index_field)) != current_index_version
                ):
                    # The stored value is the normalized one: normalizing it again could only
                    # fail (or change it) after a change of the rules or of the region.
                    index = keys.blind_index(
                        kind=column.row_kind(row), value=plaintext, is_normalized=True
                    )
                    setattr(row, index_field, index)
            except (DecryptionError, InvalidInputError) as error:
                failures.append(RowFailure(column.label, str(row.pk), str(error)))
                continue
            if token[: len(current_header)] != current_header:
                token = keys.encrypt(
                    table=column.table, column=column.column, row_key=row_key, plaintext=plaintext
                )
                setattr(row, column.ciphertext_field, token)
            changed.append(row)
        if changed:
            column.model._default_manager.bulk_update(changed, fields, batch_size=batch_size)
    return _Batch(
        rows=len(rows),
        last_pk=rows[-1].pk if rows else after_pk,
        reencrypted=len(changed),
        failures=failures,
    )


def _rotation_start(keys: WorkspaceKeys, include_index: bool, report: WorkspaceRotation) -> bool:
    """Create the new key versions, unless an unfinished rotation is to be resumed.

    Returns whether index columns are to be recomputed. An unretired older version means a
    rotation began and did not finish; it is resumed with the versions it created. New
    encryption and index versions are created in one transaction, so every row a writer
    stores under the newest encryption version also carries an index under the newest index
    key.
    """
    encryption_pending = keys.has_unretired_older(ENCRYPTION)
    index_pending = keys.has_unretired_older(INDEX)
    new_index = include_index and not index_pending and keys.newest(INDEX) is not None
    # Starting an index rotation redoes every row, including rows an unfinished encryption
    # rotation already moved to the newest version without recomputing their index.
    new_encryption = not encryption_pending or new_index
    with transaction.atomic():
        for purpose, needed in ((ENCRYPTION, new_encryption), (INDEX, new_index)):
            newest = keys.newest(purpose)
            if needed and newest is not None:
                # None means a concurrent rotation created it: continue with that one.
                keys.create_version(purpose, newest.version + 1)
    keys.reload()
    report.resumed = encryption_pending or index_pending
    return keys.has_unretired_older(INDEX)


def _rotate_workspace(
    workspace_id: int,
    *,
    include_index: bool,
    batch_size: int,
    on_batch: Callable[[RotationProgress], None] | None,
) -> WorkspaceRotation:
    report = WorkspaceRotation(workspace_id=workspace_id)
    keys = workspace_keys(workspace_id)
    if keys.newest(ENCRYPTION) is None:
        return report  # nothing was ever encrypted here
    # Fail before creating anything when a master key is missing, not half-way through.
    for purpose in (ENCRYPTION, INDEX):
        for row in keys.versions(purpose):
            keys.unwrap(row)
    reindex = _rotation_start(keys, include_index, report)
    report.reindexed = reindex
    report.encryption_version = keys.current_version(ENCRYPTION)
    report.index_version = keys.current_version(INDEX)
    columns = encrypted_columns()
    report.reencrypted = {column.label: 0 for column in columns}
    for _pass in range(ROTATION_MAX_PASSES):
        moved = 0
        for column in columns:
            after_pk: Any = None
            while True:
                batch = _rotate_batch(column, keys=keys, after_pk=after_pk, batch_size=batch_size)
                if batch.rows == 0:
                    break
                moved += batch.reencrypted
                report.reencrypted[column.label] += batch.reencrypted
                report.failed += len(batch.failures)
                room = ROTATION_FAILURES_LISTED - len(report.failures)
                report.failures.extend(batch.failures[: max(room, 0)])
                after_pk = batch.last_pk
                if on_batch is not None:
                    on_batch(
                        RotationProgress(workspace_id, column.label, batch.rows, batch.reencrypted)
                    )
                if batch.rows < batch_size:
                    break
        if report.failed:
            break  # old versions stay unretired: the rows that failed still need them
        if moved == 0:
            report.finished = True
            break
    with transaction.atomic():
        if report.finished:
            # Every row is now on the newest index key too, whichever rotation this was.
            report.retired = _retire_older(keys, ENCRYPTION) + _retire_older(keys, INDEX)
        audit_record(
            workspace_id=workspace_id,
            action=AuditAction.KEYS_ROTATED,
            actor_label=SYSTEM_ACTOR,
            target=AuditTarget("workspace", str(workspace_id)),
            data={
                "encryption_version": report.encryption_version,
                "index_version": report.index_version,
                "reindexed": reindex,
                "resumed": report.resumed,
                "reencrypted": sum(report.reencrypted.values()),
                "failed": report.failed,
                "finished": report.finished,
                "retired": [f"{purpose} v{version}" for purpose, version in report.retired],
            },
        )
    return report


def _retire_older(keys: WorkspaceKeys, purpose: str) -> list[tuple[str, int]]:
    newest = keys.newest(purpose)
    assert newest is not None
    older = DataKey.objects.filter(
        workspace_id=keys.workspace_id,
        purpose=purpose,
        version__lt=newest.version,
        retired_at__isnull=True,
    )
    versions = sorted(older.values_list("version", flat=True))
    older.update(retired_at=timezone.now())
    keys.reload()
    return [(purpose, version) for version in versions]


def keys_rotate(
    *,
    workspace_id: int | None = None,
    include_index: bool = False,
    batch_size: int = ROTATION_BATCH_SIZE,
    on_batch: Callable[[RotationProgress], None] | None = None,
) -> RotationReport:
    """New encryption key version per workspace (or one), every registered column moved to it.

    Without downtime: while it runs, writers use the newest version and readers decrypt any
    version a token names. Rows are re-encrypted in batches of `batch_size`, each its own
    transaction holding row locks only on that batch. When a pass finds nothing left on an
    older version, older versions are retired (kept for decryption, never used to write).

    Crash-safe: a run that stopped part-way left older versions unretired; the next run resumes
    with the versions it created instead of creating more, and moves the rows still on old
    versions. Rows that fail to decrypt are reported, not changed, and keep the old versions
    unretired. `include_index` also creates a new index key and recomputes index columns from
    the decrypted values (exact-match lookups use `blind_index_candidates` meanwhile).

    Audited per workspace as "keys.rotated" by the system actor. Raises MasterKeyError when a
    data key cannot be unwrapped.
    """
    if workspace_id is None:
        workspace_ids: Iterable[int] = (
            DataKey.objects.order_by("workspace_id")
            .values_list("workspace_id", flat=True)
            .distinct()
        )
    else:
        workspace_ids = [workspace_id]
    keys_cache_clear()
    try:
        return RotationReport(
            workspaces=[
                _rotate_workspace(
                    workspace,
                    include_index=include_index,
                    batch_size=batch_size,
                    on_batch=on_batch,
                )
                for workspace in list(workspace_ids)
            ]
        )
    finally:
        keys_cache_clear()


def keys_rewrap() -> int:
    """Wrap every data key under the current master key (the master-key rotation).

    Unwraps with whichever configured master (current or HUIKE_MASTER_KEY_PREVIOUS) wrapped
    each key; the keys themselves do not change, so no data is re-encrypted. Batches are locked
    and committed one by one; running it again after a crash continues where it stopped.
    Returns the number of keys re-wrapped; audited as "keys.rewrapped" on the system chain.
    Raises MasterKeyError (before changing anything) if a key's master is not configured.
    """
    masters = master_keys()
    stale = DataKey.objects.exclude(master_key_id=masters.current_id)
    missing = sorted(set(stale.values_list("master_key_id", flat=True)) - set(masters.by_id))
    if missing:
        raise MasterKeyError(
            _(
                "Some data keys are wrapped by master keys %(ids)s, which are neither "
                "HUIKE_MASTER_KEY nor in HUIKE_MASTER_KEY_PREVIOUS; nothing was re-wrapped."
            )
            % {"ids": ", ".join(missing)}
        )
    count = 0
    while True:
        with transaction.atomic():
            batch = list(stale.order_by("pk").select_for_update()[:REWRAP_BATCH_SIZE])
            for row in batch:
                row.wrapped_key = datakey_wrap(
                    workspace_id=row.workspace_id,
                    purpose=row.purpose,
                    version=row.version,
                    key=datakey_unwrap(row),
                    masters=masters,
                )
                row.master_key_id = masters.current_id
                row.save(update_fields=["wrapped_key", "master_key_id"])
        count += len(batch)
        if len(batch) < REWRAP_BATCH_SIZE:
            break
    audit_record(
        workspace_id=None,
        action=AuditAction.KEYS_REWRAPPED,
        actor_label=SYSTEM_ACTOR,
        data={"rewrapped": count, "master_key_id": masters.current_id},
    )
    keys_cache_clear()
    return count
