"""Orders through the customers import (huike.customers.imports), registered as the import
kind `orders`: the same upload (CSV, XLSX, XML up to 100 MB), column mapping, dry run,
checkpointed background run with progress, and error report by line as customers and leads.

A file has one row per order line; the rows of one order share its order number (the shop's
external id) and are written together by `order_upsert`, so importing the same file again
updates those orders instead of adding new ones. The run's batches end only between orders
(the kind's `group_by`), so an order whose rows are consecutive is decided whole, in one
transaction with the job's checkpoint: a run that dies resumes after the last written order
without writing one twice.

A row that cannot be read is reported with its line and reason; the other rows of its order
are reported too and that order is left out (importing part of an order would record a wrong
total), while every other order is written. Rows of one order apart in the file are one order
when they fall in the same batch; a row of an order that an earlier batch decided — wrote or
left out — is refused and says so (the import remembers the orders it decided, ImportGroup),
as are the rows of an order longer than MAX_ORDER_LINES past a batch's end.
Counts are of rows: the rows of a new order count as created, those of an existing one as
updated.
"""

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huike.core.errors import HuikeError, InvalidInputError
from huike.customers.identities import IdentityKey, identity_key
from huike.customers.imports.kinds import ImportKindSpec, import_kind_register
from huike.customers.imports.mapping import Target
from huike.customers.imports.pipeline import (
    CREATE,
    ERROR,
    UPDATE,
    BatchResult,
    ImportContext,
    RowOutcome,
    RowProblem,
    problem,
)
from huike.customers.values import parse_datetime_value, parse_money
from huike.sales.models import OrderSource, OrderStatus, PaymentStatus
from huike.sales.orders import (
    MAX_ORDER_LINES,
    OrderData,
    OrderLineData,
    currency_clean,
    money_clean,
    order_upsert,
    quantity_clean,
)

KIND = "orders"
# Writing an order resolves its customer and records its events (about 15 ms an order on
# PostgreSQL here, bench/RESULTS.md): the dry run, in the request, decides fewer rows than a
# customers import's — some 100 orders of two lines in under two seconds — and a run's batch
# (one transaction, holding the orders and customers it writes) about 250 orders.
DRY_RUN_ROWS = 200
BATCH_ROWS = 500
MASKED = {"phone": "phone", "email": "email"}
# A service error names a field the file may not have a column for: the columns to report it
# under instead (a line without a name whose SKU is not in the catalog is the SKU's fault; a
# customer the identities name is the phone's or the email's).
UNMAPPED_BLAME = {"name": ("sku",), "customer_id": ("phone", "email")}

ORDER_TARGETS: tuple[Target, ...] = (
    Target(
        "order_id",
        gettext_lazy("Order number"),
        aliases=("orderid", "externalid", "ordernumber", "orderno", "订单号", "订单编号"),
    ),
    Target("customer_id", gettext_lazy("Customer ID"), aliases=("customerid", "客户id")),
    Target(
        "phone",
        gettext_lazy("Phone"),
        aliases=("phone", "mobile", "customerphone", "手机", "手机号", "电话"),
    ),
    Target("email", gettext_lazy("Email"), aliases=("email", "customeremail", "邮箱", "电子邮件")),
    Target(
        "customer_name",
        gettext_lazy("Customer name"),
        aliases=("customer", "customername", "客户", "客户名称", "姓名"),
    ),
    Target("sku", gettext_lazy("SKU"), aliases=("sku", "productsku", "商品编码", "货号")),
    Target(
        "name",
        gettext_lazy("Product"),
        aliases=("product", "productname", "item", "商品", "商品名称"),
    ),
    Target("quantity", gettext_lazy("Quantity"), aliases=("quantity", "qty", "数量")),
    Target("unit_price", gettext_lazy("Unit price"), aliases=("unitprice", "price", "单价")),
    Target("currency", gettext_lazy("Currency"), aliases=("currency", "币种")),
    Target("status", gettext_lazy("Order status"), aliases=("status", "orderstatus", "订单状态")),
    Target(
        "payment_status",
        gettext_lazy("Payment status"),
        aliases=("paymentstatus", "payment", "支付状态"),
    ),
    Target(
        "ordered_at",
        gettext_lazy("Ordered at"),
        aliases=("orderedat", "orderdate", "date", "下单时间"),
    ),
    Target("paid_at", gettext_lazy("Paid at"), aliases=("paidat", "paymentdate", "支付时间")),
    Target("deal_id", gettext_lazy("Deal ID"), aliases=("dealid", "商机id")),
)


def orders_mapping_check(targets: Collection[str]) -> str:
    chosen = set(targets)
    missing = []
    if "order_id" not in chosen:
        missing.append(str(gettext_lazy("Order number")))
    if not {"customer_id", "phone", "email"} & chosen:
        missing.append(_("a customer ID, phone or email"))
    if not {"sku", "name"} & chosen:
        missing.append(_("a SKU or product"))
    if missing:
        return _("Choose a column for: %(columns)s.") % {"columns": ", ".join(missing)}
    return ""


@dataclass
class _Row:
    line: int
    values: dict[str, str]
    line_data: OrderLineData | None = None
    problem: RowProblem | None = None


def _values(context: ImportContext, cells: Sequence[str]) -> dict[str, str]:
    """Target -> the row's text (stripped) for the mapped columns that have one."""
    values = {}
    for index, _header, target in context.columns:
        text = cells[index].strip() if index < len(cells) and cells[index] else ""
        if text:
            values[target] = text
    return values


class _Parser:
    def __init__(self, context: ImportContext) -> None:
        self.context = context
        self.headers = {target: header for _index, header, target in context.columns}

    def problem(self, error: HuikeError, values: dict[str, str]) -> RowProblem:
        target = _error_target(error.field)
        if target not in self.headers:
            target = next(
                (other for other in UNMAPPED_BLAME.get(target, ()) if other in self.headers),
                target,
            )
        return problem(
            self.headers.get(target, target),
            error.detail,
            values.get(target, ""),
            MASKED.get(target, "text"),
        )

    def line(self, values: dict[str, str]) -> OrderLineData:
        price = values.get("unit_price", "")
        unit_price: Decimal | None = None
        if price:
            amount, _currency = parse_money(
                price, default_currency=self.context.currency, field="unit_price"
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
                    keys.append(
                        identity_key(column, values[column], default_region=self.context.region)
                    )
                except InvalidInputError as error:
                    raise InvalidInputError(error.detail, field=column) from None
        return keys

    def moment(self, values: dict[str, str], column: str) -> dt.datetime | None:
        text = values.get(column, "")
        return parse_datetime_value(text, field=column, tz=self.context.tz) if text else None

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

    def order(self, external_id: str, rows: list[_Row]) -> OrderData:
        values = rows[0].values
        customer_id = values.get("customer_id", "")
        try:
            parsed_customer = uuid.UUID(customer_id) if customer_id else None
        except ValueError:
            raise InvalidInputError(_("Not a customer id."), field="customer_id") from None
        deal_id = values.get("deal_id", "")
        try:
            parsed_deal = uuid.UUID(deal_id) if deal_id else None
        except ValueError:
            raise InvalidInputError(_("Not a deal id."), field="deal_id") from None
        return OrderData(
            external_id=external_id,
            customer_id=parsed_customer,
            identity_keys=self.identities(values),
            customer_name=values.get("customer_name", ""),
            lines=[row.line_data for row in rows if row.line_data is not None],
            status=self.choice(values, "status", OrderStatus),
            payment_status=self.choice(values, "payment_status", PaymentStatus),
            currency=currency_clean(values["currency"]) if values.get("currency") else None,
            ordered_at=self.moment(values, "ordered_at"),
            paid_at=self.moment(values, "paid_at"),
            source=OrderSource.IMPORT,
            deal_id=parsed_deal,
        )


def orders_batch(
    context: ImportContext, rows: Sequence[tuple[int, list[str]]], *, write: bool
) -> BatchResult:
    """Write each order of the batch (see the module's doc); every row's outcome is its
    order's: create, update, or error with the reason. `write` changes nothing here: the dry
    run's caller rolls its transaction back."""
    parser = _Parser(context)
    outcomes: list[RowOutcome] = []
    orders: dict[str, list[_Row]] = {}
    for line, cells in rows:
        row = _Row(line=line, values=_values(context, cells))
        external_id = row.values.get("order_id", "")
        if not external_id:
            reason = _("The order number is missing.")
            outcomes.append(RowOutcome(line, ERROR, [problem(parser.headers["order_id"], reason)]))
            continue
        try:
            row.line_data = parser.line(row.values)
        except InvalidInputError as error:
            row.problem = parser.problem(error, row.values)
        orders.setdefault(external_id, []).append(row)
    for external_id, group in orders.items():
        action, problems = _order_write(parser, external_id, group)
        for row in group:
            outcomes.append(RowOutcome(row.line, action, problems.get(row.line, [])))
    outcomes.sort(key=lambda outcome: outcome.line)
    return BatchResult(outcomes)


def _order_write(
    parser: _Parser, external_id: str, group: list[_Row]
) -> tuple[str, dict[int, list[RowProblem]]]:
    """Write one order from its rows: (the rows' action, problems by line)."""
    header = parser.headers["order_id"]
    bad = [row for row in group if row.problem is not None]
    if bad:
        reason = _("Order %(order)s left out: line %(line)d of it is invalid.") % {
            "order": external_id,
            "line": bad[0].line,
        }
        return ERROR, {
            row.line: [row.problem or problem(header, reason, external_id)] for row in group
        }
    try:
        with transaction.atomic():
            _order, created = order_upsert(
                actor=parser.context.actor,
                data=parser.order(external_id, group),
                keys=parser.context.keys,
                rules=parser.context.rules,
            )
    except HuikeError as error:
        # A line's error (`lines.2.sku`) is its row's; the order's own is every row's.
        parts = (error.field or "").split(".")
        at = int(parts[1]) if parts[0] == "lines" and len(parts) > 2 and parts[1].isdigit() else -1
        if not 0 <= at < len(group):
            reported = parser.problem(error, group[0].values)
            return ERROR, {row.line: [reported] for row in group}
        reason = _("Order %(order)s left out: line %(line)d of it is invalid.") % {
            "order": external_id,
            "line": group[at].line,
        }
        return ERROR, {
            row.line: [
                parser.problem(error, row.values)
                if index == at
                else problem(header, reason, external_id)
            ]
            for index, row in enumerate(group)
        }
    return (CREATE if created else UPDATE), {}


def _error_target(field_name: str | None) -> str:
    """The import field of a service error's field (`lines.0.unit_price` → unit_price)."""
    name = (field_name or "").rsplit(".", 1)[-1]
    if name in ("external_id", "lines"):  # the order's number, or its lines as a whole
        return "order_id"
    if name in ("customer", "identities"):
        return "customer_id"
    return name if any(target.key == name for target in ORDER_TARGETS) else ""


def register_order_import() -> None:
    import_kind_register(
        ImportKindSpec(
            key=KIND,
            label=gettext_lazy("Orders"),
            targets=ORDER_TARGETS,
            batch=orders_batch,
            permission="orders.manage",
            check_mapping=orders_mapping_check,
            has_modes=False,
            has_system=False,
            dry_run_rows=DRY_RUN_ROWS,
            records_url="sales:order_list",
            group_by="order_id",
            group_max_rows=MAX_ORDER_LINES,
            batch_rows=BATCH_ROWS,
        )
    )
