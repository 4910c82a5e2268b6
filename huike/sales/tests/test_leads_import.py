"""Leads through the customers import: the mapping suggested from English and Chinese headers,
good rows captured and bad ones reported by line and column, a repeat landing on the person's
open lead, a dry run that writes nothing, a run killed mid-way resuming without a lead twice,
and who may import leads (and see whose imports)."""

import csv
import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from huike.customers.imports import services
from huike.customers.imports.tasks import run_import
from huike.customers.models import Customer, ImportJob, ImportRowError
from huike.customers.tests.test_import_support import (  # noqa: F401
    csv_bytes,
    import_storage,
    run_job,
    upload,
)
from huike.sales.leads import LeadData, lead_capture
from huike.sales.models import Lead, LeadHistory

pytestmark = pytest.mark.usefixtures("import_storage")

ROWS = [
    ["姓名", "手机", "Email", "公司", "职位", "utm_source", "备注"],
    ["王五", "13911110001", "", "Acme", "CTO", "expo", "Wants a demo"],
    ["坏号码", "not-a-number", "", "", "", "", ""],
    ["No Contact", "", "", "Nowhere", "", "", ""],
    ["Two", "", "two@example.org", "", "", "", ""],
    ["王五 again", "139 1111 0001", "", "", "", "", ""],
    ["Known", "13922220002", "", "", "", "", ""],
]


def _lead_file(rows: list[list[str]] | None = None) -> bytes:
    return csv_bytes(rows or ROWS)


def test_a_lead_file_captures_good_rows_and_reports_bad_ones(
    member: Membership,
    member_actor: Actor,
    owner_actor: Actor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given: a person we know already, with an open lead
    known = lead_capture(
        workspace=owner_actor.workspace,
        source="manual",
        data=LeadData(name="Known", phone="13922220002"),
        actor=owner_actor,
    )
    # when a rep uploads the file (suggested mapping) and it runs
    job = upload(member_actor, _lead_file(), name="expo.csv", kind="leads")
    assert job.mapping == {
        "姓名": "name",
        "手机": "phone",
        "Email": "email",
        "公司": "company_name",
        "职位": "job_title",
        "utm_source": "utm_source",
        "备注": "message",
    }
    job = run_job(member_actor, job, django_capture_on_commit_callbacks)
    # then two new leads, two repeats on open leads, two rows refused by line and column
    assert job.status == ImportJob.Status.FINISHED
    assert (job.rows_done, job.created_count, job.updated_count, job.error_count) == (6, 2, 2, 2)
    errors = list(
        ImportRowError.objects.filter(job=job).order_by("line").values_list("line", "column")
    )
    assert errors == [(3, "手机"), (4, "")]
    assert sorted(Lead.objects.values_list("name", flat=True)) == ["Known", "Two", "王五"]
    wang = Lead.objects.get(name="王五")
    assert (wang.source, wang.company_name, wang.job_title) == ("import", "Acme", "CTO")
    assert wang.source_detail["utm_source"] == "expo"
    assert wang.source_detail["import_file"] == "expo.csv"
    assert [repeat["source"] for repeat in wang.source_detail["repeats"]] == ["import"]
    known.refresh_from_db()
    assert [repeat["source"] for repeat in known.source_detail["repeats"]] == ["import"]
    assert Customer.objects.count() == 3  # no person twice
    history = LeadHistory.objects.filter(lead=wang, kind=LeadHistory.Kind.CREATED).order_by("pk")
    assert [entry.details.get("repeat", False) for entry in history] == [False, True]


def test_the_dry_run_decides_rows_and_writes_nothing(
    member_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    job = upload(member_actor, _lead_file(), kind="leads")
    services.import_mapping_set(actor=member_actor, job=job, mapping=job.mapping, mode="create")
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        report = services.import_dry_run(actor=member_actor, job=job)
    # then: the run's decisions (the second 王五 row repeats the first), nothing kept
    assert report["totals"] == {"create": 3, "update": 1, "skip": 0, "error": 2}
    assert [row["line"] for row in report["rows"] if row["action"] == "error"] == [3, 4]
    assert (Lead.objects.count(), Customer.objects.count()) == (0, 0)
    assert callbacks == []  # what the captures queued went with the rolled-back transaction
    job.refresh_from_db()
    assert (job.status, job.mode, job.system) == ("ready", "upsert", "import")


def test_an_interrupted_lead_import_resumes_without_a_lead_twice(
    member_actor: Actor, settings: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given 35 rows in batches of 10, and a worker that dies in the third batch
    monkeypatch.setattr(services, "BATCH_SIZE", 10)
    rows = [["name", "phone"], *([f"Lead {n}", f"139{n:08d}"] for n in range(35))]
    job = upload(member_actor, _lead_file(rows), kind="leads")
    services.import_mapping_set(actor=member_actor, job=job, mapping=job.mapping, mode="upsert")
    settings.HUIKE_IMPORT_CRASH_AFTER_BATCHES = 2
    with django_capture_on_commit_callbacks(execute=True):
        services.import_start(actor=member_actor, job=job)
    job.refresh_from_db()
    assert (job.status, job.rows_done, Lead.objects.count()) == ("running", 20, 20)
    # when the worker's recovery runs it again
    del settings.HUIKE_IMPORT_CRASH_AFTER_BATCHES
    with django_capture_on_commit_callbacks(execute=True):
        run_import.enqueue(job.pk)
    # then every row is one lead of one customer
    job.refresh_from_db()
    assert (job.status, job.created_count, job.updated_count) == ("finished", 35, 0)
    assert Lead.objects.count() == Customer.objects.count() == 35


def test_who_may_import_leads(make_member: Any, member_actor: Actor, outsider_actor: Actor) -> None:
    finance = Actor.for_membership(make_member("finance@acme.test", "finance"))
    with pytest.raises(PermissionDeniedError):
        upload(finance, _lead_file(), kind="leads")
    with pytest.raises(PermissionDeniedError):
        upload(member_actor, _lead_file(), kind="customers")  # a rep imports leads only
    with pytest.raises(InvalidInputError):
        upload(member_actor, _lead_file(), kind="deals")
    job = upload(member_actor, _lead_file(), kind="leads")
    with pytest.raises(NotFoundError):  # finance imports orders, and sees no leads imports
        services.access_import_job(finance, job.public_id)
    reader = Actor.for_membership(make_member("reader@acme.test", "read_only"))
    with pytest.raises(PermissionDeniedError):  # imports nothing
        services.access_import_job(reader, job.public_id)
    with pytest.raises(Exception, match="No such import"):
        services.access_import_job(outsider_actor, job.public_id)
    assert list(services.import_jobs(outsider_actor)) == []


def test_the_wizard_pages_import_leads(
    member_client: Client, outsider_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    # the leads page sends to the wizard with leads chosen
    leads_page = member_client.get(reverse("sales:lead_list")).content.decode()
    assert f"{reverse('customers:import_new')}?kind=leads" in leads_page
    new = member_client.get(reverse("customers:import_new") + "?kind=leads").content.decode()
    assert '<option value="leads" selected>' in new
    # upload, then the mapping step without the customers' mode and external-id system
    response = member_client.post(
        reverse("customers:import_new"),
        {"kind": "leads", "file": SimpleUploadedFile("leads.csv", _lead_file())},
    )
    job = ImportJob.objects.get()
    page = member_client.get(response["Location"]).content.decode()
    assert 'name="mode"' not in page
    assert 'name="system"' not in page
    assert '<option value="company_name" selected>' in page
    response = member_client.post(
        response["Location"],
        {f"column_{n}": job.mapping.get(header, "") for n, header in enumerate(job.headers)}
        | {"then": "dry_run"},
    )
    page = member_client.get(response["Location"]).content.decode()
    assert "6 rows checked, nothing written" in page
    assert Lead.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(reverse("customers:import_start", args=[job.public_id]))
    page = member_client.get(response["Location"]).content.decode()
    job.refresh_from_db()
    assert (job.status, job.failure, job.created_count, job.updated_count, job.error_count) == (
        "finished",
        "",
        3,
        1,
        2,
    )
    assert 'data-testid="count-created">3<' in page
    assert reverse("sales:lead_list") in page  # "Go to Leads"
    errors = member_client.get(reverse("customers:import_errors", args=[job.public_id]))
    rows = list(csv.reader(io.StringIO(b"".join(errors.streaming_content).decode("utf-8-sig"))))
    assert [row[:2] for row in rows[1:]] == [["3", "手机"], ["4", ""]]
    assert rows[1][3] != "not-a-number"  # the value is masked
    # another workspace finds nothing
    detail = reverse("customers:import_detail", args=[job.public_id])
    assert outsider_client.get(detail).status_code == 404
    assert "leads.csv" not in outsider_client.get(reverse("customers:imports")).content.decode()
