"""Importing orders from CSV and XLSX: lines grouped into orders by the order number, bad rows
reported with their line and reason while the good orders are written, re-import updating
instead of duplicating, Chinese headers in GBK, whole-file problems, and the limits."""

import io
from decimal import Decimal

import pytest
from openpyxl import Workbook

from huike.accounts.access import Actor
from huike.accounts.models import Workspace
from huike.core.errors import InvalidInputError, PermissionDeniedError
from huike.customers.models import Customer, Event
from huike.sales import orders
from huike.sales.models import Order, OrderLine
from huike.sales.order_import import MAX_IMPORT_LINES, orders_import
from huike.sales.orders import ProductData

pytestmark = pytest.mark.django_db

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
)


@pytest.fixture
def catalog(owner_actor: Actor) -> None:
    orders.product_create(
        actor=owner_actor, data=ProductData(sku="HK-1", name="Licence", price="100")
    )


def test_bad_rows_are_reported_and_good_orders_kept(
    workspace: Workspace, owner_actor: Actor, catalog: None
) -> None:
    # when
    report = orders_import(actor=owner_actor, file_name="orders.csv", content=GOOD_AND_BAD.encode())
    # then
    assert (report.lines, report.created, report.updated) == (8, 2, 0)
    assert [(error.line, error.column) for error in report.errors] == [
        (4, "quantity"),
        (5, "order_id"),
        (6, "order_id"),
        (7, "payment_status"),
        (8, "name"),
    ]
    reasons = {error.line: error.reason for error in report.errors}
    assert reasons[4] == "Enter a quantity like 2 or 1.5."
    assert reasons[5] == "Order T-2 left out: line 4 of it is invalid."
    assert reasons[6] == "The order number is missing."
    assert report.failed_lines == 5
    t1 = Order.objects.get(external_id="T-1")
    assert (t1.total, t1.payment_status, t1.source) == (Decimal("205.50"), "paid", "import")
    assert t1.ordered_at.isoformat() == "2026-11-03T02:00:00+00:00"  # 10:00 in Shanghai
    assert list(OrderLine.objects.filter(order=t1).values_list("sku", "name", "line_total")) == [
        ("HK-1", "Licence", Decimal("200.00")),
        ("", "Gift wrap", Decimal("5.50")),
    ]
    t5 = Order.objects.get(external_id="T-5")
    assert t5.total == Decimal("1234.00")
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["T-1", "T-5"]
    zhou = Customer.objects.get(name="Zhou Min")
    assert (zhou.order_count, zhou.total_spent) == (1, Decimal("205.50"))
    # the error report: line, column, reason, masked value, formula-safe
    csv_text = report.error_csv()
    assert csv_text.startswith("\ufeffline,column,reason,value\r\n4,quantity,")


def test_reimport_updates_and_adds_no_duplicates(
    workspace: Workspace, owner_actor: Actor, catalog: None
) -> None:
    # given
    content = GOOD_AND_BAD.encode()
    orders_import(actor=owner_actor, file_name="orders.csv", content=content)
    # when
    again = orders_import(actor=owner_actor, file_name="orders.csv", content=content)
    # then
    assert (again.created, again.updated) == (0, 2)
    assert Order.objects.filter(workspace=workspace).count() == 2
    assert OrderLine.objects.count() == 3
    assert Event.objects.filter(kind="order.paid").count() == 1
    zhou = Customer.objects.get(name="Zhou Min")
    assert (zhou.order_count, zhou.total_spent) == (1, Decimal("205.50"))
    assert Customer.objects.filter(workspace=workspace).count() == 2


def test_xlsx_with_chinese_headers(workspace: Workspace, owner_actor: Actor) -> None:
    # given
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["订单号", "手机", "客户", "商品名称", "数量", "单价", "支付状态"])
    sheet.append(["X-1", 13912345671, "周敏", "茶叶", 3, 12.5, "paid"])
    buffer = io.BytesIO()
    book.save(buffer)
    # when
    report = orders_import(actor=owner_actor, file_name="orders.xlsx", content=buffer.getvalue())
    # then
    assert (report.created, report.errors) == (1, [])
    order = Order.objects.get(external_id="X-1")
    assert (order.total, order.customer.name) == (Decimal("37.50"), "周敏")


def test_gbk_csv_is_read(workspace: Workspace, owner_actor: Actor) -> None:
    content = "订单号,邮箱,商品名称,数量,单价\nG-1,a@example.cn,绿茶,1,9.90\n".encode("gbk")
    report = orders_import(actor=owner_actor, file_name="orders.csv", content=content)
    assert report.created == 1
    assert Order.objects.get(external_id="G-1").total == Decimal("9.90")


def test_missing_columns_refuse_the_file(workspace: Workspace, owner_actor: Actor) -> None:
    with pytest.raises(InvalidInputError) as error:
        orders_import(actor=owner_actor, file_name="o.csv", content=b"name,quantity\nTea,1\n")
    assert error.value.field == "file"
    assert "order_id" in error.value.detail
    assert not Order.objects.exists()


def test_too_many_lines_refuse_the_file(workspace: Workspace, owner_actor: Actor) -> None:
    rows = "".join(f"L-{n},a{n}@example.cn,Tea,1,1\n" for n in range(MAX_IMPORT_LINES + 1))
    content = ("order_id,email,product,quantity,unit_price\n" + rows).encode()
    with pytest.raises(InvalidInputError) as error:
        orders_import(actor=owner_actor, file_name="o.csv", content=content)
    assert error.value.field == "file"
    assert not Order.objects.exists()


def test_rep_cannot_import(workspace: Workspace, member_actor: Actor) -> None:
    with pytest.raises(PermissionDeniedError):
        orders_import(actor=member_actor, file_name="o.csv", content=GOOD_AND_BAD.encode())
    assert not Order.objects.exists()
