"""API endpoints for imports (customers, companies, and the kinds other apps register: leads)
and exports of customers.

An import: POST /imports (multipart: `file`, `kind`) → the job with its columns and a suggested
mapping; PUT /imports/{id}/mapping; optionally POST /imports/{id}/dry-run; POST
/imports/{id}/start; poll GET /imports/{id}; GET /imports/{id}/errors for the refused rows.
An export: POST /exports → the job; poll GET /exports/{id}; GET /exports/{id}/download.
"""

import uuid
from datetime import datetime
from typing import Any, Literal

from django.http import FileResponse, HttpRequest, StreamingHttpResponse
from ninja import File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from huike.accounts.api_gateway import request_actor
from huike.core.pagination import Page, PageOut, PageQuery, paginate
from huike.customers.api import customer_query_filters
from huike.customers.api_schemas import CustomerQuery
from huike.customers.imports import exports, services
from huike.customers.models import ExportJob, ImportJob, ImportMapping

router = Router(tags=["Imports and exports"])


# --- schemas --------------------------------------------------------------------------------
class ImportCountsOut(Schema):
    created: int
    updated: int
    skipped: int
    errors: int


class ImportJobOut(Schema):
    id: uuid.UUID
    kind: str
    status: str
    file_name: str
    file_type: str
    file_size: int
    encoding: str
    delimiter: str
    headers: list[str]
    mapping: dict[str, str] = Field(description="{column header: target}; targets ignored out")
    mode: str
    system: str = Field(description="External ids become identities of kind crm:<system>.")
    total_estimate: int
    rows_done: int
    percent: int
    counts: ImportCountsOut
    failure: str
    dry_run: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_id(obj: ImportJob) -> uuid.UUID:
        return obj.public_id

    @staticmethod
    def resolve_counts(obj: ImportJob) -> dict[str, int]:
        return {
            "created": obj.created_count,
            "updated": obj.updated_count,
            "skipped": obj.skipped_count,
            "errors": obj.error_count,
        }


class MappingIn(Schema):
    mapping: dict[str, str] = Field(
        description='{column header: target}, e.g. {"手机": "phone", "会员等级": "cf:level"}; '
        '"" ignores a column.'
    )
    mode: Literal["create", "update", "upsert"] = "upsert"
    system: str = "import"
    save_as: str = Field(default="", description="Save the mapping under this name.")


class MappingPatchIn(Schema):
    mapping: dict[str, str] | None = None
    mode: Literal["create", "update", "upsert"] | None = None
    system: str | None = None
    save_as: str = ""


class SavedMappingOut(Schema):
    id: uuid.UUID
    kind: str
    name: str
    mapping: dict[str, str]
    mode: str
    system: str

    @staticmethod
    def resolve_id(obj: ImportMapping) -> uuid.UUID:
        return obj.public_id


class RowProblemOut(Schema):
    column: str
    reason: str
    shown: str


class RowOutcomeOut(Schema):
    line: int
    action: Literal["create", "update", "skip", "error"]
    problems: list[RowProblemOut]


class DryRunOut(Schema):
    rows: list[RowOutcomeOut]
    totals: dict[str, int]
    checked: int
    is_complete: bool = Field(description="False when only the first rows were checked.")


class ExportIn(Schema):
    filters: CustomerQuery = Field(
        default_factory=CustomerQuery,
        description="The filters of GET /customers (its query parameters, as an object).",
    )
    format: Literal["csv", "xlsx"] = "csv"
    include_contacts: bool = False


class ExportJobOut(Schema):
    id: uuid.UUID
    status: str
    format: str
    filters: dict[str, Any]
    include_contacts: bool = Field(description="True only when contacts are shown unmasked.")
    row_count: int
    failure: str
    created_at: datetime
    finished_at: datetime | None

    @staticmethod
    def resolve_id(obj: ExportJob) -> uuid.UUID:
        return obj.public_id


# --- imports --------------------------------------------------------------------------------
@router.post("/imports", response={201: ImportJobOut}, summary="Upload a file to import")
def import_create(
    request: HttpRequest,
    file: File[UploadedFile],
    kind: Form[str] = "customers",
) -> Status[ImportJob]:
    """`kind` says what the file holds: `customers`, `companies` or `leads` (each needs its own
    permission: customers.import, or leads.manage for leads). Upload CSV (UTF-8, UTF-8 with
    BOM or GBK/GB18030; comma, semicolon or tab), XLSX or XML (one element per record, child
    elements as columns; DTDs and entities are refused), at most 100 MB. Returns the job
    with the columns found and a suggested mapping."""
    actor = request_actor(request)
    job = services.import_job_create(
        actor=actor, kind=kind, file_name=file.name or "upload", chunks=file.chunks()
    )
    return Status(201, job)


@router.get("/imports", response=PageOut[ImportJobOut], summary="List imports")
def import_list(request: HttpRequest, page: Query[PageQuery]) -> Page[ImportJob]:
    actor = request_actor(request)
    return paginate(
        services.import_jobs(actor),
        cursor=page.cursor,
        limit=page.limit,
        ordering=("-created_at", "-id"),
    )


@router.get("/imports/{import_id}", response=ImportJobOut, summary="Get an import")
def import_detail(request: HttpRequest, import_id: uuid.UUID) -> ImportJob:
    """Status, progress (rows done of the estimated total, percent) and counts."""
    return services.access_import_job(request_actor(request), import_id)


@router.put("/imports/{import_id}/mapping", response=ImportJobOut, summary="Set the mapping")
def import_mapping_put(request: HttpRequest, import_id: uuid.UUID, payload: MappingIn) -> ImportJob:
    actor = request_actor(request)
    job = services.access_import_job(actor, import_id)
    return services.import_mapping_set(
        actor=actor,
        job=job,
        mapping=payload.mapping,
        mode=payload.mode,
        system=payload.system,
        save_as=payload.save_as,
    )


@router.patch("/imports/{import_id}/mapping", response=ImportJobOut, summary="Change the mapping")
def import_mapping_patch(
    request: HttpRequest, import_id: uuid.UUID, payload: MappingPatchIn
) -> ImportJob:
    """Change only what is sent; `mapping` entries are merged into the current mapping."""
    actor = request_actor(request)
    job = services.access_import_job(actor, import_id)
    mapping = dict(job.mapping)
    mapping.update(payload.mapping or {})
    return services.import_mapping_set(
        actor=actor,
        job=job,
        mapping=mapping,
        mode=payload.mode or job.mode,
        system=payload.system or job.system,
        save_as=payload.save_as,
    )


@router.post("/imports/{import_id}/dry-run", response=DryRunOut, summary="Dry run")
def import_dry_run(request: HttpRequest, import_id: uuid.UUID) -> dict[str, Any]:
    """What the import would do with the first 2,000 rows, row by row (the first 100 shown),
    with totals; nothing is written."""
    actor = request_actor(request)
    job = services.access_import_job(actor, import_id)
    return services.import_dry_run(actor=actor, job=job)


@router.post("/imports/{import_id}/start", response={202: ImportJobOut}, summary="Start")
def import_start(request: HttpRequest, import_id: uuid.UUID) -> Status[ImportJob]:
    """Run the import in the background; a failed one resumes where it stopped."""
    actor = request_actor(request)
    job = services.access_import_job(actor, import_id)
    return Status(202, services.import_start(actor=actor, job=job))


def error_report_response(job: ImportJob) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        services.import_error_report(job), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="import-errors-{job.public_id}.csv"'
    return response


@router.get(
    "/imports/{import_id}/errors",
    summary="Download the refused rows (CSV)",
    openapi_extra={"responses": {200: {"content": {"text/csv": {}}}}},
)
def import_errors(request: HttpRequest, import_id: uuid.UUID) -> StreamingHttpResponse:
    """Each refused row by its line (the header is line 1), the column and the reason; values
    are masked."""
    job = services.access_import_job(request_actor(request), import_id)
    return error_report_response(job)


@router.get("/import-mappings", response=list[SavedMappingOut], summary="List saved mappings")
def import_mapping_list(request: HttpRequest, kind: str = "customers") -> list[ImportMapping]:
    return list(services.import_mappings(request_actor(request), kind))


# --- exports --------------------------------------------------------------------------------
@router.post("/exports", response={202: ExportJobOut}, summary="Export customers")
def export_create(request: HttpRequest, payload: ExportIn) -> Status[ExportJob]:
    """Write the customers the filters select (as the list shows them to you) to CSV or XLSX
    in the background (data.export). Phones and emails are masked unless you may reveal
    personal data and ask for `include_contacts`. Audited."""
    actor = request_actor(request)
    customer_filters = customer_query_filters(actor, payload.filters)
    job = exports.export_create(
        actor=actor,
        filters=customer_filters,
        format=payload.format,
        include_contacts=payload.include_contacts,
    )
    job.refresh_from_db()
    return Status(202, job)


@router.get("/exports/{export_id}", response=ExportJobOut, summary="Get an export")
def export_detail(request: HttpRequest, export_id: uuid.UUID) -> ExportJob:
    """Only the member who asked for an export sees it."""
    return exports.access_export_job(request_actor(request), export_id)


@router.get(
    "/exports/{export_id}/download",
    summary="Download an export",
    openapi_extra={
        "responses": {200: {"content": {"text/csv": {}, "application/octet-stream": {}}}}
    },
)
def export_download(request: HttpRequest, export_id: uuid.UUID) -> FileResponse:
    job = exports.access_export_job(request_actor(request), export_id)
    handle, name, content_type = exports.export_file(job)
    return FileResponse(handle, as_attachment=True, filename=name, content_type=content_type)
