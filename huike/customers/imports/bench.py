"""The import as bench/customers.py and bench/sales_orders_import.py measure it: upload,
suggested mapping, run — in this process, without the task queue, exactly the code the worker
runs."""

from pathlib import Path

from huike.accounts.access import Actor
from huike.customers.imports.services import (
    import_job_create,
    import_mapping_set,
    import_run,
)
from huike.customers.models import ImportJob, ImportMode

UPLOAD_CHUNK_BYTES = 1024 * 1024


def import_file_now(
    *, actor: Actor, path: Path, mode: str = ImportMode.UPSERT, kind: str = "customers"
) -> str:
    """Import the file at `path` as `kind` now; a line of counts."""
    with path.open("rb") as handle:
        job = import_job_create(
            actor=actor,
            kind=kind,
            file_name=path.name,
            chunks=iter(lambda: handle.read(UPLOAD_CHUNK_BYTES), b""),
        )
    import_mapping_set(actor=actor, job=job, mapping=job.mapping, mode=mode)
    # What import_start does, minus the queue: the run happens here.
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    outcome = import_run(job.pk)
    job.refresh_from_db()
    return (
        f"{outcome}: {job.created_count:,} created, {job.updated_count:,} updated, "
        f"{job.skipped_count:,} skipped, {job.error_count:,} errors"
    )
