"""Reading typed dates, times, money and yes/no (huike.customers.values): every documented
spelling gives the exact value, and anything else is refused naming the field."""

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huike.core.errors import InvalidInputError
from huike.customers.values import (
    MONEY_MAX_DIGITS,
    parse_boolean,
    parse_date,
    parse_datetime_value,
    parse_money,
)

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
MARCH_5 = dt.date(2024, 3, 5)
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


# --- parse_date ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05", MARCH_5),
        ("2024/3/5", MARCH_5),
        ("2024.3.5", MARCH_5),
        ("2024年3月5日", MARCH_5),
        ("2024 年 3 月 5 日", MARCH_5),
        ("2024年3月5号", MARCH_5),
        ("20240305", MARCH_5),
        ("05/03/2024", MARCH_5),  # day first, as in most of the world
        ("5.3.2024", MARCH_5),
        ("25/03/2024", dt.date(2024, 3, 25)),
        ("03/25/2024", dt.date(2024, 3, 25)),  # the second number is no month: US order
        ("March 5, 2024", MARCH_5),
        ("mar. 5, 2024", MARCH_5),
        ("Sept 5, 2024", dt.date(2024, 9, 5)),
        ("5 Mar 2024", MARCH_5),
        ("5th March 2024", MARCH_5),
        ("45356", MARCH_5),  # an Excel serial
        ("45356.0", MARCH_5),
        (45356, MARCH_5),
        ("73050", dt.date(2099, 12, 31)),  # the last serial read as a date
        ("2024-03-05 09:30", MARCH_5),
        ("2024-03-05T09:30:00", MARCH_5),
        ("2024-03-05T09:30:00+08:00", MARCH_5),
        ("2024-03-05 09:30:00.123Z", MARCH_5),
        ("2024-03-05 9:30:00 PM", MARCH_5),
        ("2024-03-05 09:30:00 UTC", MARCH_5),
        ("2024/3/5 09:30:00 +0800", MARCH_5),
        ("2024年3月5日 10:00", MARCH_5),
        ("  2024-03-05\n", MARCH_5),
        (dt.datetime(2024, 3, 5, 23, 59, tzinfo=dt.UTC), MARCH_5),
        (MARCH_5, MARCH_5),
    ],
)
def test_parse_date_reads_each_documented_spelling(text, expected):
    assert parse_date(text, field="birthday") == expected


@pytest.mark.parametrize(
    "text", ["2024-02-30", "2023-02-29", "2024-13-01", "20240230", "31/04/2024"]
)
def test_parse_date_refuses_impossible_dates_naming_the_field(text):
    with pytest.raises(InvalidInputError) as raised:
        parse_date(text, field="custom_fields.signed_on")
    assert raised.value.field == "custom_fields.signed_on"
    assert raised.value.detail == "This date does not exist."


@pytest.mark.parametrize(
    "value",
    [
        "junk",
        "2024-03-05x",
        "2024-03-05 junk",
        "2024-03-05 - 2024-04-01",
        "2024年3月5日左右",
        "1",
        "999",  # below the Excel serials read as dates
        "73051",  # after 2099-12-31
        "45356.5",  # a serial with a time of day is no date
        "Smarch 5, 2024",
        None,
        True,
    ],
)
def test_parse_date_refuses_junk_naming_the_field(value):
    with pytest.raises(InvalidInputError) as raised:
        parse_date(value, field="birthday")
    assert raised.value.field == "birthday"
    assert raised.value.detail == "Not a date. Write it like 2024-03-05 or 2024年3月5日."


def test_parse_date_asks_for_a_date_when_empty():
    with pytest.raises(InvalidInputError) as raised:
        parse_date("  ", field="birthday")
    assert (raised.value.field, raised.value.detail) == ("birthday", "Enter a date.")


DATES = st.dates(min_value=dt.date(1000, 1, 1), max_value=dt.date(9999, 12, 31))


@given(day=DATES)
def test_parse_date_round_trips_any_date_in_the_numeric_spellings(day):
    spellings = [
        day.isoformat(),
        f"{day.year}/{day.month}/{day.day}",
        f"{day.year}.{day.month}.{day.day}",
        f"{day.year}年{day.month}月{day.day}日",
        f"{day.year:04d}{day.month:02d}{day.day:02d}",
        f"{day.isoformat()} 09:30",
        f"{day.isoformat()}T23:59:59+08:00",
    ]
    assert [parse_date(text) for text in spellings] == [day] * len(spellings)


@given(day=DATES)
def test_parse_date_round_trips_any_date_in_the_western_spellings(day):
    # day/month/year is read day first unless the month position holds a number over 12.
    day_first = f"{day.day:02d}/{day.month:02d}/{day.year}"
    assert parse_date(day_first) == day
    if day.day > 12:
        assert parse_date(f"{day.month:02d}/{day.day:02d}/{day.year}") == day
    month = MONTH_NAMES[day.month - 1]
    assert parse_date(f"{month} {day.day}, {day.year}") == day
    assert parse_date(f"{day.day} {month[:3]} {day.year}") == day


@given(day=st.dates(min_value=dt.date(1927, 5, 18), max_value=dt.date(2099, 12, 31)))
def test_parse_date_round_trips_any_excel_serial(day):
    # Five-digit serials: a four-digit number is a year someone typed, not a 1900s date.
    serial = (day - dt.date(1899, 12, 30)).days
    assert parse_date(str(serial)) == day
    assert parse_date(serial) == day


# --- parse_datetime_value --------------------------------------------------------------------
def test_parse_datetime_keeps_the_offset_of_an_aware_value():
    parsed = parse_datetime_value("2024-03-05T09:30:00+08:00", tz=dt.UTC)
    assert parsed == dt.datetime(2024, 3, 5, 1, 30, tzinfo=dt.UTC)
    assert parsed.utcoffset() == dt.timedelta(hours=8)


def test_parse_datetime_reads_a_naive_value_in_the_given_time_zone():
    assert parse_datetime_value("2024-03-05 09:30", tz=SHANGHAI) == dt.datetime(
        2024, 3, 5, 1, 30, tzinfo=dt.UTC
    )
    assert parse_datetime_value("2024/03/05 09:30", tz=SHANGHAI) == dt.datetime(
        2024, 3, 5, 1, 30, tzinfo=dt.UTC
    )


def test_parse_datetime_reads_a_naive_value_as_utc_without_a_time_zone():
    assert parse_datetime_value("2024-03-05 09:30") == dt.datetime(2024, 3, 5, 9, 30, tzinfo=dt.UTC)
    assert parse_datetime_value(dt.datetime(2024, 3, 5, 9, 30)) == dt.datetime(
        2024, 3, 5, 9, 30, tzinfo=dt.UTC
    )


def test_parse_datetime_keeps_an_aware_datetime_object():
    value = dt.datetime(2024, 3, 5, 9, 30, tzinfo=SHANGHAI)
    assert parse_datetime_value(value, tz=dt.UTC) is value


def test_parse_datetime_reads_a_date_alone_as_midnight_in_the_time_zone():
    assert parse_datetime_value("2024年3月5日", tz=SHANGHAI) == dt.datetime(
        2024, 3, 5, tzinfo=SHANGHAI
    )
    assert parse_datetime_value("2024-03-05") == dt.datetime(2024, 3, 5, tzinfo=dt.UTC)


@pytest.mark.parametrize("text", ["2024-03-05T25:00", "2024-03-05 10:61", "2024-02-30 10:00"])
def test_parse_datetime_refuses_an_impossible_time_instead_of_midnight(text):
    with pytest.raises(InvalidInputError) as raised:
        parse_datetime_value(text, field="occurred_at")
    assert raised.value.field == "occurred_at"


@pytest.mark.parametrize("text", ["2024年3月5日 14:30", "2024-03-05 2:30 pm", "2024-03-05 junk"])
def test_parse_datetime_refuses_a_time_it_cannot_read_instead_of_dropping_it(text):
    with pytest.raises(InvalidInputError) as raised:
        parse_datetime_value(text, field="occurred_at")
    assert raised.value.field == "occurred_at"


@pytest.mark.parametrize("value", ["junk", "", None])
def test_parse_datetime_refuses_junk_naming_the_field(value):
    with pytest.raises(InvalidInputError) as raised:
        parse_datetime_value(value, field="custom_fields.met_at")
    assert raised.value.field == "custom_fields.met_at"


@given(moment=st.datetimes(min_value=dt.datetime(1900, 1, 1), timezones=st.just(dt.UTC)))
def test_parse_datetime_round_trips_any_iso_datetime(moment):
    assert parse_datetime_value(moment.isoformat()) == moment


# --- parse_money -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("¥1,234.50", (Decimal("1234.50"), "CNY")),
        ("￥1,234.5", (Decimal("1234.50"), "CNY")),
        ("1234.50 USD", (Decimal("1234.50"), "USD")),
        ("12 usd", (Decimal("12.00"), "USD")),
        ("USD 12", (Decimal("12.00"), "USD")),
        ("$5", (Decimal("5.00"), "USD")),
        ("€5", (Decimal("5.00"), "EUR")),
        ("£5", (Decimal("5.00"), "GBP")),
        ("5 元", (Decimal("5.00"), "CNY")),
        ("1\uff0c234.5", (Decimal("1234.50"), "EUR")),  # full-width comma
        ("1234", (Decimal("1234.00"), "EUR")),  # the default currency
        (1234.5, (Decimal("1234.50"), "EUR")),
        (12, (Decimal("12.00"), "EUR")),
        (Decimal("0.1"), (Decimal("0.10"), "EUR")),
        ("-5", (Decimal("-5.00"), "EUR")),  # a refund
        ("123456789012.34", (Decimal("123456789012.34"), "EUR")),  # 14 digits: the column's
        ({"amount": "12.50", "currency": "usd"}, (Decimal("12.50"), "USD")),
        ({"amount": 12.5}, (Decimal("12.50"), "EUR")),
        ({"amount": "12.5", "currency": ""}, (Decimal("12.50"), "EUR")),
    ],
)
def test_parse_money_reads_amount_and_currency(value, expected):
    assert parse_money(value, default_currency="EUR", field="amount") == expected


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (True, "Enter an amount."),
        (False, "Enter an amount."),
        (None, "Enter an amount."),
        ({"amount": True}, "Enter an amount."),
        ({"currency": "USD"}, "Enter an amount."),
        ("", "Not an amount."),
        ("abc", "Not an amount."),
        ("1.2.3", "Not an amount."),
        ("12 34", "Not an amount."),
        ("12 CNY USD", "Not an amount."),
        ("NaN", "Not an amount."),
        ("Infinity", "Not an amount."),
        ("1234567890123.4", "Not an amount."),  # 15 digits once given two places
        ("123456789012345", "Not an amount."),
        ("1e30", "Not an amount."),
        ({"amount": "1", "currency": "X"}, "Unknown currency."),
        ({"amount": "1", "currency": "US Dollar"}, "Unknown currency."),
    ],
)
def test_parse_money_refuses_what_is_no_amount_naming_the_field(value, detail):
    with pytest.raises(InvalidInputError) as raised:
        parse_money(value, default_currency="CNY", field="custom_fields.budget")
    assert (raised.value.field, raised.value.detail) == ("custom_fields.budget", detail)


@given(
    amount=st.decimals(
        min_value=Decimal("-999999999999.99"),
        max_value=Decimal("999999999999.99"),
        places=2,
        allow_nan=False,
        allow_infinity=False,
    ),
    currency=st.sampled_from(["CNY", "USD", "EUR", "JPY"]),
)
def test_parse_money_round_trips_any_amount_the_column_holds(amount, currency):
    assert parse_money(f"{amount} {currency}", default_currency="CNY") == (amount, currency)
    assert parse_money(f"{amount:,}", default_currency=currency) == (amount, currency)
    assert parse_money({"amount": str(amount), "currency": currency}, default_currency="CNY") == (
        amount,
        currency,
    )
    assert len(amount.as_tuple().digits) <= MONEY_MAX_DIGITS


# --- parse_boolean ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value", ["是", "对", "有", "yes", "YES", "y", "true", "True", "t", "1", " on ", 1, True]
)
def test_parse_boolean_reads_yes(value):
    assert parse_boolean(value) is True


@pytest.mark.parametrize(
    "value", ["否", "不是", "无", "no", "No", "n", "false", "f", "0", "off", 0, False]
)
def test_parse_boolean_reads_no(value):
    assert parse_boolean(value) is False


@pytest.mark.parametrize("value", ["maybe", "", "2", 2, None, "是的吧"])
def test_parse_boolean_refuses_anything_else_naming_the_field(value):
    with pytest.raises(InvalidInputError) as raised:
        parse_boolean(value, field="custom_fields.vip")
    assert (raised.value.field, raised.value.detail) == ("custom_fields.vip", "Answer yes or no.")


def test_a_bare_year_is_not_read_as_an_excel_serial():
    with pytest.raises(InvalidInputError):
        parse_date("1990")
