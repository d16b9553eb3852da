"""Chunking that respects sentences and pages, with overlap of whole sentences.

Chunks are [start, end) spans of the stored text, so a chunk's text is always
`stored_text[start:end]` and a citation can point back into the document exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from appliance.redaction import Section

# A sentence ends after . ! ? (plus closing quotes/brackets) and whitespace, or at a line break.
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")


@dataclass(frozen=True)
class ChunkSpan:
    """One chunk: its span in the stored text and the page or label it lies on."""

    ordinal: int
    start: int
    end: int
    page: int | None
    label: str | None


def sentence_spans(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Spans of sentences inside text[start:end], without surrounding whitespace."""
    cursor = start
    for match in _BOUNDARY.finditer(text, start, end):
        yield from _trimmed(text, cursor, match.start() if text[match.start()] == "\n" else match.end())
        cursor = match.end()
    yield from _trimmed(text, cursor, end)


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield start, end


def _split_long(text: str, start: int, end: int, limit: int) -> Iterator[tuple[int, int]]:
    """Cut an over-long sentence at spaces so no piece exceeds the limit."""
    while end - start > limit:
        cut = text.rfind(" ", start + limit // 2, start + limit)
        cut = start + limit if cut < 0 else cut
        yield from _trimmed(text, start, cut)
        start = cut
    yield from _trimmed(text, start, end)


def chunk_sections(text: str, sections: list[Section], chunk_chars: int, overlap_chars: int) -> list[ChunkSpan]:
    """Pack sentences into chunks of about chunk_chars per section, never across sections."""
    chunks: list[ChunkSpan] = []
    for section in sections:
        units: list[tuple[int, int]] = []
        for s_start, s_end in sentence_spans(text, section.start, section.end):
            units.extend(_split_long(text, s_start, s_end, chunk_chars))
        for c_start, c_end in _pack(units, chunk_chars, overlap_chars):
            chunks.append(ChunkSpan(len(chunks), c_start, c_end, section.page, section.label))
    return chunks


def _pack(units: list[tuple[int, int]], chunk_chars: int, overlap_chars: int) -> Iterator[tuple[int, int]]:
    first = 0
    while first < len(units):
        last = first
        while last + 1 < len(units) and units[last + 1][1] - units[first][0] <= chunk_chars:
            last += 1
        yield units[first][0], units[last][1]
        if last + 1 >= len(units):
            return
        # Step back over whole sentences for the overlap, but always move forward.
        next_first = last + 1
        while next_first - 1 > first and units[last][1] - units[next_first - 1][0] <= overlap_chars:
            next_first -= 1
        first = next_first
