"""Imports of customers and companies: upload, mapping, dry run, start, and the run itself.

An import job goes uploaded → ready (mapping chosen) → queued → running → finished (or
failed, from where it can be started again and resumes at its checkpoint). The run reads the
file in batches of BATCH_SIZE rows; each batch is one transaction that writes its rows, its
row errors and the job's checkpoint (next line, counters) together. A run that dies between
batches therefore resumes after the last committed batch, and a run started twice (a worker
presumed dead that was not) stops at the first batch the other one already wrote.
"""

import csv
import datetime as dt
import hashlib
import io
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from huike.accounts.access import Actor, parse_public_id
from huike.accounts.models import ApiKey, Membership
from huike.core.audit import AuditTarget, audit_record
from huike.core.bulk import bulk_insert
from huike.core.errors import ConflictError, HuikeError, InvalidInputError, NotFoundError
from huike.core.tasks import enqueue_on_commit
from huike.customers.custom_fields import custom_fields_of
from huike.customers.imports.companies import companies_batch
from huike.customers.imports.kinds import (
    ImportKindSpec,
    import_kind,
    import_kind_register,
    import_kinds_for,
    require_import_kind,
    require_some_import,
)
from huike.customers.imports.mapping import (
    COMPANY_TARGETS,
    CUSTOMER_TARGETS,
    companies_mapping_check,
    customers_mapping_check,
    mapping_clean,
    mapping_suggest,
    system_clean,
)
from huike.customers.imports.pipeline import (
    ACTIONS,
    CREATE,
    ERROR,
    SKIP,
    UPDATE,
    BatchResult,
    ImportContext,
    RowOutcome,
    customers_batch,
    problem,
    row_errors_build,
)
from huike.customers.imports.readers import (
    FileReadError,
    file_rows,
    file_shape,
    file_type_of,
)
from huike.customers.imports.storage import (
    private_delete,
    private_name_new,
    private_open_new,
    private_path,
)
from huike.customers.models import (
    ImportGroup,
    ImportJob,
    ImportKind,
    ImportMapping,
    ImportMode,
    ImportRowError,
)
from huike.customers.permissions import CustomerAudit

# The largest file accepted: a million rows of a dozen columns is about 100 MB of CSV.
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
# Rows per transaction of a run: large enough that the per-batch statements (one lookup, a
# few bulk inserts) cost little per row, small enough that a batch commits in well under a
# second and a crash repeats little work.
BATCH_SIZE = 2000
# The dry run decides this many rows (one batch: seconds at most, in the request) and shows
# the outcome of the first DRY_RUN_SHOWN of them row by row.
DRY_RUN_ROWS = BATCH_SIZE
DRY_RUN_SHOWN = 100
# A batch that loses a race (another writer took one of its new identities) is decided again
# from fresh lookups this many times before the run gives up.
BATCH_ATTEMPTS = 3
# An uploaded file whose import never finished (left at the mapping step, or failed and not
# resumed) is deleted after this long; the job stays, saying its file is gone.
UPLOAD_RETENTION = dt.timedelta(days=7)
FILE_NAME_MAX_LENGTH = 255
MAPPING_NAME_MAX_LENGTH = 100


def register_builtin_import_kinds() -> None:
    """Customers and companies (called from the customers app's ready())."""
    import_kind_register(
        ImportKindSpec(
            key=ImportKind.CUSTOMERS,
            label=ImportKind.CUSTOMERS.label,
            targets=CUSTOMER_TARGETS,
            batch=customers_batch,
            permission="customers.import",
            check_mapping=customers_mapping_check,
            custom_fields=True,
            records_url="customers:customer_list",
        )
    )
    import_kind_register(
        ImportKindSpec(
            key=ImportKind.COMPANIES,
            label=ImportKind.COMPANIES.label,
            targets=COMPANY_TARGETS,
            batch=companies_batch,
            permission="customers.import",
            check_mapping=companies_mapping_check,
            has_system=False,
            records_url="customers:company_list",
        )
    )


class ImportCrashSimulated(BaseException):
    """Raised by the test-only setting HUIKE_IMPORT_CRASH_AFTER_BATCHES inside a batch's
    transaction, like a worker killed mid-batch: not an Exception, so nothing here handles it
    and the job stays running at its checkpoint, as after a real crash."""


# --- access ---------------------------------------------------------------------------------
def _kinds_of(actor: Actor) -> list[str]:
    """The kinds the actor may import; PermissionDeniedError when none."""
    require_some_import(actor)
    return [spec.key for spec in import_kinds_for(actor)]


def access_import_job(actor: Actor, public_id: uuid.UUID | str) -> ImportJob:
    """An import job of the actor's workspace, of a kind the actor may import (another kind's
    job is not found, like another workspace's)."""
    kinds = _kinds_of(actor)
    not_found = _("No such import.")
    try:
        return ImportJob.objects.get(
            workspace=actor.workspace,
            public_id=parse_public_id(public_id, not_found),
            kind__in=kinds,
        )
    except ImportJob.DoesNotExist:
        raise NotFoundError(not_found) from None


def access_import_mapping(actor: Actor, public_id: uuid.UUID | str) -> ImportMapping:
    kinds = _kinds_of(actor)
    not_found = _("No such saved mapping.")
    try:
        return ImportMapping.objects.get(
            workspace=actor.workspace,
            public_id=parse_public_id(public_id, not_found),
            kind__in=kinds,
        )
    except ImportMapping.DoesNotExist:
        raise NotFoundError(not_found) from None


def import_jobs(actor: Actor) -> QuerySet[ImportJob]:
    """The workspace's imports of the kinds the actor may import."""
    return ImportJob.objects.filter(
        workspace=actor.workspace, kind__in=_kinds_of(actor)
    ).select_related("created_by__user")


def import_mappings(actor: Actor, kind: str) -> QuerySet[ImportMapping]:
    require_import_kind(actor, kind)
    return ImportMapping.objects.filter(workspace=actor.workspace, kind=kind)


def import_row_errors(job: ImportJob) -> QuerySet[ImportRowError]:
    return ImportRowError.objects.filter(workspace_id=job.workspace_id, job=job).order_by(
        "line", "pk"
    )


ERROR_REPORT_FLUSH_BYTES = 64 * 1024


def import_error_report(job: ImportJob) -> Iterator[str]:
    """The refused rows as CSV text in pieces (UTF-8 with BOM for Excel): line, column, reason
    and the value masked. Cells are made formula-safe like exports."""
    from huike.customers.imports.exports import cell_safe

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(["line", "column", "reason", "value"])
    for error in import_row_errors(job).iterator(chunk_size=2000):
        writer.writerow(
            [error.line, *(cell_safe(text) for text in (error.column, error.reason, error.shown))]
        )
        if buffer.tell() > ERROR_REPORT_FLUSH_BYTES:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


# --- upload ---------------------------------------------------------------------------------
def _store(chunks: Iterable[bytes]) -> tuple[str, int, bytes]:
    """Write the upload to a new private file; (name, size, first bytes). InvalidInputError
    once it passes MAX_UPLOAD_BYTES (the partial file is removed)."""
    name = private_name_new("imports", "src")
    size = 0
    head = b""
    try:
        with os.fdopen(private_open_new(name), "wb") as handle:
            for chunk in chunks:
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise InvalidInputError(
                        _("The file is larger than %(max)d MB.")
                        % {"max": MAX_UPLOAD_BYTES // (1024 * 1024)},
                        field="file",
                    )
                if len(head) < 512:
                    head += chunk[: 512 - len(head)]
                handle.write(chunk)
    except BaseException:
        private_delete(name)
        raise
    return name, size, head


def import_job_create(
    *, actor: Actor, kind: str, file_name: str, chunks: Iterable[bytes]
) -> ImportJob:
    """Store an uploaded file privately, find its type, encoding, delimiter and columns, and
    suggest a mapping. InvalidInputError(field="file") for a file that is too large, empty or
    unreadable, and for XML with a DTD or entities; nothing is kept then."""
    require_import_kind(actor, kind)
    name, size, head = _store(chunks)
    try:
        if size == 0:
            raise InvalidInputError(_("The file is empty."), field="file")
        file_type = file_type_of(file_name, head)
        shape = file_shape(private_path(name), file_type)
    except FileReadError as error:
        private_delete(name)
        raise InvalidInputError(error.detail, field="file") from None
    except BaseException:
        private_delete(name)
        raise
    membership = actor.membership
    return ImportJob.objects.create(
        workspace=actor.workspace,
        kind=kind,
        created_by=membership,
        api_key=actor.api_key,
        created_by_label=actor.label,
        file_name=(file_name or "upload")[-FILE_NAME_MAX_LENGTH:],
        file_type=file_type,
        file_size=size,
        storage_name=name,
        encoding=shape.encoding,
        delimiter=shape.delimiter,
        headers=shape.headers,
        mapping=mapping_suggest(kind, shape.headers, custom_fields_of(actor.workspace.pk)),
        total_estimate=shape.total_estimate,
    )


# --- mapping and dry run --------------------------------------------------------------------
EDITABLE = (ImportJob.Status.UPLOADED, ImportJob.Status.READY, ImportJob.Status.FAILED)


def _require_editable(job: ImportJob) -> None:
    if job.status not in EDITABLE or (job.status == ImportJob.Status.FAILED and job.rows_done):
        raise ConflictError(_("This import has started; its mapping can no longer change."))


def import_mapping_set(
    *,
    actor: Actor,
    job: ImportJob,
    mapping: Mapping[str, str],
    mode: str,
    system: str = "import",
    save_as: str = "",
) -> ImportJob:
    """Choose what each column becomes, the mode and the external system; optionally save the
    mapping under a name (replacing one of that name). Clears an earlier dry run. Kinds
    without modes always create or update (upsert); without an external-id system, keep
    the default."""
    spec = require_import_kind(actor, job.kind)
    _require_editable(job)
    if not spec.has_modes:
        mode = ImportMode.UPSERT
    if not spec.has_system:
        system = "import"
    if mode not in ImportMode.values:
        raise InvalidInputError(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(ImportMode.values)},
            field="mode",
        )
    clean = mapping_clean(
        kind=job.kind,
        headers=job.headers,
        mapping=mapping,
        custom_fields=custom_fields_of(actor.workspace.pk),
    )
    system = system_clean(system)
    save_as = (save_as or "").strip()
    if len(save_as) > MAPPING_NAME_MAX_LENGTH:
        raise InvalidInputError(
            _("At most %(max)d characters.") % {"max": MAPPING_NAME_MAX_LENGTH}, field="save_as"
        )
    with transaction.atomic():
        job.mapping = clean
        job.mode = mode
        job.system = system
        job.dry_run = None
        job.status = ImportJob.Status.READY
        job.save(update_fields=["mapping", "mode", "system", "dry_run", "status", "updated_at"])
        if save_as:
            ImportMapping.objects.update_or_create(
                workspace=actor.workspace,
                kind=job.kind,
                name=save_as,
                defaults={
                    "mapping": clean,
                    "mode": mode,
                    "system": system,
                    "created_by": actor.membership,
                },
            )
    return job


def import_mapping_apply(*, actor: Actor, job: ImportJob, saved: ImportMapping) -> ImportJob:
    """Use a saved mapping for the columns of this file that it names."""
    if saved.kind != job.kind:
        raise InvalidInputError(_("This mapping is for another kind of import."), field="mapping")
    mapping = {header: target for header, target in saved.mapping.items() if header in job.headers}
    return import_mapping_set(
        actor=actor, job=job, mapping=mapping, mode=saved.mode, system=saved.system
    )


def import_mapping_delete(*, actor: Actor, saved: ImportMapping) -> None:
    require_import_kind(actor, saved.kind)
    saved.delete()


def _require_file(job: ImportJob) -> None:
    if not job.storage_name:
        raise ConflictError(_("The uploaded file of this import has been deleted."))


def _rows(job: ImportJob) -> Iterator[tuple[int, list[str]]]:
    rows = file_rows(
        private_path(job.storage_name),
        file_type=job.file_type,
        encoding=job.encoding,
        delimiter=job.delimiter,
        headers=job.headers,
    )
    for line, cells in rows:
        if any(cells):  # an empty row is no record (Excel leaves them at the end)
            yield line, cells


@dataclass
class _Batch:
    rows: list[tuple[int, list[str]]]
    # The line the next batch starts at: the checkpoint once this one is written.
    next_line: int
    is_last: bool


def _group_index(spec: ImportKindSpec, context: ImportContext) -> int | None:
    """The file column of the kind's `group_by` target, if it has one and it is mapped."""
    if not spec.group_by:
        return None
    return next((index for index, _h, target in context.columns if target == spec.group_by), None)


def _group_key(cells: list[str], index: int) -> str:
    return cells[index].strip() if index < len(cells) and cells[index] else ""


def _batches(
    spec: ImportKindSpec,
    context: ImportContext,
    rows: Iterable[tuple[int, list[str]]],
    *,
    size: int,
) -> Iterator[_Batch]:
    """The rows in batches of `size`. For a kind with `group_by`, a batch that is full still
    takes the following rows of its last record, up to `group_max_rows` more (a record longer
    than that is cut, and its rows in the next batch are refused by _commit_batch)."""
    index = _group_index(spec, context)
    pending: list[tuple[int, list[str]]] = []
    for line, cells in rows:
        if len(pending) >= size and (
            index is None
            or len(pending) >= size + spec.group_max_rows
            or _group_key(cells, index) != _group_key(pending[-1][1], index)
        ):
            yield _Batch(pending, line, is_last=False)
            pending = []
        pending.append((line, cells))
    if pending:
        yield _Batch(pending, pending[-1][0] + 1, is_last=True)


def _batch_size(spec: ImportKindSpec) -> int:
    return min(BATCH_SIZE, spec.batch_rows) if spec.batch_rows else BATCH_SIZE


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _decided_elsewhere(
    context: ImportContext, spec: ImportKindSpec, rows: list[tuple[int, list[str]]]
) -> tuple[list[tuple[int, list[str]]], list[RowOutcome]]:
    """Split a batch of a kind with `group_by`: the rows to decide, and the refusals of rows
    whose record an earlier batch of this job decided (written or refused) without them. The
    batch's own new records are recorded as decided (in the batch's transaction)."""
    index = _group_index(spec, context)
    if index is None:
        return rows, []
    digests = {line: _digest(key) for line, cells in rows if (key := _group_key(cells, index))}
    decided = dict(
        ImportGroup.objects.filter(job=context.job, digest__in=set(digests.values())).values_list(
            "digest", "first_line"
        )
    )
    header = next(header for i, header, _t in context.columns if i == index)
    kept: list[tuple[int, list[str]]] = []
    refused: list[RowOutcome] = []
    new: dict[str, int] = {}
    for line, cells in rows:
        digest = digests.get(line)
        if digest is not None and digest in decided:
            reason = _(
                "The rows of this %(column)s from line %(line)d on were imported or refused "
                "without this row: keep the rows of one record together (%(max)d at most, sort "
                "the file by %(column)s) and import it again."
            ) % {"column": header, "line": decided[digest], "max": spec.group_max_rows}
            refused.append(
                RowOutcome(line, ERROR, [problem(header, reason, _group_key(cells, index))])
            )
            continue
        if digest is not None:
            new.setdefault(digest, line)
        kept.append((line, cells))
    bulk_insert(
        ImportGroup,
        [
            ImportGroup(job=context.job, digest=digest, first_line=line)
            for digest, line in new.items()
        ],
    )
    return kept, refused


def _totals(result: BatchResult) -> dict[str, int]:
    return {action: result.count(action) for action in ACTIONS}


def import_dry_run(*, actor: Actor, job: ImportJob) -> dict[str, Any]:
    """Decide the first DRY_RUN_ROWS rows exactly as the run would, writing nothing; stores and
    returns {"rows": [first DRY_RUN_SHOWN outcomes], "totals": {action: count}, "checked": n,
    "is_complete": whether that was the whole file}. Values in it are masked. A kind whose rows
    are dear to decide checks fewer (its `dry_run_rows`)."""
    spec = require_import_kind(actor, job.kind)
    if job.status not in (ImportJob.Status.READY,):
        raise ConflictError(_("Choose the column mapping first."))
    _require_file(job)
    context = ImportContext(job=job, actor=actor)
    try:
        size = min(DRY_RUN_ROWS, spec.dry_run_rows)
        first = next(_batches(spec, context, _rows(job), size=size), _Batch([], 0, is_last=True))
        is_complete = first.is_last
        # Nothing is written; the transaction is a guard that it stays so.
        with transaction.atomic():
            result = spec.batch(context, first.rows, write=False)
            transaction.set_rollback(True)
    except FileReadError as error:
        raise InvalidInputError(error.detail, field="file") from None
    report = {
        "rows": [outcome.as_json() for outcome in result.outcomes[:DRY_RUN_SHOWN]],
        "totals": _totals(result),
        "checked": len(result.outcomes),
        "is_complete": is_complete,
    }
    job.dry_run = report
    job.save(update_fields=["dry_run", "updated_at"])
    return report


# --- running --------------------------------------------------------------------------------
def import_start(*, actor: Actor, job: ImportJob) -> ImportJob:
    """Queue the run (a failed job resumes at its checkpoint)."""
    from huike.customers.imports.tasks import run_import

    require_import_kind(actor, job.kind)
    if job.status not in (ImportJob.Status.READY, ImportJob.Status.FAILED):
        raise ConflictError(
            _("Choose the column mapping first.")
            if job.status == ImportJob.Status.UPLOADED
            else _("This import is already running or finished.")
        )
    _require_file(job)
    with transaction.atomic():
        changed = ImportJob.objects.filter(pk=job.pk, status=job.status).update(
            status=ImportJob.Status.QUEUED, failure="", updated_at=timezone.now()
        )
        if not changed:
            raise ConflictError(_("This import is already running or finished."))
        enqueue_on_commit(run_import, job.pk)
    job.refresh_from_db()
    return job


def _job_actor(job: ImportJob) -> Actor:
    """Who the run acts as: the key or member that uploaded the file, as they are now."""
    if job.api_key_id is not None:
        api_key = ApiKey.objects.select_related(
            "workspace", "role", "created_by__role", "created_by__user"
        ).get(pk=job.api_key_id)
        if not api_key.is_active:
            raise InvalidInputError(_("The API key that started this import was revoked."))
        return Actor.for_api_key(api_key)
    membership = (
        Membership.objects.select_related("workspace", "role", "user", "team")
        .filter(pk=job.created_by_id or 0, is_active=True)
        .first()
    )
    if membership is None:
        raise InvalidInputError(_("The member who started this import is no longer active."))
    return Actor.for_membership(membership)


def _crash_hook(batch_number: int) -> None:
    limit = getattr(settings, "HUIKE_IMPORT_CRASH_AFTER_BATCHES", None)
    if limit is not None and batch_number >= limit:
        raise ImportCrashSimulated(f"simulated crash in batch {batch_number + 1}")


def _commit_batch(
    context: ImportContext, rows: list[tuple[int, list[str]]], *, next_line: int, number: int
) -> bool:
    """Write one batch and advance the checkpoint in one transaction. False when another run
    of the same job got there first (the checkpoint moved), which then stops this one."""
    job = context.job
    spec = import_kind(job.kind)
    for attempt in range(1, BATCH_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                locked = ImportJob.objects.select_for_update().get(pk=job.pk)
                if locked.next_line != job.next_line or locked.status != ImportJob.Status.RUNNING:
                    return False
                kept, refused = _decided_elsewhere(context, spec, rows)
                result = spec.batch(context, kept, write=True)
                if refused:
                    result.outcomes = sorted(
                        [*result.outcomes, *refused], key=lambda outcome: outcome.line
                    )
                bulk_insert(ImportRowError, row_errors_build(job, result.outcomes))
                ImportJob.objects.filter(pk=job.pk).update(
                    next_line=next_line,
                    rows_done=F("rows_done") + len(result.outcomes),
                    created_count=F("created_count") + result.count(CREATE),
                    updated_count=F("updated_count") + result.count(UPDATE),
                    skipped_count=F("skipped_count") + result.count(SKIP),
                    error_count=F("error_count") + result.count(ERROR),
                    updated_at=timezone.now(),
                )
                _crash_hook(number)
        except IntegrityError:
            # Caches may hold tags, companies or a data key made by the rolled-back
            # transaction: a key kept would encrypt the retried rows with one never stored.
            _forget_rolled_back(context)
            if attempt == BATCH_ATTEMPTS:
                raise
            continue
        except BaseException:
            _forget_rolled_back(context)
            raise
        job.next_line = next_line
        return True
    return False


def _forget_rolled_back(context: ImportContext) -> None:
    context.tags.clear()
    context.companies.clear()
    context.keys.reload()


def _finish(context: ImportContext) -> None:
    job = context.job
    actor = context.actor
    with transaction.atomic():
        locked = ImportJob.objects.select_for_update().get(pk=job.pk)
        if locked.status != ImportJob.Status.RUNNING or locked.next_line != job.next_line:
            return
        now = timezone.now()
        locked.status = ImportJob.Status.FINISHED
        locked.finished_at = now
        name, locked.storage_name = locked.storage_name, ""
        locked.file_deleted_at = now
        locked.save(
            update_fields=[
                "status",
                "finished_at",
                "storage_name",
                "file_deleted_at",
                "updated_at",
            ]
        )
        audit_record(
            workspace_id=job.workspace_id,
            action=CustomerAudit.IMPORTED,
            actor_id=actor.user_id,
            actor_label=actor.label,
            target=AuditTarget("import", str(job.public_id)),
            data={
                "kind": job.kind,
                "file_type": job.file_type,
                "mode": job.mode,
                "rows": locked.rows_done,
                "created": locked.created_count,
                "updated": locked.updated_count,
                "skipped": locked.skipped_count,
                "errors": locked.error_count,
            },
        )
        ImportGroup.objects.filter(job=job).delete()  # only a run needs them
        # The source holds personal data: gone once the job no longer needs it.
        transaction.on_commit(lambda: private_delete(name))


def _fail(job: ImportJob, reason: str) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.FAILED, failure=reason[:2000], updated_at=timezone.now()
    )


def import_run(job_id: int) -> str:
    """Run (or resume) an import from its checkpoint to the end of the file; what happened.
    Safe to run again at any time: a finished job is left alone, a second concurrent run
    stops at its first batch."""
    job = ImportJob.objects.select_related("workspace").filter(pk=job_id).first()
    if job is None or job.status not in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING):
        return "nothing to do"
    claimed = ImportJob.objects.filter(
        pk=job.pk, status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]
    ).update(status=ImportJob.Status.RUNNING, started_at=job.started_at or timezone.now())
    if not claimed:
        return "nothing to do"
    job.status = ImportJob.Status.RUNNING
    # Dates and times without an offset in the file are the workspace's local times.
    with timezone.override(job.workspace.zone):
        return _import_run_claimed(job)


def _import_run_claimed(job: ImportJob) -> str:
    try:
        actor = _job_actor(job)
        spec = require_import_kind(actor, job.kind)
        context = ImportContext(job=job, actor=actor)
        rows = ((line, cells) for line, cells in _rows(job) if line >= job.next_line)
        for number, batch in enumerate(_batches(spec, context, rows, size=_batch_size(spec))):
            if not _commit_batch(context, batch.rows, next_line=batch.next_line, number=number):
                return "superseded by another run"
        _finish(context)
    except HuikeError as error:  # unreadable file, creator gone, permission lost
        _fail(job, error.detail)
        return "failed"
    except Exception as error:
        _fail(
            job,
            _("The import stopped unexpectedly (%(error)s); start it again to resume.")
            % {"error": type(error).__name__},
        )
        raise
    return "finished"


def import_job_delete(*, actor: Actor, job: ImportJob) -> None:
    """Delete a job that is not running, with its file and error report."""
    require_import_kind(actor, job.kind)
    if job.status in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING):
        raise ConflictError(_("This import is running; wait until it has finished."))
    name = job.storage_name
    job.delete()
    private_delete(name)


def import_files_purge_stale() -> int:
    """Delete the files of imports untouched for UPLOAD_RETENTION that are not queued or
    running, with the records their runs decided (ImportGroup: without the file, the run
    cannot resume); the number of files deleted."""
    cutoff = timezone.now() - UPLOAD_RETENTION
    stale = list(
        ImportJob.objects.filter(updated_at__lt=cutoff)
        .exclude(storage_name="")
        .exclude(status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING])[:1000]
    )
    for job in stale:
        private_delete(job.storage_name)
    ids = [job.pk for job in stale]
    ImportJob.objects.filter(pk__in=ids).update(storage_name="", file_deleted_at=timezone.now())
    ImportGroup.objects.filter(job_id__in=ids).delete()
    return len(stale)
