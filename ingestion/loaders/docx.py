"""Word .docx files: body paragraphs and header-aware tables in document order.

python-docx opens the package; the text is read straight from the XML with lxml's iterwalk,
which is fast on long documents and also sees what python-docx's `Paragraph.text` misses:
content controls (w:sdt), tracked insertions, smart tags and text boxes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docx
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from lxml import etree

from ingestion.loaders.archive_guard import check_archive
from ingestion.loaders.base import LoadError, LoadLimits, LoadNotes, Segment

BLOCK_CHARS = 20_000

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_P, _TBL, _TR, _TC = f"{_W}p", f"{_W}tbl", f"{_W}tr", f"{_W}tc"
_T, _TAB, _BR, _CR = f"{_W}t", f"{_W}tab", f"{_W}br", f"{_W}cr"
_NO_BREAK_HYPHEN = f"{_W}noBreakHyphen"
_TXBX = f"{_W}txbxContent"
# Containers that wrap blocks, rows or cells without meaning anything for the text.
_WRAPPERS = frozenset({f"{_W}sdt", f"{_W}sdtContent", f"{_W}customXml", f"{_W}smartTag"})
# Subtrees whose text is not shown: deleted runs, the fallback copy of drawings, properties.
_SKIP = frozenset({f"{_W}del", f"{_MC}Fallback", f"{_W}pPr", f"{_W}rPr", f"{_W}sdtPr", f"{_W}tblPr"})
_GRID_SPAN, _V_MERGE, _GRID_BEFORE = f"{_W}gridSpan", f"{_W}vMerge", f"{_W}gridBefore"
_VAL = f"{_W}val"
_BLOCK_TAGS, _ROW_TAGS, _CELL_TAGS = frozenset({_P, _TBL}), frozenset({_TR}), frozenset({_TC})


def _children(element: etree._Element, tags: frozenset[str]) -> Iterator[etree._Element]:
    """Direct children with one of `tags`, looking through content-control wrappers."""
    for child in element:
        if child.tag in tags:
            yield child
        elif child.tag in _WRAPPERS:
            yield from _children(child, tags)


def _inline_text(element: etree._Element) -> str:
    """Visible text under one element; nested paragraphs and text boxes start new lines."""
    parts: list[str] = []
    walker = etree.iterwalk(element, events=("start", "end"))
    for event, node in walker:
        tag = node.tag
        if event == "end":
            if tag == _TXBX:
                parts.append("\n")
            continue
        if tag == _T:
            parts.append(node.text or "")
        elif tag in _SKIP or (tag == _TC and node is not element and _continues_above(node)):
            walker.skip_subtree()
        elif tag == _TAB:
            parts.append("\t")
        elif tag in (_BR, _CR, _TXBX) or (tag == _P and node is not element):
            parts.append("\n")
        elif tag == _NO_BREAK_HYPHEN:
            parts.append("-")
    return "".join(parts)


def _paragraph_text(p: etree._Element) -> str:
    """A paragraph's text, with spaces tidied on each line and empty lines dropped."""
    lines = (" ".join(line.split()) for line in _inline_text(p).split("\n"))
    return "\n".join(line for line in lines if line)


def _continues_above(tc: etree._Element) -> bool:
    """True for a cell that continues a vertical merge (Word does not show its own text)."""
    merge = tc.find(f"{_W}tcPr/{_V_MERGE}")
    return merge is not None and merge.get(_VAL) != "restart"


def _int_val(prop: etree._Element | None, default: int) -> int:
    """The w:val of a property element such as w:gridSpan, as an int."""
    try:
        return int(prop.get(_VAL)) if prop is not None else default
    except (TypeError, ValueError):
        return default


def _row_cells(tr: etree._Element, above: dict[int, str]) -> dict[int, str]:
    """Map grid column -> cell text for one row; vertically merged cells repeat the value above."""
    cells: dict[int, str] = {}
    column = _int_val(tr.find(f"{_W}trPr/{_GRID_BEFORE}"), 0)
    for tc in _children(tr, _CELL_TAGS):
        if _continues_above(tc):
            text = above.get(column, "")
        else:
            text = " ".join(_inline_text(tc).split())
        cells[column] = text
        column += max(_int_val(tc.find(f"{_W}tcPr/{_GRID_SPAN}"), 1), 1)
    return cells


def _table_lines(tbl: etree._Element) -> Iterator[str]:
    """One line per row: the first row names the columns, later rows read `Name: value | ...`.

    A one-column table (a layout box) or a lone row has no header to speak of: plain lines.
    """
    rows: list[dict[int, str]] = []
    above: dict[int, str] = {}
    for tr in _children(tbl, _ROW_TAGS):
        above = _row_cells(tr, above)
        rows.append(above)
    if len(rows) == 1 or all(len(cells) <= 1 for cells in rows):
        for cells in rows:
            line = " | ".join(text for text in cells.values() if text)
            if line:
                yield line
        return
    header = rows[0] if rows else {}
    for cells in rows[1:]:
        # A cell merged down from the header row repeats the header: nothing to pair.
        pairs = [
            f"{header.get(col) or f'Column {col + 1}'}: {text}"
            for col, text in cells.items()
            if text and text != header.get(col)
        ]
        if pairs:
            yield " | ".join(pairs)


def _block_units(container: etree._Element) -> Iterator[tuple[str, bool]]:
    """(text, joins_previous_tightly) for each paragraph and table row, in document order."""
    for child in _children(container, _BLOCK_TAGS):
        if child.tag == _P:
            text = _paragraph_text(child)
            if text:
                yield text, False
        else:
            first = True
            for line in _table_lines(child):
                yield line, not first
                first = False


def _blocks(units: Iterator[tuple[str, bool]]) -> Iterator[str]:
    """Group units into blocks of up to BLOCK_CHARS, never splitting one unit."""
    block: list[str] = []
    size = 0
    for text, tight in units:
        if block and size + len(text) > BLOCK_CHARS:
            yield "".join(block)
            block, size = [], 0
        if block:
            block.append("\n" if tight else "\n\n")
        block.append(text)
        size += len(text) + 2
    if block:
        yield "".join(block)


class DocxLoader:
    """Loads .docx bodies (and their headers/footers once each) as text."""

    kind: str = "docx"
    extensions: tuple[str, ...] = (".docx",)

    def load(self, path: Path, limits: LoadLimits, notes: LoadNotes) -> Iterator[Segment]:
        """Yield header text, then the body in ~20k-char blocks, then footer text."""
        names = check_archive(path, limits, "DOCX")
        if "[Content_Types].xml" not in names:
            raise LoadError("not a valid DOCX (a zip archive, but not an Office document)")
        try:
            document = docx.Document(str(path))
            body = document.element.body
            rels = sorted(document.part.rels.values(), key=lambda rel: rel.target_ref)
            headers = [rel.target_part.element for rel in rels if rel.reltype == RT.HEADER]
            footers = [rel.target_part.element for rel in rels if rel.reltype == RT.FOOTER]
        except Exception as exc:
            reason = " ".join(str(exc).split())[:120] or type(exc).__name__
            raise LoadError(f"corrupt DOCX: {reason}") from exc

        header_text = _unique_text(headers)
        if header_text:
            yield Segment(text=header_text, label="header")
        found = False
        for block in _blocks(_block_units(body)):
            found = True
            yield Segment(text=block, label="body")
        footer_text = _unique_text(footers)
        if footer_text:
            yield Segment(text=footer_text, label="footer")
        if not (found or header_text or footer_text):
            raise LoadError("no text (the document holds no text; images are not OCR'd)")


def _unique_text(parts: list[etree._Element]) -> str:
    """Text of header or footer parts, each distinct paragraph once (they repeat per section)."""
    seen: dict[str, None] = {}
    for part in parts:
        for text, _ in _block_units(part):
            seen.setdefault(text, None)
    return "\n".join(seen)
