"""Streaming readers of the files people import: CSV (any encoding and delimiter Excel writes),
XLSX and XML. Each yields one row at a time with its line number as the spreadsheet shows it,
so memory stays flat however large the file.

Line numbers: in CSV and XLSX the header is line 1 and the first record line 2 (a CSV record
spanning several physical lines, a quoted cell with a line break, is one line, as in Excel). In
XML the first record element is line 2 too, so that numbers mean the same in every format:
"the n-th record is line n + 1".
"""

import codecs
import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from django.utils.translation import gettext as _

from huike.core.errors import InvalidInputError

# The head of a file that encoding, delimiter and header detection read. Large enough for
# Sniffer to see several rows of a wide sheet.
HEAD_BYTES = 64 * 1024
# Sniffer chooses among the delimiters Excel and WPS write (comma, semicolon in European
# locales, tab for "Unicode text") and the pipe some ERPs export.
DELIMITERS = ",;\t|"
# Record elements an XML header scan reads to collect the column names.
XML_HEADER_RECORDS = 200
# A CSV field longer than this is not data anyone typed; the csv module's default (128 kB) is
# kept, named here so the limit is visible.
CSV_FIELD_LIMIT = 128 * 1024
FIRST_DATA_LINE = 2

UTF8_SIG = "utf-8-sig"
UTF8 = "utf-8"
GB18030 = "gb18030"


class FileReadError(InvalidInputError):
    """The file cannot be read as what it claims to be (the message says why)."""


@dataclass(frozen=True)
class FileShape:
    """What the upload found out about a file: how to read it and its columns."""

    file_type: str
    encoding: str
    delimiter: str
    headers: list[str]
    total_estimate: int


class EncodingSniffer:
    """Decides the encoding of a CSV while it is written to storage, chunk by chunk: a BOM
    means UTF-8 with BOM; bytes that are valid UTF-8 from start to end mean UTF-8; anything
    else is GB18030 (the superset of GBK and GB2312 that Chinese Excel writes)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder(UTF8)()
        self._first = b""
        self._is_utf8 = True
        self._seen = 0

    def feed(self, chunk: bytes) -> None:
        if len(self._first) < 3:
            self._first += chunk[: 3 - len(self._first)]
        self._seen += len(chunk)
        if self._is_utf8:
            try:
                self._decoder.decode(chunk, final=False)
            except UnicodeDecodeError:
                self._is_utf8 = False

    def result(self) -> str:
        if self._first.startswith(codecs.BOM_UTF8):
            return UTF8_SIG
        if self._is_utf8:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                return GB18030
            return UTF8
        return GB18030


def detect_encoding(path: Path) -> str:
    sniffer = EncodingSniffer()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            sniffer.feed(chunk)
    return sniffer.result()


def _unique_headers(raw: list[Any]) -> list[str]:
    """Header texts, trimmed, with blanks named by position and repeats numbered: a mapping
    refers to columns by these names."""
    headers: list[str] = []
    for position, value in enumerate(raw, start=1):
        text = cell_text(value) or _("Column %(number)d") % {"number": position}
        name, number = text, 2
        while name in headers:
            name = f"{text} ({number})"
            number += 1
        headers.append(name)
    return headers


def cell_text(value: Any) -> str:
    """A cell as text: whole numbers without ".0" (a phone number Excel stored as a number),
    dates in ISO form, everything stripped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, Decimal | int):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


# --- CSV ------------------------------------------------------------------------------------
def _csv_text(path: Path, encoding: str) -> IO[str]:
    # newline="" lets the csv module see line breaks inside quoted cells. GB18030 decodes every
    # byte sequence, and UTF-8 was checked over the whole file, so "replace" only ever applies
    # to a file changed after the upload.
    return io.open(path, encoding=encoding, errors="replace", newline="")  # noqa: UP020


def _head_text(path: Path, encoding: str) -> tuple[str, int]:
    """The first HEAD_BYTES of the file cut after its last whole line, decoded, and their
    length in bytes. (No multi-byte GB18030 or UTF-8 character contains the byte of "\n".)"""
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    if len(head) == HEAD_BYTES and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]
    return head.decode(encoding, errors="replace"), len(head)


def sniff_delimiter(head: str) -> str:
    try:
        return csv.Sniffer().sniff(head, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first = head.splitlines()[0] if head else ""
        counts = {delimiter: first.count(delimiter) for delimiter in DELIMITERS}
        best = max(counts, key=lambda delimiter: counts[delimiter])
        return best if counts[best] else ","


def _csv_records(path: Path, encoding: str, delimiter: str) -> Iterator[list[str]]:
    csv.field_size_limit(CSV_FIELD_LIMIT)
    with _csv_text(path, encoding) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            yield from reader
        except csv.Error as error:
            raise FileReadError(
                _("The CSV file is malformed near line %(line)d: %(error)s")
                % {"line": reader.line_num, "error": error}
            ) from None


def _csv_shape(path: Path) -> FileShape:
    encoding = detect_encoding(path)
    head, head_bytes = _head_text(path, encoding)
    delimiter = sniff_delimiter(head)
    header = next(_csv_records(path, encoding, delimiter), None)
    if not header or not any(cell.strip() for cell in header):
        raise FileReadError(_("The file is empty: the first line must name the columns."))
    records_in_head = sum(1 for _ in csv.reader(io.StringIO(head), delimiter=delimiter))
    size = path.stat().st_size
    # Exact for a file within the head; else the head's bytes per record, extrapolated.
    estimate = records_in_head if size <= head_bytes else size * records_in_head // head_bytes
    return FileShape(
        file_type="csv",
        encoding=encoding,
        delimiter=delimiter,
        headers=_unique_headers(header),
        total_estimate=max(0, estimate - 1),
    )


def _csv_rows(path: Path, shape_encoding: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    records = _csv_records(path, shape_encoding, delimiter)
    next(records, None)
    for line, record in enumerate(records, start=FIRST_DATA_LINE):
        yield line, [cell.strip() for cell in record]


# --- XLSX -----------------------------------------------------------------------------------
def _workbook(handle: IO[bytes]) -> Any:
    # read_only streams the sheet's XML instead of building every cell; openpyxl parses with
    # defusedxml when it is installed (it is a dependency), so entity tricks fail here too.
    # A file object, because openpyxl judges a path by its extension, and ours have none.
    from openpyxl import load_workbook

    try:
        return load_workbook(handle, read_only=True, data_only=True)
    except Exception as error:  # zipfile, KeyError, XML errors: all mean "not a workbook"
        raise FileReadError(
            _("This is not an Excel workbook (.xlsx) that can be read: %(error)s")
            % {"error": type(error).__name__}
        ) from None


def _xlsx_shape(path: Path) -> FileShape:
    with path.open("rb") as handle:
        workbook = _workbook(handle)
        try:
            sheet = workbook.worksheets[0]
            rows = sheet.iter_rows(values_only=True)
            header = next(rows, None)
            if not header or not any(cell_text(cell) for cell in header):
                raise FileReadError(
                    _("The first sheet is empty: its first row must name the columns.")
                )
            headers = _unique_headers(list(header))
            max_row = sheet.max_row
            estimate = sum(1 for _ in rows) if max_row is None else max(0, max_row - 1)
        finally:
            workbook.close()
    return FileShape(
        file_type="xlsx", encoding="", delimiter="", headers=headers, total_estimate=estimate
    )


def _xlsx_rows(path: Path, width: int) -> Iterator[tuple[int, list[str]]]:
    with path.open("rb") as handle:
        workbook = _workbook(handle)
        try:
            rows = workbook.worksheets[0].iter_rows(values_only=True)
            next(rows, None)
            for line, row in enumerate(rows, start=FIRST_DATA_LINE):
                yield line, [cell_text(cell) for cell in row[:width]]
        finally:
            workbook.close()


# --- XML ------------------------------------------------------------------------------------
def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _xml_records(path: Path) -> Iterator[dict[str, str]]:
    """The children of the root element, each as {child tag: text}. DTDs, entities and
    external references are refused (defusedxml), so no billion laughs and no file reads."""
    depth = 0
    root: Any = None
    try:
        for event, element in iterparse(
            str(path),
            events=("start", "end"),
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        ):
            if event == "start":
                depth += 1
                if depth == 1:
                    root = element
                continue
            depth -= 1
            if depth == 1:
                record: dict[str, str] = {}
                for child in element:
                    name = _local(child.tag)
                    if name not in record:
                        record[name] = (child.text or "").strip()
                if not len(element) and element.attrib:
                    record = {_local(key): value.strip() for key, value in element.attrib.items()}
                yield record
                # Drop what has been read, so the tree never grows beyond one record.
                element.clear()
                if root is not None:
                    root.clear()
    except DefusedXmlException:
        raise FileReadError(
            _(
                "This XML file declares a DTD or entities. They are refused for safety "
                "(entity expansion, external files): export the file without them."
            )
        ) from None
    except SyntaxError as error:  # xml.etree.ElementTree.ParseError
        raise FileReadError(
            _("The XML file is malformed: %(error)s") % {"error": str(error)[:200]}
        ) from None


def _xml_shape(path: Path) -> FileShape:
    columns: list[str] = []
    count = 0
    for count, record in enumerate(_xml_records(path), start=1):
        for name in record:
            if name not in columns:
                columns.append(name)
        if count >= XML_HEADER_RECORDS:
            break
    if not columns:
        raise FileReadError(
            _("No records found: put one element per record under the root element.")
        )
    # A short file was read whole; a long one is counted (streaming, like the run).
    estimate = count if count < XML_HEADER_RECORDS else sum(1 for _ in _xml_records(path))
    return FileShape(
        file_type="xml", encoding="", delimiter="", headers=columns, total_estimate=estimate
    )


def _xml_rows(path: Path, headers: list[str]) -> Iterator[tuple[int, list[str]]]:
    for line, record in enumerate(_xml_records(path), start=FIRST_DATA_LINE):
        yield line, [record.get(name, "") for name in headers]


# --- entry points ---------------------------------------------------------------------------
def file_type_of(name: str, head: bytes) -> str:
    """csv, xlsx or xml, from the content's first bytes and the name; InvalidInputError for
    anything else (an old .xls, a PDF)."""
    lowered = name.lower()
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileReadError(
            _("This is an old Excel file (.xls). Save it as .xlsx or CSV and upload it again.")
        )
    stripped = head.lstrip(codecs.BOM_UTF8).lstrip()
    if lowered.endswith(".xml") or stripped.startswith(b"<?xml") or stripped.startswith(b"<"):
        return "xml"
    if lowered.endswith((".csv", ".txt", ".tsv")) or b"\0" not in head:
        return "csv"
    raise FileReadError(_("Upload a CSV, XLSX or XML file."))


SHAPERS = {"csv": _csv_shape, "xlsx": _xlsx_shape, "xml": _xml_shape}


def file_shape(path: Path, file_type: str) -> FileShape:
    """How to read the file and its columns; FileReadError when it cannot be read."""
    return SHAPERS[file_type](path)


def file_rows(
    path: Path, *, file_type: str, encoding: str, delimiter: str, headers: list[str]
) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) for every record after the header, cells as text in header order (short
    rows are not padded: a missing cell is an empty one)."""
    if file_type == "csv":
        return _csv_rows(path, encoding, delimiter or ",")
    if file_type == "xlsx":
        return _xlsx_rows(path, len(headers))
    return _xml_rows(path, headers)
