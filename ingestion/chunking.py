"""Chunking that respects sentences and pages, with overlap of whole sentences.

Chunks are [start, end) spans of the stored text, so a chunk's text is always
`stored_text[start:end]` and a citation can point back into the document exactly.
"""

from __future__ import annotations

from collections.abc import Iterator

from appliance.records import ChunkSpan, Section
from appliance.sentences import sentence_spans, trimmed


def _split_long(text: str, start: int, end: int, limit: int) -> Iterator[tuple[int, int]]:
    """Cut an over-long sentence at spaces so no piece exceeds the limit."""
    while end - start > limit:
        cut = text.rfind(" ", start + limit // 2, start + limit)
        cut = start + limit if cut < 0 else cut
        yield from trimmed(text, start, cut)
        start = cut
    yield from trimmed(text, start, end)


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
