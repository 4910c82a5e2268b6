"""Reading the values people type into forms and spreadsheets: dates in the common Chinese and
Western spellings, money with its currency, yes/no. Shared by custom fields, the API and
imports, so a value means the same on every write path."""

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from huike.core.errors import InvalidInputError

_ISO_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_CHINESE_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
# What may follow a date: a time of day with whatever trails it (seconds, "PM", "+0800",
# "UTC"), all ignored; nothing else ("2024-03-05 - 2024-04-01" is a range, not the 5th).
_TIME_AFTER_DATE = re.compile(r"(?:[ t]\s*\d{1,2}:\d{2}.*)?")
# 05/03/2024 and 5.3.2024: day first, as in most of the world, unless the second number
# cannot be a month (03/25/2024 is the US order).
_WESTERN_DATE = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_NAMED_MONTH_FIRST = re.compile(r"([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})")
_NAMED_DAY_FIRST = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]+)\.?,?\s+(\d{4})")
# An Excel serial date (days since 1899-12-30) within 1900 to 2099, as a cell that lost its
# date format shows it.
_EXCEL_EPOCH = dt.date(1899, 12, 30)
# Five digits only: 10000 is 1927-05-18, and a bare four-digit number is far more often a
# year someone typed ("1990") than a date in the 1900s whose cell lost its format.
_EXCEL_SERIAL = re.compile(r"\d{5}(\.0+)?")
_EXCEL_SERIAL_RANGE = range(1, 73051)

_CURRENCY_SYMBOLS = {"¥": "CNY", "￥": "CNY", "元": "CNY", "$": "USD", "€": "EUR", "£": "GBP"}
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")
MONEY_MAX_DIGITS = 14
MONEY_PLACES = 2

TRUE_WORDS = frozenset({"true", "yes", "y", "1", "是", "对", "有", "t", "on"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "否", "不是", "无", "f", "off"})


def _date(year: int, month: int, day: int, field: str) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise InvalidInputError(_("This date does not exist."), field=field) from None


def parse_date(value: object, *, field: str = "date") -> dt.date:
    """A date from 2024-03-05, 2024/3/5, 2024.3.5, 2024年3月5日, 20240305, 05/03/2024 (day
    first unless the second number is over 12), March 5, 2024, 5 Mar 2024 or an Excel serial
    number. InvalidInputError(field=field) for anything else."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip().lower()
    if not text:
        raise InvalidInputError(_("Enter a date."), field=field)
    # A time after the date (2024-03-05 09:30, 2024-03-05T09:30) is ignored.
    match = _ISO_DATE.match(text)
    if match and _TIME_AFTER_DATE.fullmatch(text, match.end()):
        return _date(int(match[1]), int(match[2]), int(match[3]), field)
    match = _CHINESE_DATE.match(text)
    if match and _TIME_AFTER_DATE.fullmatch(text, match.end()):
        return _date(int(match[1]), int(match[2]), int(match[3]), field)
    match = _COMPACT_DATE.fullmatch(text)
    if match:
        return _date(int(match[1]), int(match[2]), int(match[3]), field)
    match = _WESTERN_DATE.fullmatch(text)
    if match:
        first, second, year = int(match[1]), int(match[2]), int(match[3])
        if second > 12 and first <= 12:
            return _date(year, first, second, field)
        return _date(year, second, first, field)
    for pattern, month_group, day_group in ((_NAMED_MONTH_FIRST, 1, 2), (_NAMED_DAY_FIRST, 2, 1)):
        match = pattern.fullmatch(text)
        if match and match[month_group] in _MONTHS:
            return _date(int(match[3]), _MONTHS[match[month_group]], int(match[day_group]), field)
    if _EXCEL_SERIAL.fullmatch(text) and int(float(text)) in _EXCEL_SERIAL_RANGE:
        return _EXCEL_EPOCH + dt.timedelta(days=int(float(text)))
    raise InvalidInputError(_("Not a date. Write it like 2024-03-05 or 2024年3月5日."), field=field)


def parse_datetime_value(
    value: object, *, field: str = "datetime", tz: dt.tzinfo | None = None
) -> dt.datetime:
    """An aware datetime from ISO 8601 (`2024-03-05T09:30:00+08:00`, `2024-03-05 09:30`) or a
    date alone (midnight); naive values are read in `tz` (the workspace's time zone)."""
    if isinstance(value, dt.datetime):
        parsed: dt.datetime | None = value
    else:
        text = str(value).strip()
        try:
            parsed = parse_datetime(text.replace("/", "-"))
        except ValueError:
            # Well formed but impossible (25:00, February 30th): not midnight of that day.
            raise InvalidInputError(_("This date or time does not exist."), field=field) from None
        if parsed is None:
            if ":" in text:
                # A time this cannot read must not be dropped for midnight.
                raise InvalidInputError(
                    _("Not a date and time. Write it like 2024-03-05 09:30."), field=field
                )
            day = parse_date(text, field=field)
            parsed = dt.datetime(day.year, day.month, day.day, tzinfo=tz or dt.UTC)
    assert parsed is not None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz or dt.UTC)
    return parsed


def parse_money(
    value: object, *, default_currency: str, field: str = "amount"
) -> tuple[Decimal, str]:
    """(amount, currency) from 1234.5, "1,234.50", "¥1234.5", "1234.50 USD", "USD 12" or
    {"amount": "12.50", "currency": "CNY"}; amounts keep two decimal places."""
    currency = default_currency
    if isinstance(value, dict):
        currency = str(value.get("currency") or default_currency).upper()
        value = value.get("amount")
    if isinstance(value, bool) or value is None:
        raise InvalidInputError(_("Enter an amount."), field=field)
    text = str(value).strip().replace(",", "").replace("\uff0c", "")  # full-width comma
    for symbol, code in _CURRENCY_SYMBOLS.items():
        if symbol in text:
            text = text.replace(symbol, "").strip()
            currency = code
    parts = text.split()
    if len(parts) == 2:
        code_part = next((part for part in parts if _CURRENCY_CODE.fullmatch(part.upper())), None)
        if code_part is not None:
            currency = code_part.upper()
            parts.remove(code_part)
            text = parts[0]
    try:
        amount = Decimal(text).quantize(Decimal(1).scaleb(-MONEY_PLACES))
    except (InvalidOperation, ValueError):
        raise InvalidInputError(_("Not an amount."), field=field) from None
    if not amount.is_finite() or len(amount.as_tuple().digits) > MONEY_MAX_DIGITS:
        raise InvalidInputError(_("Not an amount."), field=field)
    if not _CURRENCY_CODE.fullmatch(currency):
        raise InvalidInputError(_("Unknown currency."), field=field)
    return amount, currency


def parse_boolean(value: object, *, field: str = "value") -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise InvalidInputError(_("Answer yes or no."), field=field)
