import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db.models import QuerySet

from huike.core.errors import InvalidInputError
from huike.core.models import AuditChain
from huike.core.pagination import MAX_PAGE_SIZE, encode_cursor, paginate

SAME_MOMENT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


@pytest.fixture
def chains(db: None) -> QuerySet[AuditChain]:
    """Seven rows; four share one created_at, so only the id tells them apart."""
    for number in range(7):
        AuditChain.objects.create(key=f"test:{number}")
    rows = AuditChain.objects.filter(key__startswith="test:")
    first_four = list(rows.order_by("id").values_list("id", flat=True)[:4])
    AuditChain.objects.filter(id__in=first_four).update(created_at=SAME_MOMENT)
    return rows


def _walk(queryset: QuerySet[AuditChain], limit: int, ordering: tuple[str, ...]) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        page = paginate(queryset, cursor=cursor, limit=limit, ordering=ordering)
        pages.append([row.key for row in page.items])
        if page.next is None:
            return pages
        cursor = page.next


def test_pages_return_every_row_exactly_once_in_order(chains: QuerySet[AuditChain]) -> None:
    # given seven rows, four of them created at the same moment
    expected = [row.key for row in chains.order_by("created_at", "id")]
    # when walking pages of two
    pages = _walk(chains, 2, ("created_at", "id"))
    # then every row comes once, in sort order, and the last page says there is no next one
    assert [len(page) for page in pages] == [2, 2, 2, 1]
    assert [key for page in pages for key in page] == expected
    assert len(set(expected)) == 7


def test_descending_pages_return_every_row_exactly_once(chains: QuerySet[AuditChain]) -> None:
    expected = [row.key for row in chains.order_by("-created_at", "-id")]
    pages = _walk(chains, 3, ("-created_at", "-id"))
    assert [key for page in pages for key in page] == expected
    assert [len(page) for page in pages] == [3, 3, 1]


def test_exact_multiple_of_the_page_size_ends_without_an_empty_page(
    chains: QuerySet[AuditChain],
) -> None:
    pages = _walk(chains, 7, ("created_at", "id"))
    assert [len(page) for page in pages] == [7]


def test_rows_added_while_paging_do_not_shift_pages(chains: QuerySet[AuditChain]) -> None:
    # given the first page has been read
    first = paginate(chains, cursor=None, limit=3)
    seen = [row.key for row in first.items]
    # when a row is added (it sorts last) and the first page's rows are deleted
    AuditChain.objects.create(key="test:late")
    AuditChain.objects.filter(key__in=seen).delete()
    rest = paginate(chains, cursor=first.next, limit=10)
    # then the next page starts right after what was read: nothing skipped or repeated
    assert [row.key for row in rest.items][-1] == "test:late"
    assert len(rest.items) == 5
    assert not set(seen) & {row.key for row in rest.items}


def test_each_page_is_one_query(
    chains: QuerySet[AuditChain], django_assert_num_queries: Any
) -> None:
    cursor = None
    for _page in range(4):
        with django_assert_num_queries(1):
            page = paginate(chains, cursor=cursor, limit=2)
        cursor = page.next
    assert cursor is None


def test_cursor_is_opaque_base64_of_the_last_sort_key(chains: QuerySet[AuditChain]) -> None:
    page = paginate(chains, cursor=None, limit=2)
    last = page.items[-1]
    assert page.next == encode_cursor([last.created_at, last.pk])
    decoded = base64.urlsafe_b64decode(page.next + "=" * (-len(page.next) % 4))
    assert decoded.decode() == f'["{last.created_at.isoformat()}",{last.pk}]'


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 at all!",
        base64.urlsafe_b64encode(b"{not json").decode(),
        encode_cursor([1]),  # wrong number of values
        encode_cursor(["not a date", 3]),
        encode_cursor(["2026-01-01T00:00:00+00:00", "three"]),
        encode_cursor([None, 3]),
    ],
)
def test_tampered_cursor_is_invalid_input(chains: QuerySet[AuditChain], cursor: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        list(paginate(chains, cursor=cursor, limit=2).items)
    assert raised.value.field == "cursor"


@pytest.mark.parametrize("limit", [0, MAX_PAGE_SIZE + 1])
def test_limit_outside_bounds_is_invalid_input(chains: QuerySet[AuditChain], limit: int) -> None:
    with pytest.raises(InvalidInputError) as raised:
        paginate(chains, cursor=None, limit=limit)
    assert raised.value.field == "limit"
