"""Helpers of the import and export tests (no tests here): private storage in a temporary
directory, uploading a file through the service, and running a job as the worker would."""

import csv
import io
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from huike.accounts.access import Actor
from huike.customers.imports.services import (
    import_job_create,
    import_mapping_set,
    import_start,
)
from huike.customers.models import ImportJob


@pytest.fixture
def import_storage(settings: Any, tmp_path: Path) -> Path:
    settings.HUIKE_PRIVATE_DIR = str(tmp_path / "private")
    return tmp_path / "private"


def upload(
    actor: Actor, content: bytes, name: str = "customers.csv", kind: str = "customers"
) -> ImportJob:
    return import_job_create(actor=actor, kind=kind, file_name=name, chunks=[content])


def run_job(
    actor: Actor,
    job: ImportJob,
    capture: Callable[..., Any],
    *,
    mapping: Mapping[str, str] | None = None,
    mode: str = "upsert",
    system: str = "import",
) -> ImportJob:
    """Map (the suggestion unless given), start, and run the task on commit."""
    import_mapping_set(
        actor=actor, job=job, mapping=mapping or job.mapping, mode=mode, system=system
    )
    with capture(execute=True):
        import_start(actor=actor, job=job)
    job.refresh_from_db()
    return job


def csv_bytes(rows: list[list[str]], *, encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    """The rows as Excel saves them: CRLF, quoting where needed."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue().encode(encoding)
