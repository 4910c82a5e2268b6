"""The import wizard's pages and the /api/v1/imports endpoints: the whole flow through each,
and that an outsider (another workspace) gets 404 and a member who may import nothing 403
everywhere, changing nothing; one who may import only leads or orders sees no customers
import."""

import csv
import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from huike.accounts.access import Actor
from huike.accounts.tests.api_support import key_client
from huike.customers.imports import services
from huike.customers.models import Customer, ImportJob, ImportMapping
from huike.customers.tests.test_import_support import (  # noqa: F401
    csv_bytes,
    import_storage,
    upload,
)

pytestmark = pytest.mark.usefixtures("import_storage")

CONTENT = csv_bytes([["姓名", "手机"], ["张三", "13912345678"], ["坏", "1"]])


@pytest.fixture
def job(owner_actor: Actor) -> ImportJob:
    return upload(owner_actor, CONTENT)


def _page_urls(job: ImportJob) -> list[tuple[str, str]]:
    """(method, url) of every import page that names a job."""
    public_id = job.public_id
    return [
        ("get", reverse("customers:import_detail", args=[public_id])),
        ("post", reverse("customers:import_detail", args=[public_id])),
        ("post", reverse("customers:import_mapping_use", args=[public_id])),
        ("post", reverse("customers:import_dry_run", args=[public_id])),
        ("post", reverse("customers:import_start", args=[public_id])),
        ("get", reverse("customers:import_progress", args=[public_id])),
        ("get", reverse("customers:import_errors", args=[public_id])),
        ("post", reverse("customers:import_delete", args=[public_id])),
    ]


def _api_calls(job: ImportJob) -> list[tuple[str, str, dict[str, Any]]]:
    base = f"/api/v1/imports/{job.public_id}"
    mapping = {"mapping": {"姓名": "name", "手机": "phone"}, "mode": "upsert"}
    return [
        ("get", base, {}),
        ("put", f"{base}/mapping", mapping),
        ("patch", f"{base}/mapping", mapping),
        ("post", f"{base}/dry-run", {}),
        ("post", f"{base}/start", {}),
        ("get", f"{base}/errors", {}),
    ]


def _page_statuses(client: Client, job: ImportJob, capture: Any) -> set[int]:
    statuses = set()
    for method, url in _page_urls(job):
        with capture(execute=True):
            statuses.add(getattr(client, method)(url).status_code)
    return statuses


def _api_statuses(client: Client, job: ImportJob, capture: Any) -> set[int]:
    statuses = set()
    for method, url, body in _api_calls(job):
        with capture(execute=True):
            response = (
                getattr(client, method)(url, body, content_type="application/json")
                if body
                else getattr(client, method)(url)
            )
        statuses.add(response.status_code)
    return statuses


def _unchanged(job: ImportJob) -> None:
    fresh = ImportJob.objects.get(pk=job.pk)
    assert (fresh.status, fresh.mapping, fresh.dry_run, fresh.rows_done) == (
        "uploaded",
        job.mapping,
        None,
        0,
    )
    assert Customer.objects.count() == 0


def test_outsider_gets_404_on_every_import_page(
    outsider_client: Client, job: ImportJob, django_capture_on_commit_callbacks: Any
) -> None:
    assert _page_statuses(outsider_client, job, django_capture_on_commit_callbacks) == {404}
    _unchanged(job)


def test_outsider_gets_404_on_every_import_endpoint(
    outsider_client: Client, job: ImportJob, django_capture_on_commit_callbacks: Any
) -> None:
    assert _api_statuses(outsider_client, job, django_capture_on_commit_callbacks) == {404}
    assert outsider_client.get("/api/v1/imports").json() == {"items": [], "next": None}
    _unchanged(job)


def test_member_who_imports_another_kind_gets_404_on_this_job(
    make_member: Any, job: ImportJob, django_capture_on_commit_callbacks: Any
) -> None:
    # finance imports orders, not customers
    client = Client()
    client.force_login(make_member("finance@acme.test", "finance").user)
    assert _page_statuses(client, job, django_capture_on_commit_callbacks) == {404}
    assert _api_statuses(client, job, django_capture_on_commit_callbacks) == {404}
    assert client.get("/api/v1/imports").json() == {"items": [], "next": None}
    response = client.post(
        "/api/v1/imports", {"kind": "customers", "file": SimpleUploadedFile("a.csv", CONTENT)}
    )
    assert response.status_code == 403
    _unchanged(job)


def test_member_who_may_import_nothing_gets_403_everywhere(
    make_member: Any, job: ImportJob, django_capture_on_commit_callbacks: Any
) -> None:
    member_client = Client()
    member_client.force_login(make_member("reader@acme.test", "read_only").user)
    assert member_client.get(reverse("customers:imports")).status_code == 403
    assert member_client.get(reverse("customers:import_new")).status_code == 403
    assert _page_statuses(member_client, job, django_capture_on_commit_callbacks) == {403}
    assert _api_statuses(member_client, job, django_capture_on_commit_callbacks) == {403}
    assert member_client.get("/api/v1/imports").status_code == 403
    response = member_client.post(
        "/api/v1/imports", {"kind": "customers", "file": SimpleUploadedFile("a.csv", CONTENT)}
    )
    assert response.status_code == 403
    assert ImportJob.objects.count() == 1
    _unchanged(job)


def test_the_wizard_pages_import_a_file(
    owner_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    # when the file is uploaded on the first page
    response = owner_client.post(
        reverse("customers:import_new"),
        {"kind": "customers", "file": SimpleUploadedFile("people.csv", CONTENT)},
    )
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:import_detail", args=[job.public_id])
    # then the mapping step shows each column with its suggested field
    page = owner_client.get(response["Location"]).content.decode()
    assert '<option value="name" selected>' in page
    assert '<option value="phone" selected>' in page
    # when the mapping is saved with a dry run
    response = owner_client.post(
        response["Location"],
        {
            "column_0": "name",
            "column_1": "phone",
            "mode": "upsert",
            "system": "import",
            "save_as": "Simple",
            "then": "dry_run",
        },
    )
    assert response.status_code == 302
    page = owner_client.get(response["Location"]).content.decode()
    assert 'data-testid="dry-run-result"' in page
    assert "2 rows checked, nothing written" in page
    assert Customer.objects.count() == 0
    assert ImportMapping.objects.get().name == "Simple"
    # when started
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("customers:import_start", args=[job.public_id]))
    # then the job page shows the finished counts and the error file
    page = owner_client.get(response["Location"]).content.decode()
    assert 'data-testid="count-created">1<' in page
    assert 'data-testid="count-errors">1<' in page
    assert reverse("customers:import_errors", args=[job.public_id]) in page
    progress = owner_client.get(
        reverse("customers:import_progress", args=[job.public_id]), headers={"HX-Request": "true"}
    )
    assert progress.status_code == 200
    assert b"hx-trigger" not in progress.content  # finished: no more polling
    errors = owner_client.get(reverse("customers:import_errors", args=[job.public_id]))
    rows = list(csv.reader(io.StringIO(b"".join(errors.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == ["line", "column", "reason", "value"]
    assert [row[:2] for row in rows[1:]] == [["3", "手机"]]
    listing = owner_client.get(reverse("customers:imports")).content.decode()
    assert "people.csv" in listing


def test_the_progress_panel_polls_while_the_job_runs(owner_client: Client, job: ImportJob) -> None:
    ImportJob.objects.filter(pk=job.pk).update(status="running", total_estimate=4, rows_done=1)
    response = owner_client.get(
        reverse("customers:import_progress", args=[job.public_id]), headers={"HX-Request": "true"}
    )
    page = response.content.decode()
    assert 'hx-trigger="every 2s"' in page
    assert "1 of about 4 rows (25%)" in page


def test_the_api_imports_a_file(
    owner_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    # when a file is posted
    response = owner_client.post(
        "/api/v1/imports", {"kind": "customers", "file": SimpleUploadedFile("a.csv", CONTENT)}
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["headers"], body["mapping"], body["encoding"]) == (
        "uploaded",
        ["姓名", "手机"],
        {"姓名": "name", "手机": "phone"},
        "utf-8",
    )
    base = f"/api/v1/imports/{body['id']}"
    # and mapped, dry-run and started
    response = owner_client.put(
        f"{base}/mapping",
        {"mapping": body["mapping"], "mode": "create", "system": "erp"},
        content_type="application/json",
    )
    assert (response.status_code, response.json()["status"], response.json()["system"]) == (
        200,
        "ready",
        "erp",
    )
    response = owner_client.patch(
        f"{base}/mapping", {"mode": "upsert"}, content_type="application/json"
    )
    assert (response.json()["mode"], response.json()["system"]) == ("upsert", "erp")
    dry = owner_client.post(f"{base}/dry-run").json()
    assert dry["totals"] == {"create": 1, "update": 0, "skip": 0, "error": 1}
    assert dry["rows"][1]["line"] == 3
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"{base}/start")
    assert response.status_code == 202
    # then the job reports its progress and counts
    detail = owner_client.get(base).json()
    assert (detail["status"], detail["percent"], detail["rows_done"]) == ("finished", 100, 2)
    assert detail["counts"] == {"created": 1, "updated": 0, "skipped": 0, "errors": 1}
    errors = owner_client.get(f"{base}/errors")
    assert errors["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(errors.streaming_content).decode("utf-8-sig")
    assert text.splitlines()[1].startswith('3,手机,"Not a valid phone number.')
    listed = owner_client.get("/api/v1/imports").json()
    assert [item["id"] for item in listed["items"]] == [body["id"]]
    # and starting again is a conflict
    assert owner_client.post(f"{base}/start").status_code == 409


def test_api_refuses_unsafe_xml_with_a_problem(owner_client: Client) -> None:
    from huike.customers.tests.test_import_files import BILLION_LAUGHS

    response = owner_client.post(
        "/api/v1/imports", {"file": SimpleUploadedFile("x.xml", BILLION_LAUGHS)}
    )
    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/problem+json")
    assert "DTD or entities" in response.json()["detail"]
    assert ImportJob.objects.count() == 0


def test_an_api_key_imports_as_itself(
    owner_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    client = key_client(owner_actor.workspace, "manager")
    response = client.post(
        "/api/v1/imports", {"kind": "customers", "file": SimpleUploadedFile("a.csv", CONTENT)}
    )
    assert response.status_code == 201
    job = ImportJob.objects.get()
    services.import_mapping_set(actor=owner_actor, job=job, mapping=job.mapping, mode="upsert")
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/api/v1/imports/{job.public_id}/start").status_code == 202
    job.refresh_from_db()
    assert (job.status, job.created_count, job.created_by_label) == (
        "finished",
        1,
        job.created_by_label,
    )
    assert job.created_by_label.startswith("api_key:")
    assert Customer.objects.get().owner is None


def test_a_bad_mapping_is_a_problem_naming_the_field(owner_client: Client, job: ImportJob) -> None:
    response = owner_client.put(
        f"/api/v1/imports/{job.public_id}/mapping",
        {"mapping": {"没有这列": "phone"}, "mode": "upsert"},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "The file has no column 没有这列."
    assert ImportJob.objects.get(pk=job.pk).status == "uploaded"


def test_a_rep_who_may_import_leads_only_finds_no_customers_import(
    member_client: Client, job: ImportJob, django_capture_on_commit_callbacks: Any
) -> None:
    # the sales role imports leads (leads.manage), not customers (customers.import)
    for method, url in _page_urls(job):
        with django_capture_on_commit_callbacks(execute=True):
            response = getattr(member_client, method)(url)
        assert response.status_code == 404, (method, url)
    assert "customers.csv" not in member_client.get(reverse("customers:imports")).content.decode()
    assert member_client.get("/api/v1/imports").json() == {"items": [], "next": None}
    new = member_client.get(reverse("customers:import_new")).content.decode()
    assert '<option value="leads"' in new
    assert '<option value="customers"' not in new
    response = member_client.post(
        reverse("customers:import_new"),
        {"kind": "customers", "file": SimpleUploadedFile("a.csv", CONTENT)},
    )
    assert response.status_code == 200  # the form refuses a kind it does not offer
    api = member_client.post(
        "/api/v1/imports", {"kind": "customers", "file": SimpleUploadedFile("a.csv", CONTENT)}
    )
    assert api.status_code == 403
    assert ImportJob.objects.count() == 1
    _unchanged(job)
