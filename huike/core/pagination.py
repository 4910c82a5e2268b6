"""Cursor (keyset) pagination, the one way every API list is paged.

A page is read with `WHERE (sort key) > (last sort key of the previous page)` instead of an
OFFSET, so a page costs the same at row ten million as at row ten, and rows added or removed
while a client pages through do not shift the pages under it (nothing is skipped or repeated).
The cursor is the URL-safe base64 of the last row's sort key as JSON: opaque to clients, cheap
to check here.
"""

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from operator import or_
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, Q, QuerySet
from django.utils.translation import gettext as _
from ninja import Schema
from pydantic import Field

from huike.core.errors import InvalidInputError

# The cap keeps one request from making the server build, and the client wait for, a huge
# response; clients that need everything follow `next`.
MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE: int = min(getattr(settings, "NINJA_PAGINATION_PER_PAGE", 50), MAX_PAGE_SIZE)
DEFAULT_ORDERING = ("created_at", "id")
MAX_CURSOR_LENGTH = 1024  # a real cursor is well under this; longer is junk


class PageQuery(Schema):
    """The `?cursor=&limit=` query parameters of every list endpoint."""

    cursor: str | None = Field(
        default=None,
        max_length=MAX_CURSOR_LENGTH,
        description="`next` of the previous page; omit for the first page.",
    )
    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


class PageOut[T](Schema):
    items: list[T]
    next: str | None = Field(
        description="Pass as ?cursor= to get the next page; null on the last page."
    )


@dataclass(frozen=True)
class Page[M: Model]:
    items: list[M]
    next: str | None


def _field_value(obj: Model, name: str) -> Any:
    value: Any = obj
    for part in name.split("__"):
        value = (
            value.pk if part in ("pk", "id") and isinstance(value, Model) else getattr(value, part)
        )
    return value


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        # Full precision: the next page starts strictly after this exact value.
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_to_json(value) for value in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, expected_length: int) -> list[Any]:
    """The sort key in a cursor; InvalidInputError(field="cursor") if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidInputError(_("This cursor is not valid."), field="cursor") from None
    if (
        not isinstance(values, list)
        or len(values) != expected_length
        or any(value is None or isinstance(value, list | dict) for value in values)
    ):
        raise InvalidInputError(_("This cursor is not valid."), field="cursor")
    return values


def _after(ordering: Sequence[str], values: Sequence[Any]) -> Q:
    """Rows strictly after `values` in `ordering`: (a > x) OR (a = x AND b > y) OR …"""
    clauses = []
    for index, term in enumerate(ordering):
        name = term.lstrip("-")
        lookup = "lt" if term.startswith("-") else "gt"
        equal = {ordering[i].lstrip("-"): values[i] for i in range(index)}
        clauses.append(Q(**equal, **{f"{name}__{lookup}": values[index]}))
    return reduce(or_, clauses)


def paginate[M: Model](
    queryset: QuerySet[M],
    *,
    cursor: str | None,
    limit: int,
    ordering: Sequence[str] = DEFAULT_ORDERING,
) -> Page[M]:
    """One page of `queryset` in `ordering` (prefix a field with "-" for descending).

    The ordering must end in a unique field (id) so the sort key of every row is distinct, and
    its fields must not be null. Runs exactly one query (plus whatever prefetches the queryset
    carries), whatever the page.
    """
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInputError(
            _("Ask for 1 to %(max)d items.") % {"max": MAX_PAGE_SIZE}, field="limit"
        )
    queryset = queryset.order_by(*ordering)
    if cursor:
        try:
            queryset = queryset.filter(_after(ordering, decode_cursor(cursor, len(ordering))))
        except (TypeError, ValueError, DjangoValidationError):  # a value the field rejects
            raise InvalidInputError(_("This cursor is not valid."), field="cursor") from None
    rows = list(queryset[: limit + 1])
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor([_field_value(last, term.lstrip("-")) for term in ordering])
    return Page(items=items, next=next_cursor)
