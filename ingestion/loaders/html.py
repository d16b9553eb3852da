"""HTML pages: visible text only, via the stdlib's non-recursive parser so deep nesting is safe."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from ingestion.loaders.base import LoadError, LoadLimits, LoadNotes, Segment
from ingestion.loaders.encoding import (
    bom_encoding,
    guess_encoding,
    iter_decoded,
    looks_binary,
    normalize_codec,
    read_head,
)

BLOCK_CHARS = 20_000
_FEED_CHARS = 64 * 1024
_META_BYTES = 4096

# Elements whose content is never shown. script/style are raw text for HTMLParser already.
_HIDDEN = frozenset({"script", "style", "noscript", "template", "svg", "math", "iframe", "object"})
# Elements that end a paragraph (blank line) or just a line.
_PARAGRAPH = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "pre", "section"}
    | {"article", "ul", "ol", "dl", "hr", "header", "footer", "figure", "form", "main"}
    | {"aside", "nav", "address", "fieldset", "details"}
)
_LINE = frozenset(
    {"br", "div", "li", "tr", "dt", "dd", "caption", "figcaption", "summary", "legend"}
    | {"option", "label", "tbody", "thead", "tfoot", "body", "title", "center", "dialog"}
)
_CELL = frozenset({"td", "th"})
_HEAD_CONTENT = frozenset({"title", "meta", "link", "base", "style", "script", "noscript"})
_MAX_LINE = 256 * 1024

_META_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]+)", re.I)
_SPACES = re.compile(r"\s+")
_EMPTY_CELLS = re.compile(r"\|(?:\s*\|)+")


class _TextExtractor(HTMLParser):
    """Collects visible text with line and cell breaks; keeps only counters, never a tag stack."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._hidden_tag: str | None = None
        self._hidden_depth = 0
        self._in_head = False
        self._in_title = False
        self._title_done = False
        self._pre = 0
        self._cells_in_row = 0
        self._break = 0  # pending line breaks: 0, 1 (new line) or 2 (blank line)
        self._blank_run = 1  # no blank line before the first text

    # -- robustness: the stdlib parser asserts on some malformed markup ---------------
    def parse_marked_section(self, i: int, report: bool = True) -> int:
        """`<![...` that is not CDATA/if/endif: skip it like a bogus comment instead of failing."""
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            return self.parse_bogus_comment(i, report=False)

    def parse_starttag(self, i: int) -> int:
        """A start tag the parser cannot make sense of is kept as text."""
        try:
            return super().parse_starttag(i)
        except AssertionError:
            self.handle_data("<")
            return i + 1

    # -- parser callbacks -------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._hidden_tag is not None:
            if tag == self._hidden_tag:
                self._hidden_depth += 1
            return
        if tag in _HIDDEN:
            self._hidden_tag, self._hidden_depth = tag, 1
            return
        if self._in_head and tag not in _HEAD_CONTENT:
            self._in_head = False  # browsers close an unclosed <head> at the first body tag
        if tag == "head":
            self._in_head = True
        elif tag == "title" and not self._title_done:
            self._in_title = True
        elif tag == "pre":
            self._pre += 1
        elif tag == "tr":
            self._cells_in_row = 0
        if tag in _CELL:
            if self._cells_in_row:
                self._emit(" | ")
            self._cells_in_row += 1
        elif tag in _PARAGRAPH:
            self._newline(2)
        elif tag in _LINE:
            self._newline(1)
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt and alt.strip() and not self._in_head:
                self._emit(f" {alt.strip()} ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <img/>, <svg/>: a void element opens nothing, so hidden tags do not count.
        if self._hidden_tag is None and tag not in _HIDDEN:
            self.handle_starttag(tag, attrs)
            if tag not in ("br", "img", "hr"):
                self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._hidden_tag is not None:
            if tag == self._hidden_tag:
                self._hidden_depth -= 1
                if self._hidden_depth == 0:
                    self._hidden_tag = None
            return
        if tag == "head":
            self._in_head = False
        elif tag == "title" and self._in_title:
            self._in_title, self._title_done = False, True
        elif tag == "pre" and self._pre:
            self._pre -= 1
        if tag in _PARAGRAPH:
            self._newline(2)
        elif tag in _LINE and tag != "br":
            self._newline(1)

    def handle_data(self, data: str) -> None:
        if self._hidden_tag is not None or (self._in_head and not self._in_title):
            return
        if self._pre:
            self._emit(data.replace("\r\n", "\n").replace("\r", "\n"))
        elif data.strip():
            self._emit(_SPACES.sub(" ", data))
        elif not self._break:
            self._out.append(" ")

    def _newline(self, count: int) -> None:
        """Ask for a line break (1) or a blank line (2) before the next text; breaks do not add up."""
        self._break = max(self._break, count)

    def _emit(self, text: str) -> None:
        """Append text, preceded by any pending break."""
        if self._break:
            self._out.append("\n" * self._break)
            self._break = 0
        self._out.append(text)

    # -- output -----------------------------------------------------------------------
    def take_lines(self, final: bool) -> list[str]:
        """Return the finished lines so far (whitespace-collapsed, at most one blank in a row)."""
        text = "".join(self._out)
        self._out.clear()
        if not final:
            cut = text.rfind("\n") + 1
            if len(text) - cut > _MAX_LINE:
                # One endless line (minified page): break it at a space to bound the buffer.
                cut = text.rfind(" ", cut) + 1 or len(text)
                text = text[:cut] + "\n" + text[cut:]
                cut += 1
            text, rest = text[:cut], text[cut:]
            if rest:
                self._out.append(rest)
        lines: list[str] = []
        for raw in text.split("\n")[: None if final else -1]:
            line = _SPACES.sub(" ", raw).strip()
            if "|" in line:  # drop the separators of empty table cells
                line = _EMPTY_CELLS.sub("|", line).strip("| ")
            if line:
                lines.append(line)
                self._blank_run = 0
            else:
                self._blank_run += 1
                if self._blank_run == 1:
                    lines.append("")
        return lines


def _iter_html_lines(chunks: Iterator[str]) -> Iterator[str]:
    """Feed HTML text to the extractor chunk by chunk; yield output lines as they complete."""
    parser = _TextExtractor()
    try:
        for chunk in chunks:
            for start in range(0, len(chunk), _FEED_CHARS):
                parser.feed(chunk[start : start + _FEED_CHARS])
            yield from parser.take_lines(final=False)
        parser.close()
    except AssertionError as exc:  # the stdlib parser's way of refusing markup we did not foresee
        raise LoadError(f"malformed HTML: {' '.join(str(exc).split())[:120]}") from exc
    yield from parser.take_lines(final=True)


def html_to_text(html: str) -> str:
    """Visible text of an HTML document, one block per line, the <title> first."""
    return "\n".join(_iter_html_lines(iter([html]))).strip("\n")


def html_encoding(head: bytes, complete: bool) -> tuple[str, int]:
    """Codec for an HTML file: BOM, else <meta charset> in the first 4 KiB, else detection."""
    found = bom_encoding(head)
    if found is not None:
        return found
    match = _META_CHARSET.search(head[:_META_BYTES])
    if match is not None:
        name = normalize_codec(match.group(1).decode("ascii", "replace"))
        # A page that says UTF-16 in ASCII bytes cannot be UTF-16 (WHATWG: read as UTF-8).
        if name is not None and not name.startswith(("utf-16", "utf-32")):
            return name, 0
    return guess_encoding(head, complete), 0


class HtmlLoader:
    """Loads .html/.htm as visible text in blocks of up to ~20k characters."""

    kind: str = "html"
    extensions: tuple[str, ...] = (".html", ".htm")

    def load(self, path: Path, limits: LoadLimits, notes: LoadNotes) -> Iterator[Segment]:
        """Stream-decode, parse and regroup the page's visible text."""
        head, complete = read_head(path)
        if not head:
            raise LoadError("empty file")
        encoding, skip = html_encoding(head, complete)
        if looks_binary(head[skip:], encoding):
            raise LoadError("binary data, not HTML")
        block: list[str] = []
        size = 0
        found = False
        for line in _iter_html_lines(iter_decoded(path, encoding, skip)):
            if size + len(line) > BLOCK_CHARS and block:
                found = True
                yield Segment(text="\n".join(block).strip("\n"))
                block, size = [], 0
            if line or block:
                block.append(line)
                size += len(line) + 1
        text = "\n".join(block).strip("\n")
        if text:
            found = True
            yield Segment(text=text)
        if not found:
            raise LoadError("no visible text")
