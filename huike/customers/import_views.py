"""Pages of the import wizard (upload → mapping → dry run → run with progress → result) and of
exports (create from the customer list's filters → progress → download).

Thin: each view takes the actor, gets jobs through the access functions of
huike.customers.imports and changes them through its services. PermissionDeniedError becomes
the 403 page, NotFoundError (also a job of another workspace, or someone else's export) a 404.
"""

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Concatenate

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from huike.accounts.access import Actor
from huike.accounts.settings_forms import add_service_error
from huike.accounts.settings_views.common import forbidden, wants_fragment
from huike.core.errors import (
    ConflictError,
    HuikeError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from huike.customers.custom_fields import custom_fields_of
from huike.customers.forms import CustomerFilterForm
from huike.customers.imports import exports, services
from huike.customers.imports.forms import MappingForm, SavedMappingForm, UploadForm
from huike.customers.imports.kinds import (
    import_kind,
    import_kinds_for,
    require_import_kind,
    require_some_import,
)
from huike.customers.models import ImportJob

TEMPLATES = "customers/imports/"
# Pages of jobs still moving poll their progress this often (htmx).
POLL_SECONDS = 2
JOBS_SHOWN = 50


def import_page[**P, R: HttpResponseBase](
    view: Callable[Concatenate[HttpRequest, Actor, P], R],
) -> Callable[Concatenate[HttpRequest, P], HttpResponseBase]:
    """Sign-in required; passes the actor; PermissionDeniedError → 403, NotFoundError → 404
    (like the settings pages, for views that may also answer with a file)."""

    @wraps(view)
    def wrapper(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        actor: Actor | None = getattr(request, "actor", None)
        if actor is None:
            return forbidden(request, _("You are not a member of any workspace."))
        try:
            return view(request, actor, *args, **kwargs)
        except PermissionDeniedError as error:
            return forbidden(request, error.detail)
        except NotFoundError as error:
            raise Http404(error.detail) from None

    return login_required(wrapper)


def _template(name: str, request: HttpRequest, partial: str = "") -> str:
    if partial and wants_fragment(request):
        return f"{TEMPLATES}{name}#{partial}"
    return f"{TEMPLATES}{name}"


@import_page
@require_GET
def import_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    jobs = services.import_jobs(actor).order_by("-created_at", "-id")[:JOBS_SHOWN]
    return render(request, _template("list.html", request), {"jobs": jobs})


@import_page
@require_http_methods(["GET", "POST"])
def import_new(request: HttpRequest, actor: Actor) -> HttpResponse:
    require_some_import(actor)
    kinds = import_kinds_for(actor)
    # A link for one kind (the leads or orders page's) is refused to whoever may not import
    # it; a kind nobody registered is ignored.
    requested = request.GET.get("kind", "")
    if requested:
        try:
            require_import_kind(actor, requested)
        except InvalidInputError:
            requested = ""
    form = UploadForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        initial={"kind": requested or kinds[0].key},
        kinds=kinds,
    )
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = services.import_job_create(
                actor=actor,
                kind=form.cleaned_data["kind"],
                file_name=upload.name or "upload",
                chunks=upload.chunks(),
            )
        except InvalidInputError as error:
            add_service_error(form, error)
        else:
            return redirect("customers:import_detail", job.public_id)
    return render(request, _template("new.html", request), {"form": form})


def _detail_context(
    actor: Actor, job: ImportJob, form: MappingForm | None = None
) -> dict[str, object]:
    custom_fields = custom_fields_of(actor.workspace.pk)
    is_editable = job.status in services.EDITABLE and not (
        job.status == ImportJob.Status.FAILED and job.rows_done
    )
    labels = {
        "create": _("create"),
        "update": _("update"),
        "skip": _("skip"),
        "error": _("error"),
    }
    dry_rows = [
        {**row, "label": labels.get(row["action"], row["action"])}
        for row in (job.dry_run or {}).get("rows", [])
    ]
    return {
        "job": job,
        "spec": import_kind(job.kind),
        "dry_rows": dry_rows,
        "form": form or MappingForm(job=job, custom_fields=custom_fields),
        "saved_form": SavedMappingForm(mappings=services.import_mappings(actor, job.kind)),
        "is_editable": is_editable,
        "is_moving": job.status in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING),
        "poll_seconds": POLL_SECONDS,
        "error_preview": list(services.import_row_errors(job)[:20]),
    }


@import_page
@require_http_methods(["GET", "POST"])
def import_detail(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    """The job: the mapping step while it has not started, then progress and the result."""
    job = services.access_import_job(actor, public_id)
    form = None
    if request.method == "POST":
        form = MappingForm(
            request.POST, job=job, custom_fields=custom_fields_of(actor.workspace.pk)
        )
        if form.is_valid():
            try:
                services.import_mapping_set(
                    actor=actor,
                    job=job,
                    mapping=form.mapping(),
                    mode=form.cleaned_data.get("mode") or job.mode,
                    system=form.cleaned_data.get("system") or job.system,
                    save_as=form.cleaned_data["save_as"],
                )
            except (InvalidInputError, ConflictError) as error:
                add_service_error(form, error)
            else:
                if request.POST.get("then") == "dry_run":
                    return _dry_run(request, actor, job)
                messages.success(request, _("Mapping saved."))
                return redirect("customers:import_detail", job.public_id)
    return render(request, _template("detail.html", request), _detail_context(actor, job, form))


def _dry_run(request: HttpRequest, actor: Actor, job: ImportJob) -> HttpResponse:
    try:
        services.import_dry_run(actor=actor, job=job)
    except HuikeError as error:
        messages.error(request, error.detail)
    return redirect("customers:import_detail", job.public_id)


@import_page
@require_POST
def import_mapping_use(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    job = services.access_import_job(actor, public_id)
    form = SavedMappingForm(request.POST, mappings=services.import_mappings(actor, job.kind))
    if form.is_valid():
        try:
            services.import_mapping_apply(actor=actor, job=job, saved=form.cleaned_data["saved"])
        except (InvalidInputError, ConflictError) as error:
            messages.error(request, error.detail)
        else:
            messages.success(request, _("Saved mapping applied."))
    else:
        messages.error(request, _("Choose a saved mapping."))
    return redirect("customers:import_detail", job.public_id)


@import_page
@require_POST
def import_dry_run(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    return _dry_run(request, actor, services.access_import_job(actor, public_id))


@import_page
@require_POST
def import_start(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    job = services.access_import_job(actor, public_id)
    try:
        services.import_start(actor=actor, job=job)
    except ConflictError as error:
        messages.error(request, error.detail)
    return redirect("customers:import_detail", job.public_id)


@import_page
@require_GET
def import_progress(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    """The progress panel alone (polled by htmx while the job runs)."""
    job = services.access_import_job(actor, public_id)
    return render(request, f"{TEMPLATES}detail.html#progress", _detail_context(actor, job))


@import_page
@require_GET
def import_errors(
    request: HttpRequest, actor: Actor, public_id: uuid.UUID
) -> StreamingHttpResponse:
    job = services.access_import_job(actor, public_id)
    response = StreamingHttpResponse(
        services.import_error_report(job), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="import-errors-{job.public_id}.csv"'
    return response


@import_page
@require_POST
def import_delete(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    job = services.access_import_job(actor, public_id)
    try:
        services.import_job_delete(actor=actor, job=job)
    except ConflictError as error:
        messages.error(request, error.detail)
        return redirect("customers:import_detail", job.public_id)
    messages.success(request, _("Import deleted."))
    return redirect("customers:imports")


# --- exports --------------------------------------------------------------------------------
@import_page
@require_POST
def export_create(request: HttpRequest, actor: Actor) -> HttpResponse:
    """Export the list as filtered (the customer list's parameters, GET or POST)."""
    # The list's own filter form reads the filters, so the export is exactly the list: the
    # list's form posts them (with the CSRF token); a link may carry them in the query string.
    data = request.GET.copy()
    for name in request.POST:
        data.setlist(name, request.POST.getlist(name))
    form = CustomerFilterForm(data, actor=actor, custom_fields=custom_fields_of(actor.workspace.pk))
    try:
        if not form.is_valid():
            # Never a wider export than asked: a filter that does not read is an error.
            name, errors = next(iter(form.errors.items()))
            raise InvalidInputError(
                f"{form.fields[name].label if name in form.fields else name}: {errors[0]}",
                field=name,
            )
        job = exports.export_create(
            actor=actor,
            filters=form.to_filters(),
            format=data.get("format") or "csv",
            include_contacts=data.get("include_contacts") in ("1", "on", "true"),
        )
    except InvalidInputError as error:
        messages.error(request, error.detail)
        return render(
            request, f"{TEMPLATES}export_error.html", {"detail": error.detail}, status=400
        )
    return redirect("customers:export_detail", job.public_id)


@import_page
@require_GET
def export_detail(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    job = exports.access_export_job(actor, public_id)
    context = {
        "job": job,
        "is_moving": job.status in (job.Status.QUEUED, job.Status.RUNNING),
        "is_downloadable": exports.export_is_downloadable(job),
        "poll_seconds": POLL_SECONDS,
    }
    return render(request, _template("export_detail.html", request, "progress"), context)


@import_page
@require_GET
def export_download(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponseBase:
    job = exports.access_export_job(actor, public_id)
    handle, name, content_type = exports.export_file(job)
    return FileResponse(handle, as_attachment=True, filename=name, content_type=content_type)
