"""Import of orders from a CSV or XLSX file: one row per order line, the rows of one order
grouped by the order number (the shop's external id), each order written by `order_upsert`, so
importing the same file again updates those orders instead of adding new ones.

The file is read with the readers of the customers import (encodings, delimiters, line numbers
as the spreadsheet shows them). Imports run in the request, for files of up to
MAX_IMPORT_LINES lines: a few thousand orders write in seconds, and the person gets the result
at once instead of a job to watch. A row that cannot be read is reported with its line and
reason; the other lines of its order are reported too and that order is left out (importing
part of an order would record a wrong total), while every other order is written.
"""

import base64
import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext as _

from huike.accounts.access import Actor
from huike.core.errors import HuikeError, InvalidInputError
from huike.core.masking import mask
from huike.customers.identities import IdentityKey, identity_key, workspace_rules
from huike.customers.imports.exports import cell_safe
from huike.customers.imports.readers import FileReadError, file_rows, file_shape, file_type_of
from huike.customers.imports.storage import (
    private_delete,
    private_name_new,
    private_path,
    private_write,
)
from huike.customers.values import parse_datetime_value, parse_money
from huike.sales.models import OrderSource, OrderStatus, PaymentStatus
from huike.sales.orders import (
    OrderData,
    OrderLineData,
    currency_clean,
    money_clean,
    order_upsert,
    quantity_clean,
)

# Lines of one file, written in the request (see the module's docstring): each order is one
# transaction of a few statements, so this many lines stay within a request's time.
MAX_IMPORT_LINES = 5000
MAX_IMPORT_BYTES = 10 * 1024 * 1024
# Rows of the error report shown on the page; the downloadable report holds all of them.
ERRORS_SHOWN = 200
SHOWN_MAX_LENGTH = 60

# Column -> the headers it is recognised by (compared lower-cased, "-" and spaces as "_").
COLUMNS: dict[str, tuple[str, ...]] = {
    "order_id": ("order_id", "external_id", "order_number", "order_no", "订单号", "订单编号"),
    "customer_id": ("customer_id", "客户id"),
    "phone": ("phone", "mobile", "customer_phone", "手机", "手机号", "电话"),
    "email": ("email", "customer_email", "邮箱", "电子邮件"),
    "customer_name": ("customer", "customer_name", "客户", "客户名称", "姓名"),
    "sku": ("sku", "product_sku", "商品编码", "货号"),
    "name": ("product", "product_name", "item", "商品", "商品名称"),
    "quantity": ("quantity", "qty", "数量"),
    "unit_price": ("unit_price", "price", "单价"),
    "currency": ("currency", "币种"),
    "status": ("status", "order_status", "订单状态"),
    "payment_status": ("payment_status", "payment", "支付状态"),
    "ordered_at": ("ordered_at", "order_date", "date", "下单时间"),
    "paid_at": ("paid_at", "payment_date", "支付时间"),
}
PERSONAL_COLUMNS = {"phone": "phone", "email": "email"}


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    reason: str
    shown: str = ""


@dataclass
class ImportReport:
    lines: int = 0
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def failed_lines(self) -> int:
        return len({error.line for error in self.errors})

    def error_csv(self) -> str:
        """The refused rows as CSV (UTF-8 with BOM for Excel), cells formula-safe, personal
        values masked: line, column, reason, value, like the customers import's report."""
        buffer = io.StringIO()
        buffer.write("\ufeff")
        writer = csv.writer(buffer)
        writer.writerow(["line", "column", "reason", "value"])
        for error in self.errors:
            writer.writerow(
                [
                    error.line,
                    *(cell_safe(text) for text in (error.column, error.reason, error.shown)),
                ]
            )
        return buffer.getvalue()

    def error_csv_data_url(self) -> str:
        encoded = base64.b64encode(self.error_csv().encode()).decode()
        return f"data:text/csv;charset=utf-8;base64,{encoded}"


@dataclass
class _Row:
    line: int
    values: dict[str, str]
    line_data: OrderLineData | None = None


def _header_key(header: str) -> str:
    return header.strip().lower().replace("-", "_").replace(" ", "_")


def columns_find(headers: Sequence[str]) -> dict[str, int]:
    """Column -> position in the file; InvalidInputError(field="file") naming what is missing."""
    known = {alias: column for column, aliases in COLUMNS.items() for alias in aliases}
    found: dict[str, int] = {}
    for position, header in enumerate(headers):
        column = known.get(_header_key(header))
        if column is not None and column not in found:
            found[column] = position
    missing = []
    if "order_id" not in found:
        missing.append("order_id")
    if not {"customer_id", "phone", "email"} & found.keys():
        missing.append("customer_id / phone / email")
    if not {"sku", "name"} & found.keys():
        missing.append("sku / product")
    if missing:
        raise InvalidInputError(
            _("The file lacks the columns: %(columns)s.") % {"columns": ", ".join(missing)},
            field="file",
        )
    return found


def _shown(column: str, value: str) -> str:
    return mask(PERSONAL_COLUMNS.get(column, "text"), value)[:SHOWN_MAX_LENGTH] if value else ""


class _Parser:
    def __init__(self, actor: Actor) -> None:
        self.currency = actor.workspace.currency
        self.tz = actor.workspace.zone
        self.region = workspace_rules(actor.workspace.pk).default_region

    def line(self, row: _Row) -> OrderLineData:
        values = row.values
        price = values.get("unit_price", "")
        unit_price: Decimal | None = None
        if price:
            amount, _currency = parse_money(
                price, default_currency=self.currency, field="unit_price"
            )
            unit_price = money_clean(amount, field="unit_price")
        return OrderLineData(
            quantity=quantity_clean(values.get("quantity") or "1", field="quantity"),
            sku=values.get("sku", ""),
            name=values.get("name", ""),
            unit_price=unit_price,
        )

    def identities(self, values: dict[str, str]) -> list[IdentityKey]:
        keys = []
        for column in ("phone", "email"):
            if values.get(column):
                try:
                    keys.append(identity_key(column, values[column], default_region=self.region))
                except InvalidInputError as error:
                    raise InvalidInputError(error.detail, field=column) from None
        return keys

    def moment(self, values: dict[str, str], column: str) -> dt.datetime | None:
        text = values.get(column, "")
        return parse_datetime_value(text, field=column, tz=self.tz) if text else None

    def choice(
        self, values: dict[str, str], column: str, choices: type[OrderStatus] | type[PaymentStatus]
    ) -> str | None:
        text = values.get(column, "").strip().lower()
        if not text:
            return None
        by_label = {str(label).lower(): value for value, label in choices.choices}
        if text in choices.values:
            return text
        if text in by_label:
            return by_label[text]
        raise InvalidInputError(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(choices.values)}, field=column
        )

    def order(self, external_id: str, first: _Row, lines: list[OrderLineData]) -> OrderData:
        values = first.values
        customer_id = values.get("customer_id", "")
        try:
            parsed_customer = uuid.UUID(customer_id) if customer_id else None
        except ValueError:
            raise InvalidInputError(_("Not a customer id."), field="customer_id") from None
        return OrderData(
            external_id=external_id,
            customer_id=parsed_customer,
            identity_keys=self.identities(values),
            customer_name=values.get("customer_name", ""),
            lines=lines,
            status=self.choice(values, "status", OrderStatus),
            payment_status=self.choice(values, "payment_status", PaymentStatus),
            currency=currency_clean(values["currency"]) if values.get("currency") else None,
            ordered_at=self.moment(values, "ordered_at"),
            paid_at=self.moment(values, "paid_at"),
            source=OrderSource.IMPORT,
        )


def _rows(
    path_name: str, file_name: str, head: bytes
) -> tuple[list[str], Iterable[tuple[int, list[str]]]]:
    file_type = file_type_of(file_name, head)
    path = private_path(path_name)
    shape = file_shape(path, file_type)
    return shape.headers, file_rows(
        path,
        file_type=file_type,
        encoding=shape.encoding,
        delimiter=shape.delimiter,
        headers=shape.headers,
    )


def _read(actor: Actor, file_name: str, content: bytes) -> list[_Row]:
    if not content:
        raise InvalidInputError(_("The file is empty."), field="file")
    if len(content) > MAX_IMPORT_BYTES:
        raise InvalidInputError(
            _("The file is larger than %(max)d MB.") % {"max": MAX_IMPORT_BYTES // (1024 * 1024)},
            field="file",
        )
    name = private_name_new("imports", "src")
    private_write(name, [content])
    try:
        headers, records = _rows(name, file_name, content[:512])
        columns = columns_find(headers)
        rows: list[_Row] = []
        for line, cells in records:
            if not any(cells):
                continue
            if len(rows) >= MAX_IMPORT_LINES:
                raise InvalidInputError(
                    _("The file has more than %(max)d lines: split it into smaller files.")
                    % {"max": MAX_IMPORT_LINES},
                    field="file",
                )
            values = {
                column: cells[position].strip() if position < len(cells) else ""
                for column, position in columns.items()
            }
            rows.append(_Row(line=line, values=values))
        return rows
    except FileReadError as error:
        raise InvalidInputError(error.detail, field="file") from None
    finally:
        private_delete(name)


def orders_import(*, actor: Actor, file_name: str, content: bytes) -> ImportReport:
    """Import the orders of a file (orders.manage); see the module's docstring. Raises
    InvalidInputError(field="file") when the file as a whole cannot be used (unreadable, too
    large, columns missing); problems of single rows are in the report."""
    actor.require("orders.manage")
    rows = _read(actor, file_name, content)
    report = ImportReport(lines=len(rows))
    parser = _Parser(actor)
    groups: dict[str, list[_Row]] = {}
    for row in rows:
        external_id = row.values.get("order_id", "")
        if not external_id:
            report.errors.append(RowError(row.line, "order_id", _("The order number is missing.")))
            continue
        try:
            row.line_data = parser.line(row)
        except InvalidInputError as error:
            column = error.field or ""
            report.errors.append(
                RowError(row.line, column, error.detail, _shown(column, row.values.get(column, "")))
            )
        groups.setdefault(external_id, []).append(row)
    for external_id, group in groups.items():
        bad = [row.line for row in group if row.line_data is None]
        if bad:
            for row in group:
                if row.line_data is not None:
                    report.errors.append(
                        RowError(
                            row.line,
                            "order_id",
                            _("Order %(order)s left out: line %(line)d of it is invalid.")
                            % {"order": external_id, "line": bad[0]},
                            _shown("order_id", external_id),
                        )
                    )
            continue
        try:
            data = parser.order(
                external_id, group[0], [row.line_data for row in group if row.line_data]
            )
            _order, created = order_upsert(actor=actor, data=data)
        except HuikeError as error:
            column = _error_column(error.field)
            for row in group:
                report.errors.append(
                    RowError(
                        row.line, column, error.detail, _shown(column, row.values.get(column, ""))
                    )
                )
            continue
        if created:
            report.created += 1
        else:
            report.updated += 1
    report.errors.sort(key=lambda error: error.line)
    return report


def _error_column(field_name: str | None) -> str:
    """The file's column of a service error's field (`lines.0.unit_price` → unit_price)."""
    name = (field_name or "").rsplit(".", 1)[-1]
    if name == "external_id":
        return "order_id"
    if name in ("customer", "identities"):
        return "customer_id"
    return name if name in COLUMNS else ""
