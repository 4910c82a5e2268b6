"""Orders through the customers import: lines grouped into orders by the order number, bad rows
reported with their line and reason while the good orders are written, re-import updating
instead of duplicating, Chinese headers in XLSX and GBK, the mapping's required columns,
batches that never split an order, an order's rows scattered over batches, a run killed
mid-way resuming without an order twice, and who may import orders."""

import csv
import dataclasses
import io
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from openpyxl import Workbook

from huike.accounts.access import Actor
from huike.accounts.models import Workspace
from huike.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from huike.customers.imports import kinds, services
from huike.customers.imports.tasks import run_import
from huike.customers.models import Customer, Event, ImportGroup, ImportJob, ImportRowError
from huike.customers.tests.test_import_support import (  # noqa: F401
    csv_bytes,
    import_storage,
    run_job,
    upload,
)
from huike.sales import orders
from huike.sales.models import Order, OrderLine
from huike.sales.orders import ProductData
from huike.sales.tests.test_orders_support import client_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("import_storage")]

GOOD_AND_BAD = (
    "order_id,phone,customer,sku,product,quantity,unit_price,payment_status,ordered_at\n"
    "T-1,13912345671,Zhou Min,HK-1,,2,,paid,2026-11-03 10:00\n"
    "T-1,13912345671,Zhou Min,,Gift wrap,1,5.50,paid,2026-11-03 10:00\n"
    "T-2,13912345672,Li Na,,Tea,abc,3,,2026-11-04\n"
    "T-2,13912345672,Li Na,,Cup,1,8,,2026-11-04\n"
    ",13912345673,Wang Wu,,Tea,1,3,,\n"
    "T-3,13912345674,Chen Jie,,Tea,1,3,refunded-ish,\n"
    "T-4,13912345675,Sun Li,NOPE,,1,,,\n"
    'T-5,13912345676,Ma Lan,,Pot,1,"¥1,234.00",unpaid,2026-11-05\n'
).encode()


@pytest.fixture
def catalog(owner_actor: Actor) -> None:
    orders.product_create(
        actor=owner_actor, data=ProductData(sku="HK-1", name="Licence", price="100")
    )


def _errors(job: ImportJob) -> list[tuple[int, str, str]]:
    return list(
        ImportRowError.objects.filter(job=job)
        .order_by("line")
        .values_list("line", "column", "reason")
    )


def _order_rows(count: int, lines_each: int = 2) -> list[list[str]]:
    rows = [["order_id", "email", "product", "quantity", "unit_price"]]
    for number in range(count):
        for line in range(lines_each):
            rows.append([f"B-{number}", f"b{number}@example.cn", f"Item {line}", "1", "2"])
    return rows


def test_bad_rows_are_reported_and_good_orders_kept(
    workspace: Workspace, owner_actor: Actor, catalog: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given the suggested mapping of the headers
    job = upload(owner_actor, GOOD_AND_BAD, name="orders.csv", kind="orders")
    assert job.mapping == {
        "order_id": "order_id",
        "phone": "phone",
        "customer": "customer_name",
        "sku": "sku",
        "product": "name",
        "quantity": "quantity",
        "unit_price": "unit_price",
        "payment_status": "payment_status",
        "ordered_at": "ordered_at",
    }
    # when
    job = run_job(owner_actor, job, django_capture_on_commit_callbacks)
    # then two orders of three rows; the five other rows reported by line and column
    assert job.status == ImportJob.Status.FINISHED
    assert (job.rows_done, job.created_count, job.updated_count, job.error_count) == (8, 3, 0, 5)
    errors = _errors(job)
    assert [(line, column) for line, column, _reason in errors] == [
        (4, "quantity"),
        (5, "order_id"),
        (6, "order_id"),
        (7, "payment_status"),
        (8, "product"),
    ]
    reasons = {line: reason for line, _column, reason in errors}
    assert reasons[4] == "Enter a quantity like 2 or 1.5."
    assert reasons[5] == "Order T-2 left out: line 4 of it is invalid."
    assert reasons[6] == "The order number is missing."
    t1 = Order.objects.get(external_id="T-1")
    assert (t1.total, t1.payment_status, t1.source) == (Decimal("205.50"), "paid", "import")
    assert t1.ordered_at.isoformat() == "2026-11-03T02:00:00+00:00"  # 10:00 in Shanghai
    assert list(OrderLine.objects.filter(order=t1).values_list("sku", "name", "line_total")) == [
        ("HK-1", "Licence", Decimal("200.00")),
        ("", "Gift wrap", Decimal("5.50")),
    ]
    assert Order.objects.get(external_id="T-5").total == Decimal("1234.00")
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["T-1", "T-5"]
    zhou = Customer.objects.get(name="Zhou Min")
    assert (zhou.order_count, zhou.total_spent) == (1, Decimal("205.50"))


def test_the_dry_run_of_a_long_file_ends_with_a_whole_order(
    owner_actor: Actor, monkeypatch: Any
) -> None:
    # given a dry run of three rows, and orders of two
    spec = kinds.import_kind("orders")
    monkeypatch.setitem(kinds._KINDS, "orders", dataclasses.replace(spec, dry_run_rows=3))
    job = upload(owner_actor, csv_bytes(_order_rows(5)), kind="orders")
    services.import_mapping_set(actor=owner_actor, job=job, mapping=job.mapping, mode="upsert")
    # when
    report = services.import_dry_run(actor=owner_actor, job=job)
    # then it decided two whole orders and says it saw only the head of the file
    assert (report["checked"], report["is_complete"]) == (4, False)
    assert report["totals"]["create"] == 4
    assert not Order.objects.exists()


def test_the_dry_run_decides_orders_and_writes_nothing(
    owner_actor: Actor, catalog: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    job = upload(owner_actor, GOOD_AND_BAD, kind="orders")
    services.import_mapping_set(actor=owner_actor, job=job, mapping=job.mapping, mode="upsert")
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        report = services.import_dry_run(actor=owner_actor, job=job)
    # then the run's decisions, and nothing kept
    assert report["totals"] == {"create": 3, "update": 0, "skip": 0, "error": 5}
    assert report["is_complete"] is True
    assert (Order.objects.count(), Customer.objects.count(), Event.objects.count()) == (0, 0, 0)
    assert callbacks == []


def test_reimport_updates_and_adds_no_duplicates(
    workspace: Workspace, owner_actor: Actor, catalog: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    run_job(
        owner_actor,
        upload(owner_actor, GOOD_AND_BAD, kind="orders"),
        django_capture_on_commit_callbacks,
    )
    # when the same file comes again
    again = run_job(
        owner_actor,
        upload(owner_actor, GOOD_AND_BAD, kind="orders"),
        django_capture_on_commit_callbacks,
    )
    # then
    assert (again.created_count, again.updated_count, again.error_count) == (0, 3, 5)
    assert Order.objects.filter(workspace=workspace).count() == 2
    assert OrderLine.objects.count() == 3
    assert Event.objects.filter(kind="order.paid").count() == 1
    zhou = Customer.objects.get(name="Zhou Min")
    assert (zhou.order_count, zhou.total_spent) == (1, Decimal("205.50"))
    assert Customer.objects.filter(workspace=workspace).count() == 2


def test_xlsx_with_chinese_headers(
    owner_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["订单号", "手机", "客户", "商品名称", "数量", "单价", "支付状态"])
    sheet.append(["X-1", 13912345671, "周敏", "茶叶", 3, 12.5, "paid"])
    buffer = io.BytesIO()
    book.save(buffer)
    # when
    job = upload(owner_actor, buffer.getvalue(), name="orders.xlsx", kind="orders")
    job = run_job(owner_actor, job, django_capture_on_commit_callbacks)
    # then
    assert (job.created_count, job.error_count) == (1, 0)
    order = Order.objects.get(external_id="X-1")
    assert (order.total, order.customer.name, order.payment_status) == (
        Decimal("37.50"),
        "周敏",
        "paid",
    )


def test_gbk_csv_is_read(owner_actor: Actor, django_capture_on_commit_callbacks: Any) -> None:
    content = "订单号,邮箱,商品名称,数量,单价\nG-1,a@example.cn,绿茶,1,9.90\n".encode("gbk")
    job = run_job(
        owner_actor, upload(owner_actor, content, kind="orders"), django_capture_on_commit_callbacks
    )
    assert job.created_count == 1
    assert Order.objects.get(external_id="G-1").total == Decimal("9.90")


def test_a_mapping_without_order_customer_or_product_is_refused(owner_actor: Actor) -> None:
    job = upload(owner_actor, b"name,quantity\nTea,1\n", kind="orders")
    with pytest.raises(InvalidInputError) as error:
        services.import_mapping_set(
            actor=owner_actor,
            job=job,
            mapping={"name": "name", "quantity": "quantity"},
            mode="upsert",
        )
    assert "Order number" in error.value.detail
    assert "a customer ID, phone or email" in error.value.detail
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UPLOADED


def test_batches_end_between_orders_only(
    owner_actor: Actor, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given orders of three lines in batches of two rows: every batch cut falls inside one
    monkeypatch.setattr(services, "BATCH_SIZE", 2)
    job = upload(owner_actor, csv_bytes(_order_rows(4, lines_each=3)), kind="orders")
    # when
    job = run_job(owner_actor, job, django_capture_on_commit_callbacks)
    # then each order got all its lines
    assert (job.status, job.created_count, job.error_count) == ("finished", 12, 0)
    assert [order.total for order in Order.objects.order_by("external_id")] == [Decimal("6.00")] * 4
    assert OrderLine.objects.count() == 12


def test_rows_of_an_order_after_other_orders_are_refused(
    owner_actor: Actor, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given a file whose last row belongs to the first order, two batches later
    monkeypatch.setattr(services, "BATCH_SIZE", 2)
    rows = [*_order_rows(3), ["B-0", "b0@example.cn", "Late", "1", "50"]]
    # when
    job = run_job(
        owner_actor,
        upload(owner_actor, csv_bytes(rows), kind="orders"),
        django_capture_on_commit_callbacks,
    )
    # then the order keeps the lines written with it, and the late row says why it is not there
    assert (job.created_count, job.error_count) == (6, 1)
    [(line, column, reason)] = _errors(job)
    assert (line, column) == (8, "order_id")
    assert reason.startswith("The rows of this order_id from line 2 on were imported or refused")
    assert Order.objects.get(external_id="B-0").total == Decimal("4.00")
    assert not ImportGroup.objects.exists()  # the run's record of decided orders is gone


def test_rows_of_a_left_out_order_in_a_later_batch_are_refused_too(
    owner_actor: Actor, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given an order left out for a bad line, with one more row of it two batches later
    monkeypatch.setattr(services, "BATCH_SIZE", 2)
    rows = [
        ["order_id", "email", "product", "quantity", "unit_price"],
        ["A-1", "a@example.cn", "Tea", "abc", "3"],
        ["A-1", "a@example.cn", "Cup", "1", "8"],
        ["B-1", "b@example.cn", "Tea", "1", "3"],
        ["B-1", "b@example.cn", "Cup", "1", "8"],
        ["A-1", "a@example.cn", "Pot", "1", "50"],
    ]
    # when
    job = run_job(
        owner_actor,
        upload(owner_actor, csv_bytes(rows), kind="orders"),
        django_capture_on_commit_callbacks,
    )
    # then A-1 is not written from its late row alone
    assert [(line, column) for line, column, _reason in _errors(job)] == [
        (2, "quantity"),
        (3, "order_id"),
        (6, "order_id"),
    ]
    assert list(Order.objects.values_list("external_id", flat=True)) == ["B-1"]


def test_an_order_longer_than_the_limit_is_refused_whole(
    owner_actor: Actor, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given orders of at most two lines, batches of two rows, and an order of five rows
    monkeypatch.setattr(services, "BATCH_SIZE", 2)
    monkeypatch.setattr(orders, "MAX_ORDER_LINES", 2)
    spec = kinds.import_kind("orders")
    monkeypatch.setitem(kinds._KINDS, "orders", dataclasses.replace(spec, group_max_rows=2))
    rows = [*_order_rows(1, lines_each=5), ["C-1", "c@example.cn", "Tea", "1", "3"]]
    # when
    job = run_job(
        owner_actor,
        upload(owner_actor, csv_bytes(rows), kind="orders"),
        django_capture_on_commit_callbacks,
    )
    # then its first four rows (one batch) are refused for its length, the fifth as its rest
    errors = _errors(job)
    assert [(line, column) for line, column, _reason in errors] == [
        (line, "order_id") for line in range(2, 7)
    ]
    assert errors[0][2] == "An order has at most 2 lines."
    assert errors[4][2].startswith("The rows of this order_id from line 2 on")
    assert list(Order.objects.values_list("external_id", flat=True)) == ["C-1"]


def test_a_refused_phone_is_reported_masked_under_its_column(
    owner_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    rows = [["单号", "手机", "商品", "数量"], ["P-1", "1391234567x", "Tea", "1"]]
    job = upload(owner_actor, csv_bytes(rows), kind="orders")
    job = run_job(
        owner_actor,
        job,
        django_capture_on_commit_callbacks,
        mapping={"单号": "order_id", "手机": "phone", "商品": "name", "数量": "quantity"},
    )
    [error] = ImportRowError.objects.filter(job=job)
    assert (error.line, error.column) == (2, "手机")
    assert error.shown == "139****567x"  # masked as phones are


def test_rows_of_an_order_apart_in_one_batch_are_one_order(
    owner_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    rows = [*_order_rows(2), ["B-0", "b0@example.cn", "Late", "1", "50"]]
    job = run_job(
        owner_actor,
        upload(owner_actor, csv_bytes(rows), kind="orders"),
        django_capture_on_commit_callbacks,
    )
    assert (job.created_count, job.error_count) == (5, 0)
    assert Order.objects.get(external_id="B-0").total == Decimal("54.00")


def test_an_unknown_sku_names_its_row(
    owner_actor: Actor, catalog: None, django_capture_on_commit_callbacks: Any
) -> None:
    rows = [
        ["order_id", "email", "sku", "quantity"],
        ["S-1", "s@example.cn", "HK-1", "1"],
        ["S-1", "s@example.cn", "NOPE", "1"],
    ]
    job = run_job(
        owner_actor,
        upload(owner_actor, csv_bytes(rows), kind="orders"),
        django_capture_on_commit_callbacks,
    )
    assert _errors(job) == [
        (2, "order_id", "Order S-1 left out: line 3 of it is invalid."),
        (3, "sku", "Name the line, or give the SKU or id of a product in the catalog."),
    ]
    assert not Order.objects.exists()


def test_an_interrupted_order_import_resumes_without_an_order_twice(
    owner_actor: Actor, settings: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given 12 orders of two lines in batches of three rows (so every batch takes one row more,
    # to end between orders: four rows), and a worker dying in the third
    monkeypatch.setattr(services, "BATCH_SIZE", 3)
    job = upload(owner_actor, csv_bytes(_order_rows(12)), kind="orders")
    services.import_mapping_set(actor=owner_actor, job=job, mapping=job.mapping, mode="upsert")
    settings.HUIKE_IMPORT_CRASH_AFTER_BATCHES = 2
    with django_capture_on_commit_callbacks(execute=True):
        services.import_start(actor=owner_actor, job=job)
    job.refresh_from_db()
    assert (job.status, job.rows_done, Order.objects.count()) == ("running", 8, 4)
    # when the worker's recovery runs it again
    del settings.HUIKE_IMPORT_CRASH_AFTER_BATCHES
    with django_capture_on_commit_callbacks(execute=True):
        run_import.enqueue(job.pk)
    # then
    job.refresh_from_db()
    assert (job.status, job.created_count, job.error_count) == ("finished", 24, 0)
    assert Order.objects.count() == Customer.objects.count() == 12
    assert OrderLine.objects.count() == 24
    assert Event.objects.filter(kind="order.created").count() == 12


def test_who_may_import_orders(
    member_actor: Actor, outsider_actor: Actor, make_member: Any
) -> None:
    finance = make_member("finance@acme.test", "finance")
    with pytest.raises(PermissionDeniedError):
        upload(member_actor, GOOD_AND_BAD, kind="orders")  # a rep does not change orders
    finance_actor = Actor.for_membership(finance)
    job = upload(finance_actor, GOOD_AND_BAD, kind="orders")
    with pytest.raises(NotFoundError):  # a rep imports leads, and sees no other kind's imports
        services.access_import_job(member_actor, job.public_id)
    with pytest.raises(NotFoundError):
        services.access_import_job(outsider_actor, job.public_id)
    assert list(services.import_jobs(outsider_actor)) == []
    assert list(services.import_jobs(member_actor)) == []


def test_the_wizard_pages_import_orders(
    make_member: Any,
    catalog: None,
    member_client: Client,
    outsider_client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = client_of(make_member("finance@acme.test", "finance"))
    # the order list sends to the wizard with orders chosen; a rep's has no button
    order_list = client.get(reverse("sales:order_list")).content.decode()
    assert f"{reverse('customers:import_new')}?kind=orders" in order_list
    rep_list = member_client.get(reverse("sales:order_list")).content.decode()
    assert "?kind=orders" not in rep_list
    assert member_client.get(reverse("customers:import_new") + "?kind=orders").status_code == 403
    assert client.get(reverse("customers:import_new") + "?kind=bogus").status_code == 200
    new = client.get(reverse("customers:import_new") + "?kind=orders").content.decode()
    assert '<option value="orders" selected>' in new
    # upload, map without the customers' mode and system, dry run, start
    response = client.post(
        reverse("customers:import_new"),
        {"kind": "orders", "file": SimpleUploadedFile("orders.csv", GOOD_AND_BAD)},
    )
    job = ImportJob.objects.get()
    page = client.get(response["Location"]).content.decode()
    assert 'name="mode"' not in page
    assert '<option value="customer_name" selected>' in page
    response = client.post(
        response["Location"],
        {f"column_{n}": job.mapping.get(header, "") for n, header in enumerate(job.headers)}
        | {"then": "dry_run"},
    )
    page = client.get(response["Location"]).content.decode()
    assert "8 rows checked, nothing written" in page
    assert not Order.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("customers:import_start", args=[job.public_id]))
    page = client.get(response["Location"]).content.decode()
    job.refresh_from_db()
    assert (job.status, job.created_count, job.error_count) == ("finished", 3, 5)
    assert reverse("sales:order_list") in page  # "Go to Orders"
    errors = client.get(reverse("customers:import_errors", args=[job.public_id]))
    rows = list(csv.reader(io.StringIO(b"".join(errors.streaming_content).decode("utf-8-sig"))))
    assert [row[:2] for row in rows[1:]] == [
        ["4", "quantity"],
        ["5", "order_id"],
        ["6", "order_id"],
        ["7", "payment_status"],
        ["8", "product"],
    ]
    # a rep and another workspace find nothing
    detail = reverse("customers:import_detail", args=[job.public_id])
    assert member_client.get(detail).status_code == 404
    assert outsider_client.get(detail).status_code == 404
    assert "orders.csv" not in outsider_client.get(reverse("customers:imports")).content.decode()


def test_a_deal_id_column_links_the_order_to_the_deal(
    workspace: Workspace, owner_actor: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    # given a deal of a customer known by email (imported, so the email finds them)
    from huike.sales.tests.test_orders_support import make_deal

    customer_rows = [["email", "name"], ["d@example.cn", "Lin Wei"]]
    run_job(
        owner_actor,
        upload(owner_actor, csv_bytes(customer_rows)),
        django_capture_on_commit_callbacks,
    )
    deal = make_deal(workspace, customer=Customer.objects.get(name="Lin Wei"), owner=None)
    rows = [
        ["订单号", "邮箱", "商品名称", "单价", "商机ID"],
        ["D-1", "d@example.cn", "Tea", "3", str(deal.public_id)],
        ["D-2", "d@example.cn", "Tea", "3", "not-an-id"],
    ]
    # when
    job = run_job(
        owner_actor,
        upload(owner_actor, csv_bytes(rows), kind="orders"),
        django_capture_on_commit_callbacks,
    )
    # then
    assert job.mapping["商机ID"] == "deal_id"
    assert Order.objects.get(external_id="D-1").deal_id == deal.pk
    assert _errors(job) == [(3, "商机ID", "Not a deal id.")]
