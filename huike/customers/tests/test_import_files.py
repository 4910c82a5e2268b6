"""Imports of messy files: encodings and delimiters Excel writes, XLSX and XML, mixed date
formats, bad rows reported by line while good rows are kept, unsafe XML refused."""

import csv
import io
from typing import Any

import pytest
from openpyxl import Workbook

from huike.accounts.access import Actor
from huike.core.crypto import workspace_keys
from huike.core.errors import InvalidInputError
from huike.customers.identities import customer_personal_value, identity_value
from huike.customers.imports import services
from huike.customers.imports.storage import private_dir
from huike.customers.models import (
    Customer,
    CustomField,
    Identity,
    ImportGroup,
    ImportJob,
    ImportRowError,
)
from huike.customers.services import custom_field_create
from huike.customers.tests.test_import_support import (  # noqa: F401
    csv_bytes,
    import_storage,
    run_job,
    upload,
)

pytestmark = pytest.mark.usefixtures("import_storage")


def _phones(workspace_id: int) -> dict[str, str]:
    """customer name -> their phones, decrypted, sorted, joined."""
    keys = workspace_keys(workspace_id)
    result: dict[str, list[str]] = {}
    for identity in Identity.objects.filter(kind="phone").select_related("customer"):
        result.setdefault(identity.customer.name, []).append(identity_value(identity, keys))
    return {name: ",".join(sorted(values)) for name, values in result.items()}


def _errors(job: ImportJob) -> list[tuple[int, str, str]]:
    return list(
        ImportRowError.objects.filter(job=job)
        .order_by("line", "pk")
        .values_list("line", "column", "reason")
    )


def test_gbk_csv_is_read_with_chinese_headers_mapped(
    owner_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    # given a CSV saved by Chinese Excel (GBK) with Chinese headers
    content = csv_bytes(
        [
            ["姓名", "手机号", "邮箱", "标签"],
            ["张三", "139 1234 5678", "ZHANG@Example.CN", "VIP、新客"],
        ],
        encoding="gbk",
    )
    # when it is uploaded
    job = upload(owner_actor, content)
    # then the encoding, columns and a mapping are found
    assert (job.file_type, job.encoding, job.delimiter) == ("csv", "gb18030", ",")
    assert job.headers == ["姓名", "手机号", "邮箱", "标签"]
    assert job.mapping == {"姓名": "name", "手机号": "phone", "邮箱": "email", "标签": "tags"}
    assert job.total_estimate == 1
    # and importing it creates the customer with normalized identities and tags
    job = run_job(owner_actor, job, django_capture_on_commit_callbacks)
    assert (job.status, job.created_count, job.error_count) == ("finished", 1, 0)
    customer = Customer.objects.get()
    assert customer.name == "张三"
    assert _phones(owner_actor.workspace.pk) == {"张三": "+8613912345678"}
    keys = workspace_keys(owner_actor.workspace.pk)
    email = Identity.objects.get(kind="email")
    assert identity_value(email, keys) == "zhang@example.cn"
    assert sorted(customer.tag_links.values_list("tag__name", flat=True)) == ["VIP", "新客"]
    assert customer.owner == owner_actor.membership


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8-sig", ";"), ("utf-8", "\t"), ("utf-8", ","), ("gb18030", ";")],
)
def test_encodings_and_delimiters_excel_writes_are_read(
    owner_actor: Actor,
    django_capture_on_commit_callbacks: Any,
    encoding: str,
    delimiter: str,
) -> None:
    # given the same sheet saved with another encoding and delimiter
    content = csv_bytes(
        [["姓名", "电话"], ["王小明", "13912345678"], ["Émile Zola", "+33 6 12 34 56 78"]],
        encoding=encoding,
        delimiter=delimiter,
    )
    # when it is imported
    job = upload(owner_actor, content)
    job = run_job(owner_actor, job, django_capture_on_commit_callbacks)
    # then the BOM is not part of the first header and both rows are in
    assert job.encoding == encoding
    assert job.delimiter == delimiter
    assert job.headers == ["姓名", "电话"]
    assert (job.created_count, job.error_count) == (2, 0)
    assert _phones(owner_actor.workspace.pk) == {
        "王小明": "+8613912345678",
        "Émile Zola": "+33612345678",
    }


def test_mixed_date_formats_are_read_and_a_bad_date_is_reported(
    owner_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    # given birthdays written in every common way, and one that is no date
    content = csv_bytes(
        [
            ["name", "phone", "birthday"],
            ["a", "13900000001", "1990-03-05"],
            ["b", "13900000002", "1990/3/5"],
            ["c", "13900000003", "1990年3月5日"],
            ["d", "13900000004", "05/03/1990"],
            ["e", "13900000005", "19900305"],
            ["f", "13900000006", "March 5, 1990"],
            ["g", "13900000007", "32/13/1990"],
        ]
    )
    # when imported
    job = run_job(owner_actor, upload(owner_actor, content), django_capture_on_commit_callbacks)
    # then six birthdays are the same day and line 8 is refused for its date
    keys = workspace_keys(owner_actor.workspace.pk)
    birthdays = {
        customer.name: customer_personal_value(customer, "birthday", keys)
        for customer in Customer.objects.all()
    }
    assert birthdays == {name: "1990-03-05" for name in "abcdef"}
    assert (job.created_count, job.error_count) == (6, 1)
    assert _errors(job) == [(8, "birthday", "This date does not exist.")]


def test_bad_rows_are_reported_by_line_while_good_rows_are_kept(
    owner_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    # given a required custom field and a file with an invalid phone, a missing required
    # value, an unknown lifecycle stage, a row with no identity and two good rows
    custom_field_create(
        actor=owner_actor, key="level", label="会员等级", type="text", is_required=True
    )
    content = csv_bytes(
        [
            ["姓名", "手机", "会员等级", "生命周期"],
            ["好一", "13912345678", "gold", "lead"],
            ["坏电话", "12345", "gold", ""],
            ["缺等级", "13912345679", "", ""],
            ["怪阶段", "13912345670", "gold", "大客户"],
            ["无号码", "", "gold", ""],
            ["好二", "+86 139 1234 5671", "silver", "客户"],
        ]
    )
    job = upload(owner_actor, content)
    assert job.mapping == {
        "姓名": "name",
        "手机": "phone",
        "会员等级": "cf:level",
        "生命周期": "lifecycle_stage",
    }
    # when imported
    job = run_job(owner_actor, job, django_capture_on_commit_callbacks)
    # then the good rows are in and every bad row is reported with its line
    assert sorted(Customer.objects.values_list("name", "lifecycle_stage", "custom_fields")) == [
        ("好一", "lead", {"level": "gold"}),
        ("好二", "customer", {"level": "silver"}),
    ]
    assert (job.rows_done, job.created_count, job.error_count) == (6, 2, 4)
    assert _errors(job) == [
        (
            3,
            "手机",
            "Not a valid phone number. Numbers from outside CN need their country code, e.g. "
            "+1 415 555 2671.",
        ),
        (4, "会员等级", "会员等级 is required."),
        (
            5,
            "生命周期",
            "Unknown choice. Use one of: churned, customer, lead, loyal, visitor.",
        ),
        (6, "", "No phone, email or external ID: the customer cannot be identified."),
    ]
    # and the downloadable error file masks the refused values
    report = "".join(services.import_error_report(job))
    assert report.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(report.lstrip("\ufeff"))))
    assert rows[0] == ["line", "column", "reason", "value"]
    assert rows[1][:2] == ["3", "手机"]
    assert rows[1][3] == "1***5"
    assert "12345" not in report


def test_duplicates_within_the_file_become_one_customer_in_upsert_mode(
    owner_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    # given the same person twice (once by phone, once by phone and email)
    content = csv_bytes(
        [
            ["name", "phone", "email"],
            ["Li", "13912345678", ""],
            ["Li Lei", "139-1234-5678", "li@example.cn"],
        ]
    )
    # when imported with upsert
    job = run_job(owner_actor, upload(owner_actor, content), django_capture_on_commit_callbacks)
    # then there is one customer holding both identities, with the later name
    assert (job.created_count, job.updated_count, job.error_count) == (1, 1, 0)
    customer = Customer.objects.get()
    assert customer.name == "Li Lei"
    assert sorted(customer.identities.values_list("kind", flat=True)) == ["email", "phone"]


def test_duplicates_within_the_file_are_errors_in_create_only_mode(
    owner_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    # given the same phone on lines 2 and 4
    content = csv_bytes(
        [["name", "phone"], ["A", "13912345678"], ["B", "13912345679"], ["C", "13912345678"]]
    )
    # when imported in create-only mode
    job = run_job(
        owner_actor,
        upload(owner_actor, content),
        django_capture_on_commit_callbacks,
        mode="create",
    )
    # then the repeat is reported and the others are created
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["A", "B"]
    assert _errors(job) == [(4, "phone", "Duplicate of line 2 in this file.")]


def _xlsx(rows: list[list[Any]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_is_read_with_numbers_and_dates_as_excel_stores_them(
    owner_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    # given a workbook where the phone is a number and the birthday a date cell
    import datetime as dt

    content = _xlsx(
        [
            ["Name", "Mobile", "Birthday", "Gender"],
            ["Wang", 13912345678, dt.datetime(1988, 12, 1), "男"],
            ["Bad", 12, None, ""],
            [None, None, None, None],
            ["Zhao", "13912345679", "1988/12/01", "女"],
        ]
    )
    # when imported
    job = upload(owner_actor, content, name="people.xlsx")
    assert (job.file_type, job.headers) == ("xlsx", ["Name", "Mobile", "Birthday", "Gender"])
    assert job.mapping == {
        "Name": "name",
        "Mobile": "phone",
        "Birthday": "birthday",
        "Gender": "gender",
    }
    job = run_job(owner_actor, job, django_capture_on_commit_callbacks)
    # then the good rows are in, the bad one is reported by its sheet row, the empty row ignored
    assert sorted(Customer.objects.values_list("name", "gender")) == [
        ("Wang", "male"),
        ("Zhao", "female"),
    ]
    assert _phones(owner_actor.workspace.pk) == {"Wang": "+8613912345678", "Zhao": "+8613912345679"}
    assert [(line, column) for line, column, _reason in _errors(job)] == [(3, "Mobile")]
    assert (job.rows_done, job.created_count, job.error_count) == (3, 2, 1)


def test_xml_records_are_read_one_element_per_row(
    owner_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    # given an XML export with one element per customer
    content = """<?xml version="1.0" encoding="UTF-8"?>
<customers>
  <customer><name>陈静</name><phone>13912345678</phone><email>chen@example.cn</email></customer>
  <customer><name>Bad</name><phone>not a phone</phone></customer>
  <customer><email>solo@example.cn</email><name>Solo</name></customer>
</customers>""".encode()
    # when imported
    job = upload(owner_actor, content, name="export.xml")
    assert (job.file_type, job.headers) == ("xml", ["name", "phone", "email"])
    job = run_job(owner_actor, job, django_capture_on_commit_callbacks)
    # then the records are customers and the bad one is reported as record line 3
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["Solo", "陈静"]
    assert [(line, column) for line, column, _reason in _errors(job)] == [(3, "phone")]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<customers><customer><name>&lol4;</name><phone>13912345678</phone></customer></customers>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE customers [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<customers><customer><name>&secret;</name><phone>13912345678</phone></customer></customers>"""


@pytest.mark.parametrize("content", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["laughs", "external"])
def test_unsafe_xml_is_refused_and_nothing_is_kept(owner_actor: Actor, content: bytes) -> None:
    # when an XML file with entities is uploaded
    with pytest.raises(InvalidInputError) as raised:
        upload(owner_actor, content, name="evil.xml")
    # then it is refused with a clear reason, and no job, file or customer remains
    assert raised.value.field == "file"
    assert raised.value.detail == (
        "This XML file declares a DTD or entities. They are refused for safety (entity "
        "expansion, external files): export the file without them."
    )
    assert ImportJob.objects.count() == 0
    assert Customer.objects.count() == 0
    assert list(private_dir().rglob("*.src")) == []


def test_files_over_the_size_limit_are_refused(
    owner_actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a limit of 1 kB
    monkeypatch.setattr(services, "MAX_UPLOAD_BYTES", 1024)
    # when a larger file is uploaded
    with pytest.raises(InvalidInputError) as raised:
        services.import_job_create(
            actor=owner_actor,
            kind="customers",
            file_name="big.csv",
            chunks=[b"name,phone\r\n", b"x" * 2000],
        )
    # then it is refused and nothing is kept
    assert raised.value.field == "file"
    assert ImportJob.objects.count() == 0
    assert list(private_dir().rglob("*.src")) == []


def test_old_excel_files_are_refused_with_advice(owner_actor: Actor) -> None:
    with pytest.raises(InvalidInputError) as raised:
        upload(owner_actor, b"\xd0\xcf\x11\xe0" + b"\0" * 100, name="old.xls")
    assert raised.value.detail == (
        "This is an old Excel file (.xls). Save it as .xlsx or CSV and upload it again."
    )


def test_the_source_file_is_deleted_when_the_job_finishes(
    owner_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    # given an uploaded file in private storage
    job = upload(owner_actor, csv_bytes([["name", "phone"], ["A", "13912345678"]]))
    stored = private_dir() / job.storage_name
    assert stored.exists()
    assert stored.stat().st_mode & 0o077 == 0
    # when the import finishes
    job = run_job(owner_actor, job, django_capture_on_commit_callbacks)
    # then the file is gone and the job says so
    assert job.status == "finished"
    assert not stored.exists()
    assert job.storage_name == ""
    assert job.file_deleted_at is not None


def test_custom_fields_are_validated_by_type_and_uniqueness(
    owner_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    # given a unique number field and a choice field
    custom_field_create(actor=owner_actor, key="card", label="Card", type="number", is_unique=True)
    custom_field_create(
        actor=owner_actor, key="tier", label="Tier", type="choice", choices=["gold", "silver"]
    )
    content = csv_bytes(
        [
            ["phone", "cf:card", "Tier"],
            ["13912345671", "1001", "gold"],
            ["13912345672", "1001", "silver"],
            ["13912345673", "abc", ""],
            ["13912345674", "1002", "bronze"],
        ]
    )
    job = upload(owner_actor, content)
    assert job.mapping == {"phone": "phone", "cf:card": "cf:card", "Tier": "cf:tier"}
    # when imported
    job = run_job(owner_actor, job, django_capture_on_commit_callbacks)
    # then only the first row is in; the others are reported for their field
    assert list(Customer.objects.values_list("custom_fields", flat=True)) == [
        {"card": 1001, "tier": "gold"}
    ]
    assert _errors(job) == [
        (3, "cf:card", "Another customer already has this Card."),
        (4, "cf:card", "Enter a number."),
        (5, "Tier", "Choose one of: gold, silver."),
    ]
    assert CustomField.objects.count() == 2


def test_stale_upload_files_are_purged_by_the_periodic_job(owner_actor: Actor) -> None:
    # given an upload left at the mapping step for 8 days, and a fresh one
    import datetime as dt

    from django.utils import timezone

    from huike.customers.imports.tasks import purge_import_export_files

    stale = upload(owner_actor, csv_bytes([["name", "phone"], ["A", "13912345678"]]))
    fresh = upload(owner_actor, csv_bytes([["name", "phone"], ["B", "13912345679"]]))
    ImportJob.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - dt.timedelta(days=8))
    stale_file = private_dir() / stale.storage_name
    # (as if a run of each had decided a record of several rows and stopped)
    for job in (stale, fresh):
        ImportGroup.objects.create(job=job, digest=f"{job.pk:064x}", first_line=2)
    # when the periodic purge runs
    assert purge_import_export_files.call() == 1
    # then only the stale file is gone, with what its run had decided (it cannot resume)
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert not stale_file.exists()
    assert (stale.storage_name, stale.file_deleted_at is not None) == ("", True)
    assert (private_dir() / fresh.storage_name).exists()
    assert list(ImportGroup.objects.values_list("job_id", flat=True)) == [fresh.pk]


def test_xml_records_may_carry_their_values_as_attributes(
    owner_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    content = (
        b'<rows><row name="Attr" mobile="13912345678"/>'
        b'<row name="Two" mobile="13912345679"/></rows>'
    )
    job = upload(owner_actor, content, name="rows.xml")
    assert (job.headers, job.mapping) == (["name", "mobile"], {"name": "name", "mobile": "phone"})
    job = run_job(owner_actor, job, django_capture_on_commit_callbacks)
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["Attr", "Two"]
