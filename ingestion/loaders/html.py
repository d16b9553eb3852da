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
_LINE_BREAK = "\n"
_PARAGRAPH_BREAK = "\n\n"


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
        self._blank_run = 1  # no blank line before the first text

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
                self._out.append(" | ")
            self._cells_in_row += 1
        elif tag in _PARAGRAPH:
            self._out.append(_PARAGRAPH_BREAK)
        elif tag in _LINE:
            self._out.append(_LINE_BREAK)
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt and alt.strip() and not self._in_head:
                self._out.append(f" {alt.strip()} ")

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
            self._out.append(_PARAGRAPH_BREAK)
        elif tag in _LINE and tag != "br":
            self._out.append(_LINE_BREAK)

    def handle_data(self, data: str) -> None:
        if self._hidden_tag is not None or (self._in_head and not self._in_title):
            return
        if self._pre:
            self._out.append(data.replace("\r\n", "\n").replace("\r", "\n"))
        else:
            self._out.append(_SPACES.sub(" ", data))

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
    for chunk in chunks:
        for start in range(0, len(chunk), _FEED_CHARS):
            parser.feed(chunk[start : start + _FEED_CHARS])
        yield from parser.take_lines(final=False)
    parser.close()
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
