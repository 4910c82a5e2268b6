"""Validation of custom field values, the one path UI, API and imports write them through."""

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huike.core.errors import ConflictError, InvalidInputError
from huike.customers.models import Customer, CustomField, CustomFieldUniqueValue
from huike.customers.values import (
    parse_boolean,
    parse_date,
    parse_datetime_value,
    parse_money,
)

TEXT_MAX_LENGTH = 1000
# A unique value is claimed in CustomFieldUniqueValue.value (255 characters).
UNIQUE_VALUE_MAX_LENGTH = 255
# Numbers are stored as JSON numbers: beyond 2**53 a browser (and a float) no longer holds them
# exactly, and an integer of 4,300 digits cannot even be written as JSON (1e5000).
NUMBER_MAX = Decimal(10) ** 15


def _field_name(field: CustomField) -> str:
    return f"custom_fields.{field.key}"


def _text(field: CustomField, value: Any, currency: str) -> str:
    text = str(value).strip()
    if len(text) > TEXT_MAX_LENGTH:
        raise InvalidInputError(
            _("At most %(max)d characters.") % {"max": TEXT_MAX_LENGTH}, field=_field_name(field)
        )
    return text


def _number(field: CustomField, value: Any, currency: str) -> int | float:
    if isinstance(value, bool):
        raise InvalidInputError(_("Enter a number."), field=_field_name(field))
    if isinstance(value, int | float):
        number: Decimal = Decimal(str(value))
    else:
        try:
            number = Decimal(str(value).strip().replace(",", ""))
        except ArithmeticError:
            raise InvalidInputError(_("Enter a number."), field=_field_name(field)) from None
    if not number.is_finite():
        raise InvalidInputError(_("Enter a number."), field=_field_name(field))
    if abs(number) >= NUMBER_MAX:
        raise InvalidInputError(_("This number is too large."), field=_field_name(field))
    return int(number) if number == number.to_integral_value() else float(number)


def _money(field: CustomField, value: Any, currency: str) -> dict[str, str]:
    amount, code = parse_money(value, default_currency=currency, field=_field_name(field))
    return {"amount": str(amount), "currency": code}


def _date(field: CustomField, value: Any, currency: str) -> str:
    return parse_date(value, field=_field_name(field)).isoformat()


def _datetime(field: CustomField, value: Any, currency: str) -> str:
    # A time without an offset is the workspace's local time: pages, the API and imports all
    # run with the workspace's time zone active.
    tz = timezone.get_current_timezone()
    return parse_datetime_value(value, field=_field_name(field), tz=tz).isoformat()


def _choice(field: CustomField, value: Any, currency: str) -> str:
    text = str(value).strip()
    if text not in field.choices:
        raise InvalidInputError(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(field.choices)},
            field=_field_name(field),
        )
    return text


def _multi_choice(field: CustomField, value: Any, currency: str) -> list[str]:
    items = value if isinstance(value, list) else [part for part in str(value).split(",")]
    chosen = []
    for item in items:
        text = _choice(field, item, currency)
        if text not in chosen:
            chosen.append(text)
    return chosen


def _boolean(field: CustomField, value: Any, currency: str) -> bool:
    return parse_boolean(value, field=_field_name(field))


_URL = URLValidator(schemes=["http", "https"])


def _url(field: CustomField, value: Any, currency: str) -> str:
    text = str(value).strip()
    try:
        _URL(text)
    except ValidationError:
        raise InvalidInputError(
            _("Enter a web address (http/https)."), field=_field_name(field)
        ) from None
    return text


CLEANERS: dict[str, Callable[[CustomField, Any, str], Any]] = {
    CustomField.Type.TEXT: _text,
    CustomField.Type.NUMBER: _number,
    CustomField.Type.MONEY: _money,
    CustomField.Type.DATE: _date,
    CustomField.Type.DATETIME: _datetime,
    CustomField.Type.CHOICE: _choice,
    CustomField.Type.MULTI_CHOICE: _multi_choice,
    CustomField.Type.BOOLEAN: _boolean,
    CustomField.Type.URL: _url,
}


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def custom_fields_of(workspace_id: int) -> list[CustomField]:
    return list(CustomField.objects.filter(workspace_id=workspace_id))


def custom_field_values_clean(
    *,
    fields: list[CustomField],
    values: Mapping[str, Any],
    current: Mapping[str, Any] | None = None,
    currency: str = "CNY",
) -> dict[str, Any]:
    """The customer's custom field values after applying `values` to `current`: each value
    checked and stored in its canonical form, None/"" removing it.

    Raises InvalidInputError(field="custom_fields.<key>") for an unknown key, a value of the
    wrong type, or a required field left empty.
    """
    by_key = {field.key: field for field in fields}
    result: dict[str, Any] = dict(current or {})
    for key, value in values.items():
        field = by_key.get(key)
        if field is None:
            raise InvalidInputError(
                _("There is no custom field %(key)s.") % {"key": key}, field=f"custom_fields.{key}"
            )
        if _is_empty(value):
            result.pop(key, None)
        else:
            result[key] = CLEANERS[field.type](field, value, currency)
    for field in fields:
        if field.is_required and _is_empty(result.get(field.key)):
            raise InvalidInputError(
                _("%(label)s is required.") % {"label": field.label}, field=_field_name(field)
            )
    # Keys of fields deleted since stay out of the stored values.
    return {key: value for key, value in result.items() if key in by_key}


def unique_text(value: Any) -> str:
    """How a unique field's value is compared: its canonical JSON-ish text, case-folded."""
    if isinstance(value, dict):
        value = f"{value.get('amount')} {value.get('currency')}"
    elif isinstance(value, list):
        value = ",".join(sorted(str(item) for item in value))
    elif isinstance(value, dt.date | dt.datetime):
        value = value.isoformat()
    return str(value).strip().casefold()[:UNIQUE_VALUE_MAX_LENGTH]


def custom_field_unique_claims_sync(
    *, customer: Customer, fields: list[CustomField], values: Mapping[str, Any]
) -> None:
    """Make the unique-value claims of `customer` match `values`; ConflictError naming the
    field when another customer holds one. Runs in the caller's transaction."""
    unique_fields = [field for field in fields if field.is_unique]
    if not unique_fields:
        return
    CustomFieldUniqueValue.objects.filter(customer=customer).delete()
    for field in unique_fields:
        value = values.get(field.key)
        if _is_empty(value):
            continue
        try:
            with transaction.atomic():
                CustomFieldUniqueValue.objects.create(
                    workspace_id=customer.workspace_id,
                    field=field,
                    value=unique_text(value),
                    customer=customer,
                )
        except IntegrityError:
            raise ConflictError(
                _("Another customer already has this %(label)s.") % {"label": field.label},
                field=_field_name(field),
            ) from None
