"""Evidence that can be checked word for word: candidate sentences and quote verification.

A quote is kept only if it is found in its chunk, exactly or after normalising whitespace
and case, and is mapped back to exact offsets in the stored document text, so that
`quote == document_text[start:end]` always holds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from appliance.sentences import sentence_spans
from appliance.store.catalog import ChunkHit

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Evidence:
    """A verbatim span of a stored document: `text == document_text[start:end]`."""

    chunk: ChunkHit
    start: int
    end: int
    text: str


def candidate_sentences(chunks: Sequence[ChunkHit], min_chars: int = 12) -> list[Evidence]:
    """Every sentence of the retrieved chunks, in retrieval order, as document spans."""
    found: list[Evidence] = []
    seen: set[tuple[int, int, int]] = set()
    for chunk in chunks:
        for start, end in sentence_spans(chunk.text, 0, len(chunk.text)):
            key = (chunk.document_row, chunk.start + start, chunk.start + end)
            if end - start >= min_chars and key not in seen:
                seen.add(key)
                found.append(Evidence(chunk, chunk.start + start, chunk.start + end, chunk.text[start:end]))
    return found


def _normalised_with_map(text: str) -> tuple[str, list[int]]:
    """Case-folded text with runs of whitespace collapsed, and each character's original index."""
    out: list[str] = []
    index: list[int] = []
    previous_space = False
    for position, char in enumerate(text):
        if char.isspace():
            if previous_space:
                continue
            out.append(" ")
            previous_space = True
        else:
            out.append(char.lower())
            previous_space = False
        index.append(position)
    return "".join(out), index


def locate_quote(quote: str, chunk: ChunkHit) -> Evidence | None:
    """The quote's exact span in the stored document, or None when the chunk does not contain it."""
    wanted = quote.strip()
    if not wanted:
        return None
    position = chunk.text.find(wanted)
    if position >= 0:
        start = chunk.start + position
        return Evidence(chunk, start, start + len(wanted), wanted)
    haystack, index = _normalised_with_map(chunk.text)
    needle = _SPACE.sub(" ", wanted).lower()
    position = haystack.find(needle)
    if position < 0:
        return None
    first, last = index[position], index[position + len(needle) - 1] + 1
    return Evidence(chunk, chunk.start + first, chunk.start + last, chunk.text[first:last])
