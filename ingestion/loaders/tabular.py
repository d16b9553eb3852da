"""Tables (CSV/TSV and XLSX): each row becomes one line that keeps its column names.

`Name: Jane Roe; Role: Analyst` survives chunking and retrieval on its own, where a bare
`Jane Roe,Analyst` would lose its meaning once separated from the header row.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from pathlib import Path

import openpyxl

from ingestion.loaders.archive_guard import check_archive
from ingestion.loaders.base import LoadError, LoadLimits, LoadNotes, Segment
from ingestion.loaders.encoding import control_share, detect, iter_decoded, iter_lines, looks_binary, read_head

ROWS_PER_SEGMENT = 200
MAX_TITLE_ROWS = 3
_SNIFF_CHARS = 8 * 1024  # csv.Sniffer's regexes get slow on large samples
_CSV_DELIMITERS = ",;\t|"


def _cell_text(value: object) -> str:
    """A cell value as display text: whole floats without '.0', dates without a midnight time."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.15g}"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return " ".join(str(value).split())


def _row_line(header: list[str], values: list[str]) -> str:
    """`col1: v1; col2: v2` for the non-empty cells; unnamed columns become `Column N`."""
    pairs = []
    for index, value in enumerate(values):
        if value:
            name = header[index] if index < len(header) and header[index] else f"Column {index + 1}"
            pairs.append(f"{name}: {value}")
    return "; ".join(pairs)


def _segments(lines: Iterable[tuple[int, str]], label: str | None) -> Iterator[Segment]:
    """Group (row number, line) pairs into segments of ROWS_PER_SEGMENT rows.

    Without a fixed `label`, each segment is labelled with its rows, e.g. "rows 1-200".
    """
    batch: list[str] = []
    first = last = 0
    for number, line in lines:
        if not batch:
            first = number
        batch.append(line)
        last = number
        if len(batch) == ROWS_PER_SEGMENT:
            yield Segment(text="\n".join(batch), label=label or f"rows {first}-{last}")
            batch = []
    if batch:
        yield Segment(text="\n".join(batch), label=label or f"rows {first}-{last}")


def _filled(values: list[str]) -> int:
    """Number of non-empty cells in a row."""
    return sum(1 for value in values if value)


def _table_lines(rows: Iterable[list[str]], limits: LoadLimits, counted: list[int]) -> Iterator[tuple[int, str]]:
    """(data row number, line) for each non-empty row; the first non-empty row is the header.

    Up to MAX_TITLE_ROWS one-cell rows above a wider row are titles (a sheet caption above
    the real header): they are kept as plain lines. `counted` is a one-item running total
    of rows read (empty ones too) across calls, capped at limits.max_rows.
    """
    header: list[str] | None = None
    held: list[list[str]] = []  # one-cell rows that may be titles or a one-column header
    number = 0
    for values in rows:
        counted[0] += 1
        if counted[0] > limits.max_rows:
            raise LoadError(f"too many rows: more than {limits.max_rows} (limit)")
        if not any(values):
            continue
        if header is None:
            if _filled(values) == 1 and len(held) < MAX_TITLE_ROWS:
                held.append(values)
                continue
            if held and _filled(values) >= 2:
                for title in held:
                    yield 1, "; ".join(value for value in title if value)
                header, held = values, []
                continue
            header = held[0] if held else values
            pending = held[1:] + ([values] if held else [])
            held = []
        else:
            pending = [values]
        for data in pending:
            number += 1
            line = _row_line(header, data)
            if line:
                yield number, line
    if header is None and held:
        header, rest = held[0], held[1:]
        for data in rest:
            number += 1
            yield number, _row_line(header, data)
    if header is not None and number == 0:
        # A table with a header only: keep the header itself.
        yield 1, "; ".join(value for value in header if value)


class CsvLoader:
    """Loads CSV/TSV with sniffed dialect and detected encoding, streaming row by row."""

    kind: str = "csv"
    extensions: tuple[str, ...] = (".csv", ".tsv")

    def load(self, path: Path, limits: LoadLimits, notes: LoadNotes) -> Iterator[Segment]:
        """Yield segments of ~200 header-aware row lines, labelled by row range."""
        head, complete = read_head(path)
        if not head:
            raise LoadError("empty file")
        encoding, skip = detect(head, complete)
        if looks_binary(head[skip:], encoding):
            nul = head.find(b"\x00", skip)
            row = head[skip:nul].count(b"\n") + 1 if nul >= 0 else 1
            raise LoadError(f"binary data in CSV (row {row})")
        sample = head[skip:].decode(encoding, errors="replace")[:_SNIFF_CHARS]
        dialect = _sniff(sample, "\t" if path.suffix.lower() == ".tsv" else _CSV_DELIMITERS)

        csv.field_size_limit(limits.max_field_chars)
        max_line = max(limits.max_field_chars * 16, 1024 * 1024)
        lines = iter_lines(iter_decoded(path, encoding, skip), max_line=max_line)
        reader = csv.reader(lines, dialect)
        found = False
        for segment in _segments(_table_lines(_checked_rows(reader), limits, [0]), None):
            found = True
            yield segment
        if not found:
            raise LoadError("no text (the table is empty)")


def _sniff(sample: str, delimiters: str) -> type[csv.Dialect] | csv.Dialect:
    """csv.Sniffer on a sample cut at a line end; comma (tab for .tsv) when it cannot tell."""
    cut = sample.rfind("\n")
    sample = sample[:cut] if cut > 0 else sample
    try:
        return csv.Sniffer().sniff(sample, delimiters=delimiters)
    except csv.Error:
        return csv.excel_tab if delimiters == "\t" else csv.excel


def _checked_rows(reader: Iterator[list[str]]) -> Iterator[list[str]]:
    """Rows with cells tidied; NUL bytes or control-character junk raise LoadError."""
    row_number = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise LoadError(f"malformed CSV (row {row_number + 1}): {exc}") from exc
        row_number += 1
        joined = "".join(row)
        if "\x00" in joined or (len(joined) >= 8 and control_share(joined) > 0.10):
            raise LoadError(f"binary data in CSV (row {row_number})")
        yield [" ".join(cell.split()) for cell in row]


class XlsxLoader:
    """Loads Excel workbooks sheet by sheet, values only (cached formula results)."""

    kind: str = "xlsx"
    extensions: tuple[str, ...] = (".xlsx", ".xlsm")

    def load(self, path: Path, limits: LoadLimits, notes: LoadNotes) -> Iterator[Segment]:
        """Yield segments of ~200 header-aware row lines per sheet, labelled `sheet NAME`."""
        check_archive(path, limits, "XLSX")
        try:
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:
            raise LoadError(f"corrupt XLSX: {_reason(exc)}") from exc
        try:
            found = False
            counted = [0]
            for sheet in workbook.worksheets:
                if hasattr(sheet, "reset_dimensions"):
                    # Declared dimensions can be wrong or hostile (A1:XFD1048576); read actual cells.
                    sheet.reset_dimensions()
                rows = _sheet_rows(sheet.iter_rows(values_only=True))
                for segment in _segments(_table_lines(rows, limits, counted), f"sheet {sheet.title}"):
                    found = True
                    yield segment
            if not found:
                raise LoadError("no text (the workbook is empty)")
        finally:
            workbook.close()


def first_sheet_rows(path: Path, limits: LoadLimits) -> list[list[str]]:
    """The first sheet of a workbook as rows of display strings (header first), for a tabular model;
    the same archive guard and corruption handling as ingestion."""
    check_archive(path, limits, "XLSX")
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise LoadError(f"corrupt XLSX: {_reason(exc)}") from exc
    try:
        sheet = workbook.worksheets[0]
        if hasattr(sheet, "reset_dimensions"):
            sheet.reset_dimensions()
        rows = []
        for row in _sheet_rows(sheet.iter_rows(values_only=True)):
            rows.append(row)
            if len(rows) > limits.max_rows + 1:
                raise LoadError(f"more than {limits.max_rows} rows")
        return rows
    finally:
        workbook.close()


def _sheet_rows(rows: Iterator[tuple[object, ...]]) -> Iterator[list[str]]:
    """A sheet's rows as display strings; XML or parse failures become LoadError."""
    try:
        for values in rows:
            yield [_cell_text(value) for value in values]
    except Exception as exc:
        raise LoadError(f"corrupt XLSX: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """A short one-line reason from an exception."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:120]
