"""Background work of imports and exports: each task loads its job by id and calls a service,
which is safe to run again (the worker's recovery re-runs a task whose worker died)."""

from django.tasks import task

from huike.customers.imports.exports import export_write, exports_purge_expired
from huike.customers.imports.services import import_files_purge_stale, import_run


@task
def run_import(job_id: int) -> str:
    """Import (or resume importing) the job's file from its checkpoint."""
    return import_run(job_id)


@task
def write_export(job_id: int) -> int:
    """Write the export's file; returns the number of rows."""
    return export_write(job_id)


@task
def purge_import_export_files() -> int:
    """Delete stale upload files and expired export files (see their retention constants)."""
    return import_files_purge_stale() + exports_purge_expired()
