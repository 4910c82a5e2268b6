"""How the pages show values: identity kinds by name, custom field values by type."""

import datetime as dt
from typing import Any

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from huike.customers.forms import IDENTITY_KIND_LABELS
from huike.customers.models import CustomField

EMPTY = "—"


def identity_kind_label(kind: str) -> str:
    return str(IDENTITY_KIND_LABELS.get(kind.partition(":")[0], kind))


def custom_field_display(field_row: CustomField, values: dict[str, Any]) -> str:
    value = (values or {}).get(field_row.key)
    if value is None or value == "" or value == []:
        return EMPTY
    if field_row.type == CustomField.Type.MONEY and isinstance(value, dict):
        return f"{value.get('amount')} {value.get('currency')}"
    if field_row.type == CustomField.Type.BOOLEAN:
        return _("Yes") if value else _("No")
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if field_row.type == CustomField.Type.DATETIME and isinstance(value, str):
        try:
            moment = timezone.localtime(dt.datetime.fromisoformat(value))
        except ValueError:
            return value
        return formats.date_format(moment, "SHORT_DATETIME_FORMAT")
    return str(value)
