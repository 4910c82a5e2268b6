"""Exports of the customer list to CSV or XLSX, for the member who asks and only them.

The rows are exactly what the list shows that member (huike.customers.selectors.customer_search
with the same filters, so record visibility is the list's). Phones and emails are masked
unless the member may reveal personal data (`pii.reveal`) and asked for contacts. Every export
is audited with its filters and row count, and every cell that a spreadsheet would read as a
formula (starting with = + - @, a tab or a carriage return) is prefixed with a quote.

The column names are the import's field names (name, phone, email, tags, cf:<key>…), so an
exported file can be imported again as it is.
"""

import csv
import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, fields
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huike.accounts.access import Actor, parse_public_id
from huike.accounts.models import ApiKey, Membership
from huike.core.audit import AuditAction, AuditTarget, audit_record
from huike.core.crypto import workspace_keys
from huike.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from huike.core.tasks import enqueue_on_commit
from huike.customers.custom_fields import custom_fields_of
from huike.customers.imports.storage import (
    private_delete,
    private_name_new,
    private_open_new,
    private_path,
)
from huike.customers.models import Customer, ExportJob
from huike.customers.selectors import (
    CustomerFilters,
    customer_contacts,
    customer_search,
    customer_tags,
)

# Customers read (and contacts decrypted) per query: memory stays flat on a million rows.
EXPORT_CHUNK = 2000
# Written files are kept this long for their member to download, then purged.
EXPORT_RETENTION = dt.timedelta(days=7)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BASE_COLUMNS = (
    "id",
    "name",
    "phone",
    "email",
    "gender",
    "lifecycle_stage",
    "owner",
    "team",
    "company",
    "tags",
    "created_at",
)
LIST_SEPARATOR = "; "
CONTENT_TYPES: dict[str, str] = {
    ExportJob.Format.CSV: "text/csv; charset=utf-8",
    ExportJob.Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def cell_safe(value: Any) -> Any:
    """A cell a spreadsheet shows as text: formulas (=1+1, +cmd|…, -2+3, @SUM) get a leading
    quote, which Excel and WPS display without running anything."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


# --- filters --------------------------------------------------------------------------------
def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise InvalidInputError(_("Not a valid id."), field=field) from None


def _date(value: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInputError(_("Write a date as 2024-03-05."), field=field) from None


def filters_to_json(filters: CustomerFilters) -> dict[str, Any]:
    """The filters that are set, as JSON (ids and dates as text)."""
    defaults = CustomerFilters()
    result: dict[str, Any] = {}
    for name, value in asdict(filters).items():
        if value == getattr(defaults, name) or value in ((), []):
            continue
        if isinstance(value, list | tuple):
            value = [str(item) for item in value]
        elif isinstance(value, uuid.UUID | dt.date):
            value = str(value)
        result[name] = value
    return result


def filters_from_json(data: Mapping[str, Any]) -> CustomerFilters:
    known = {item.name for item in fields(CustomerFilters)}
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known:
            continue
        if name == "tags":
            value = [uuid.UUID(item) for item in value]
        elif name in ("owner", "team", "company") and value:
            value = uuid.UUID(value)
        elif name in ("created_from", "created_to", "last_seen_from", "last_seen_to") and value:
            value = dt.date.fromisoformat(value)
        values[name] = value
    return CustomerFilters(**values)


# --- creating and reading -------------------------------------------------------------------
def export_create(
    *, actor: Actor, filters: CustomerFilters, format: str, include_contacts: bool = False
) -> ExportJob:
    """Queue an export of the customers `filters` select for the actor (data.export).
    Contacts are revealed only with pii.reveal *and* include_contacts. InvalidInputError naming
    the filter for one that cannot be applied."""
    actor.require("data.export")
    actor.require("customers.view")
    if format not in ExportJob.Format.values:
        raise InvalidInputError(_("Choose csv or xlsx."), field="format")
    if actor.membership is None:
        raise PermissionDeniedError(_("Exports belong to a member; this key has none."))
    # Build the query now, so a malformed filter is the request's error, not the task's.
    customer_search(actor, filters)
    with transaction.atomic():
        job = ExportJob.objects.create(
            workspace=actor.workspace,
            created_by=actor.membership,
            api_key=actor.api_key,
            created_by_label=actor.label,
            filters=filters_to_json(filters),
            format=format,
            include_contacts=include_contacts and actor.has("pii.reveal"),
        )
        from huike.customers.imports.tasks import write_export

        enqueue_on_commit(write_export, job.pk)
    return job


def access_export_job(actor: Actor, public_id: uuid.UUID | str) -> ExportJob:
    """An export the actor's member made (nobody else's, whatever their role)."""
    actor.require("data.export")
    not_found = _("No such export.")
    if actor.membership is None:
        raise NotFoundError(not_found)
    try:
        job = ExportJob.objects.get(
            workspace=actor.workspace,
            created_by=actor.membership,
            public_id=parse_public_id(public_id, not_found),
        )
    except ExportJob.DoesNotExist:
        raise NotFoundError(not_found) from None
    return job


def export_is_downloadable(job: ExportJob) -> bool:
    return job.status == ExportJob.Status.FINISHED and bool(job.storage_name)


def export_file(job: ExportJob) -> tuple[Any, str, str]:
    """(open file, download name, content type); NotFoundError when it is not (or no longer)
    there."""
    if not export_is_downloadable(job):
        raise NotFoundError(_("This export has no file to download (yet)."))
    if job.finished_at and job.finished_at < timezone.now() - EXPORT_RETENTION:
        exports_purge_expired()
        raise NotFoundError(_("This export has expired; export the list again."))
    try:
        handle = private_path(job.storage_name).open("rb")
    except FileNotFoundError:
        raise NotFoundError(_("This export has expired; export the list again.")) from None
    return handle, job.file_name, CONTENT_TYPES[job.format]


# --- writing --------------------------------------------------------------------------------
def _export_actor(job: ExportJob) -> Actor:
    if job.api_key_id is not None:
        api_key = ApiKey.objects.select_related(
            "workspace", "role", "created_by__role", "created_by__user"
        ).get(pk=job.api_key_id)
        if not api_key.is_active:
            raise PermissionDeniedError(_("The API key of this export was revoked."))
        return Actor.for_api_key(api_key)
    membership = Membership.objects.select_related("workspace", "role", "user", "team").get(
        pk=job.created_by_id
    )
    if not membership.is_active:
        raise PermissionDeniedError(_("The member of this export is no longer active."))
    return Actor.for_membership(membership)


def _rows(actor: Actor, job: ExportJob) -> Iterator[list[Any]]:
    """The header, then one row per customer, in creation order, in chunks."""
    custom_fields = custom_fields_of(actor.workspace.pk)
    yield [*BASE_COLUMNS, *(f"cf:{field.key}" for field in custom_fields)]
    queryset = customer_search(actor, filters_from_json(job.filters)).select_related(
        "owner__user", "team", "company"
    )
    keys = workspace_keys(actor.workspace.pk)
    tz = actor.workspace.zone
    last = 0
    while True:
        chunk: list[Customer] = list(queryset.filter(pk__gt=last).order_by("pk")[:EXPORT_CHUNK])
        if not chunk:
            return
        last = chunk[-1].pk
        contacts = customer_contacts(chunk, reveal=job.include_contacts, keys=keys)
        tags = customer_tags(chunk)
        for customer in chunk:
            found = contacts[customer.pk]
            values: list[Any] = [
                str(customer.public_id),
                customer.name,
                LIST_SEPARATOR.join(item.shown for item in found.phones),
                LIST_SEPARATOR.join(item.shown for item in found.emails),
                customer.gender,
                customer.lifecycle_stage,
                customer.owner.user.email if customer.owner else "",
                customer.team.name if customer.team else "",
                customer.company.name if customer.company else "",
                LIST_SEPARATOR.join(link.tag.name for link in tags[customer.pk]),
                timezone.localtime(customer.created_at, tz).strftime("%Y-%m-%d %H:%M:%S"),
            ]
            for field in custom_fields:
                value = (customer.custom_fields or {}).get(field.key, "")
                if isinstance(value, dict):
                    value = f"{value.get('amount')} {value.get('currency')}"
                elif isinstance(value, list):
                    value = LIST_SEPARATOR.join(str(item) for item in value)
                values.append(value)
            yield [cell_safe(value) for value in values]


def _write_csv(name: str, rows: Iterator[list[Any]]) -> int:
    count = -1
    with os.fdopen(private_open_new(name), "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        for row in rows:
            writer.writerow(row)
            count += 1
    return max(count, 0)


def _write_xlsx(name: str, rows: Iterator[list[Any]]) -> int:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Customers"))
    count = -1
    for row in rows:
        sheet.append(row)
        count += 1
    os.close(private_open_new(name))
    workbook.save(str(private_path(name)))
    return max(count, 0)


WRITERS: dict[str, Callable[[str, Iterator[list[Any]]], int]] = {
    ExportJob.Format.CSV: _write_csv,
    ExportJob.Format.XLSX: _write_xlsx,
}


def export_write(job_id: int) -> int:
    """Write the export's file and audit it; the number of customer rows. Safe to run again:
    a finished export is left alone, an interrupted one is written afresh."""
    job = ExportJob.objects.filter(pk=job_id).first()
    if job is None or job.status == ExportJob.Status.FINISHED:
        return job.row_count if job else 0
    previous = job.storage_name
    name = private_name_new("exports", job.format)
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.RUNNING, storage_name=name)
    private_delete(previous)
    try:
        actor = _export_actor(job)
        actor.require("data.export")
        count = WRITERS[job.format](name, _rows(actor, job))
        include_contacts = job.include_contacts and actor.has("pii.reveal")
        with transaction.atomic():
            ExportJob.objects.filter(pk=job.pk).update(
                status=ExportJob.Status.FINISHED, row_count=count, finished_at=timezone.now()
            )
            audit_record(
                workspace_id=job.workspace_id,
                action=AuditAction.EXPORT_PERFORMED,
                actor_id=actor.user_id,
                actor_label=actor.label,
                target=AuditTarget("customer_export", str(job.public_id)),
                data={
                    "filters": job.filters,
                    "rows": count,
                    "format": job.format,
                    "include_contacts": include_contacts,
                },
            )
            if include_contacts:
                audit_record(
                    workspace_id=job.workspace_id,
                    action=AuditAction.PII_REVEALED,
                    actor_id=actor.user_id,
                    actor_label=actor.label,
                    target=AuditTarget("customer_export", str(job.public_id)),
                    data={"field": "phone, email", "rows": count},
                )
    except Exception as error:
        private_delete(name)
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED,
            storage_name="",
            failure=getattr(error, "detail", type(error).__name__)[:2000],
        )
        if isinstance(error, PermissionDeniedError | InvalidInputError):
            return 0
        raise
    return count


def exports_purge_expired() -> int:
    """Delete export files older than EXPORT_RETENTION; the number of files deleted."""
    cutoff = timezone.now() - EXPORT_RETENTION
    expired = list(ExportJob.objects.filter(finished_at__lt=cutoff).exclude(storage_name="")[:1000])
    for job in expired:
        private_delete(job.storage_name)
    ExportJob.objects.filter(pk__in=[job.pk for job in expired]).update(storage_name="")
    return len(expired)
