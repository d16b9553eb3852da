"""Reading a CSV table for training or prediction: header, rows, and clear errors naming the file."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


class TableError(Exception):
    """A table that cannot be used: the message names the file and the reason."""


@dataclass(frozen=True)
class Table:
    """A table as text: its column names and rows of cells (every row as long as the header)."""

    source: str
    columns: list[str]
    rows: list[list[str]]

    def column(self, name: str) -> list[str]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


def read_table(path: Path, max_rows: int, *, head: int | None = None) -> Table:
    """The CSV at `path` (UTF-8, a BOM allowed, the delimiter sniffed among , ; and tab) or the first sheet
    of an XLSX workbook; with `head`, only its first rows."""
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _from_rows(path, _workbook_rows(path, max_rows), max_rows, head)
    if path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        raise TableError(f"{path}: not a CSV or XLSX file (expected .csv, .tsv or .xlsx)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as problem:
        raise TableError(f"{path}: not UTF-8 text ({problem.reason} at byte {problem.start})") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise TableError(f"{path}: empty, or no header line")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return _from_rows(path, csv.reader(io.StringIO(text), dialect), max_rows, head)


def _from_rows(path: Path, reader: Iterable[list[str]], max_rows: int, head: int | None) -> Table:
    """The header and the non-empty rows, each as long as the header."""
    rows_in = iter(reader)
    columns = [name.strip() for name in next(rows_in, [])]
    if not columns or len(set(columns)) != len(columns) or not all(columns):
        raise TableError(f"{path}: the header has empty or repeated column names")
    rows = []
    for number, row in enumerate(rows_in, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            raise TableError(f"{path}: row {number} has {len(row)} cells, the header {len(columns)}")
        rows.append([cell.strip() for cell in row])
        if head is not None and len(rows) >= head:
            break
        if len(rows) > max_rows:
            raise TableError(f"{path}: more than {max_rows} rows (tabular.max_rows)")
    if not rows:
        raise TableError(f"{path}: a header but no rows")
    return Table(str(path), columns, rows)


def _workbook_rows(path: Path, max_rows: int) -> list[list[str]]:
    """The first sheet, read by the ingestion loader that guards against zip bombs and corrupt files."""
    from ingestion.loaders.base import LoadError, LoadLimits
    from ingestion.loaders.tabular import first_sheet_rows

    try:
        rows = first_sheet_rows(path, LoadLimits(max_rows=max_rows))
    except LoadError as problem:
        raise TableError(f"{path}: {problem}") from None
    header = rows[0] if rows else []
    width = len(header)
    while width and not header[width - 1].strip():  # trailing empty cells of a sheet are not columns
        width -= 1
    return [r[:width] + [""] * (width - len(r[:width])) for r in rows]
