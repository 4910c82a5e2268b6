"""Exports of the customer list: masking unless revealed (and then audited), the audit entry of
every export, formula injection, record visibility, and that only the member who made an
export can see or download it."""

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Role
from huike.accounts.roles import builtin_role_permissions
from huike.core.audit import AuditAction
from huike.core.models import AuditEntry
from huike.customers.identities import identity_key
from huike.customers.imports.exports import cell_safe, export_create
from huike.customers.models import Customer, ExportJob
from huike.customers.selectors import CustomerFilters
from huike.customers.services import CustomerData, customer_create, customer_tags_add, tag_create
from huike.customers.tests.test_import_support import import_storage  # noqa: F401

pytestmark = pytest.mark.usefixtures("import_storage")


@pytest.fixture
def seller(make_member: Callable[..., Membership], owner: Membership) -> Membership:
    """A sales member whose role may also export (own records only)."""
    role = Role.objects.create(
        workspace=owner.workspace,
        key="sales-export",
        name="Sales who export",
        permissions=[*builtin_role_permissions("sales"), "data.export"],
    )
    membership = make_member("seller@acme.test", "sales")
    membership.role = role
    membership.save()
    return membership


def _customer(actor: Actor, name: str, phone: str, email: str = "", **data: Any) -> Customer:
    keys = [identity_key("phone", phone)]
    if email:
        keys.append(identity_key("email", email))
    return customer_create(actor=actor, data=CustomerData(name=name, **data), identity_keys=keys)


def _download_csv(client: Client, job: ExportJob) -> list[list[str]]:
    response = client.get(reverse("customers:export_download", args=[job.public_id]))
    assert response.status_code == 200
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel reads Chinese right
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def _export(client: Client, capture: Any, **params: Any) -> ExportJob:
    with capture(execute=True):
        response = client.post(reverse("customers:export_create"), params)
    assert response.status_code == 302, response.content
    job = ExportJob.objects.latest("pk")
    assert response["Location"] == reverse("customers:export_detail", args=[job.public_id])
    return job


def test_contacts_are_masked_unless_asked_for(
    owner_actor: Actor, owner_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    # given a customer with a phone and an email
    _customer(owner_actor, "张三", "13912345678", "zhang@example.cn", lifecycle_stage="lead")
    # when the admin exports the list without asking for contacts
    job = _export(owner_client, django_capture_on_commit_callbacks)
    # then phone and email are masked
    rows = _download_csv(owner_client, job)
    assert rows[0] == [
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
    ]
    assert rows[1][1:8] == [
        "张三",
        "'+86*******5678",
        "z***@example.cn",
        "",
        "lead",
        "owner@acme.test",
        "",
    ]
    assert len(rows) == 2
    # and the export is audited with its filters and row count, no reveal
    entries = list(AuditEntry.objects.filter(action=AuditAction.EXPORT_PERFORMED))
    assert [entry.data for entry in entries] == [
        {"filters": {}, "rows": 1, "format": "csv", "include_contacts": False}
    ]
    assert entries[0].actor_label == "owner@acme.test"
    assert not AuditEntry.objects.filter(action=AuditAction.PII_REVEALED).exists()


def test_contacts_are_revealed_to_a_role_that_may_and_audited(
    owner_actor: Actor, owner_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    _customer(owner_actor, "张三", "13912345678", "zhang@example.cn")
    job = _export(owner_client, django_capture_on_commit_callbacks, include_contacts="1")
    rows = _download_csv(owner_client, job)
    assert rows[1][2:4] == ["'+8613912345678", "zhang@example.cn"]
    assert list(
        AuditEntry.objects.filter(action=AuditAction.PII_REVEALED).values_list("target_id", "data")
    ) == [(str(job.public_id), {"field": "phone, email", "rows": 1})]
    assert AuditEntry.objects.get(action=AuditAction.EXPORT_PERFORMED).data["include_contacts"]


def test_a_role_without_reveal_gets_masked_contacts_even_when_asking(
    owner_actor: Actor,
    make_member: Callable[..., Membership],
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given an analyst: may export, may not reveal
    _customer(owner_actor, "张三", "13912345678")
    analyst = Actor.for_membership(make_member("analyst@acme.test", "analyst"))
    client = Client()
    client.force_login(analyst.membership.user)  # type: ignore[union-attr]
    job = _export(client, django_capture_on_commit_callbacks, include_contacts="1", format="csv")
    assert job.include_contacts is False
    assert _download_csv(client, job)[1][2] == "'+86*******5678"
    assert not AuditEntry.objects.filter(action=AuditAction.PII_REVEALED).exists()


def test_cells_that_look_like_formulas_are_defused_in_csv_and_xlsx(
    owner_actor: Actor, owner_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    # given customers whose names a spreadsheet would run
    names = ['=HYPERLINK("http://evil")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"]
    for number, name in enumerate(names):
        _customer(owner_actor, name, f"1391234567{number}")
    # when exported as CSV and XLSX
    csv_job = _export(owner_client, django_capture_on_commit_callbacks, format="csv")
    xlsx_job = _export(owner_client, django_capture_on_commit_callbacks, format="xlsx")
    # then every such cell starts with a quote
    expected = sorted("'" + name for name in names)
    assert sorted(row[1] for row in _download_csv(owner_client, csv_job)[1:]) == expected
    response = owner_client.get(reverse("customers:export_download", args=[xlsx_job.public_id]))
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True).active
    values = [row for row in sheet.iter_rows(values_only=True)]  # type: ignore[union-attr]
    assert values[0][:3] == ("id", "name", "phone")
    assert sorted(str(row[1]) for row in values[1:]) == expected
    # names are stripped on the way in; tabs and carriage returns are defused too
    assert (cell_safe("\tx"), cell_safe("\rx")) == ("'\tx", "'\rx")
    assert cell_safe("plain") == "plain"
    assert cell_safe(12) == 12


def test_a_sales_member_exports_only_their_own_customers(
    owner_actor: Actor, seller: Membership, django_capture_on_commit_callbacks: Any
) -> None:
    # given a customer of the seller and one of the admin
    seller_actor = Actor.for_membership(seller)
    _customer(seller_actor, "Mine", "13912345671")
    _customer(owner_actor, "Not mine", "13912345672")
    client = Client()
    client.force_login(seller.user)
    # when the seller exports the whole list
    job = _export(client, django_capture_on_commit_callbacks)
    # then only their customer is in it
    assert [row[1] for row in _download_csv(client, job)[1:]] == ["Mine"]
    assert AuditEntry.objects.get(action=AuditAction.EXPORT_PERFORMED).data["rows"] == 1


def test_filters_are_the_customer_lists(
    owner_actor: Actor, owner_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    vip = tag_create(actor=owner_actor, name="VIP")
    tagged = _customer(owner_actor, "Tagged lead", "13912345671", lifecycle_stage="lead")
    _customer(owner_actor, "Untagged lead", "13912345672", lifecycle_stage="lead")
    _customer(owner_actor, "Tagged visitor", "13912345673")
    customer_tags_add(actor=owner_actor, customers=[tagged], tags=[vip])
    customer_tags_add(
        actor=owner_actor, customers=[Customer.objects.get(name="Tagged visitor")], tags=[vip]
    )
    job = _export(
        owner_client,
        django_capture_on_commit_callbacks,
        tag=[str(vip.public_id)],
        lifecycle_stage="lead",
    )
    assert [row[1] for row in _download_csv(owner_client, job)[1:]] == ["Tagged lead"]
    assert job.filters == {"tags": [str(vip.public_id)], "lifecycle_stage": "lead"}
    # an exact phone filter goes through the blind index; filters may be in the query string
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("customers:export_create") + "?phone=139+1234+5672&format=csv",
            {"csrfmiddlewaretoken": "x"},
        )
    job = ExportJob.objects.latest("pk")
    assert response["Location"] == reverse("customers:export_detail", args=[job.public_id])
    assert (job.filters, job.format) == ({"phone": "139 1234 5672"}, "csv")
    assert [row[1] for row in _download_csv(owner_client, job)[1:]] == ["Untagged lead"]


def test_only_the_member_who_exported_sees_the_export(
    owner_actor: Actor,
    owner_client: Client,
    seller: Membership,
    outsider_client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given an export of the seller
    with django_capture_on_commit_callbacks(execute=True):
        job = export_create(
            actor=Actor.for_membership(seller), filters=CustomerFilters(), format="csv"
        )
    urls = [
        reverse("customers:export_detail", args=[job.public_id]),
        reverse("customers:export_download", args=[job.public_id]),
        f"/api/v1/exports/{job.public_id}",
        f"/api/v1/exports/{job.public_id}/download",
    ]
    # then neither the admin of the workspace nor an outsider can open or download it
    for client in (owner_client, outsider_client):
        for url in urls:
            assert client.get(url).status_code == 404, url


def test_a_member_without_the_export_permission_can_not_export(
    member_client: Client, member_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        page = member_client.post(reverse("customers:export_create"))
        api = member_client.post("/api/v1/exports", {}, content_type="application/json")
    assert (page.status_code, api.status_code) == (403, 403)
    assert ExportJob.objects.count() == 0
    assert not AuditEntry.objects.filter(action=AuditAction.EXPORT_PERFORMED).exists()


def test_the_api_exports_and_downloads(
    owner_actor: Actor, owner_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    _customer(owner_actor, "李四", "13912345678", lifecycle_stage="customer")
    _customer(owner_actor, "王五", "13912345679")
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            "/api/v1/exports",
            {"filters": {"lifecycle_stage": "customer"}, "format": "xlsx"},
            content_type="application/json",
        )
    assert response.status_code == 202
    body = response.json()
    detail = owner_client.get(f"/api/v1/exports/{body['id']}").json()
    assert (detail["status"], detail["row_count"], detail["format"], detail["filters"]) == (
        "finished",
        1,
        "xlsx",
        {"lifecycle_stage": "customer"},
    )
    download = owner_client.get(f"/api/v1/exports/{body['id']}/download")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith('attachment; filename="customers-')
    sheet = load_workbook(io.BytesIO(b"".join(download.streaming_content)), read_only=True).active
    names = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]  # type: ignore[union-attr]
    assert names == ["李四"]


def test_a_filter_that_cannot_apply_is_refused_before_anything_runs(
    owner_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            "/api/v1/exports",
            {"filters": {"phone": "not a phone"}},
            content_type="application/json",
        )
        page = owner_client.post(reverse("customers:export_create"), {"created_from": "yesterday"})
    assert response.status_code == 422
    assert (
        response.json()["errors"][0]["field"] == "phone"
        or "phone" in response.json()["detail"].lower()
    )
    assert page.status_code == 400
    assert ExportJob.objects.count() == 0


def test_export_files_expire_after_their_retention(
    owner_actor: Actor, owner_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    import datetime as dt

    from django.utils import timezone

    from huike.customers.imports.storage import private_path

    # given an export finished 8 days ago
    _customer(owner_actor, "张三", "13912345678")
    job = _export(owner_client, django_capture_on_commit_callbacks)
    job.refresh_from_db()
    path = private_path(job.storage_name)
    ExportJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - dt.timedelta(days=8))
    # when its member tries to download it
    response = owner_client.get(reverse("customers:export_download", args=[job.public_id]))
    # then it is gone
    assert response.status_code == 404
    assert not path.exists()
    assert ExportJob.objects.get(pk=job.pk).storage_name == ""


def test_the_page_export_is_exactly_the_list(
    owner_actor: Actor, owner_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    from huike.customers.services import company_create, custom_field_create

    # given customers told apart by company, owner and a custom field the list filters by
    company = company_create(actor=owner_actor, data={"name": "Acme Trading"})
    custom_field_create(
        actor=owner_actor, key="level", label="Level", type="choice", choices=["gold", "basic"]
    )
    _customer(owner_actor, "At the company", "13912345601", company=company)
    _customer(owner_actor, "Gold", "13912345602", custom_fields={"level": "gold"})
    _customer(owner_actor, "Nobody's", "13912345603", owner=None)
    cases = [
        ({"company": str(company.public_id)}, ["At the company"]),
        ({"cf_level": "gold"}, ["Gold"]),
        ({"owner": "none"}, ["Nobody's"]),
    ]
    for params, names in cases:
        # when the list's filters are posted to the export
        with django_capture_on_commit_callbacks(execute=True):
            response = owner_client.post(reverse("customers:export_create"), params)
        # then the export holds what the list shows
        assert response.status_code == 302, params
        job = ExportJob.objects.latest("pk")
        assert [row[1] for row in _download_csv(owner_client, job)[1:]] == names, params
        listed = owner_client.get(reverse("customers:customer_list"), params).content.decode()
        assert all(name.replace("'", "&#x27;") in listed for name in names)
    # and a filter that does not read is refused, never widened to everything
    refused = owner_client.post(reverse("customers:export_create"), {"cf_level": "platinum"})
    assert refused.status_code == 400
    assert ExportJob.objects.count() == len(cases)
