"""The one sentence splitter: chunking packs its sentences, answer candidates are its sentences.

Both sides must cut the stored text at the same places, or a quote the model recalls from a
candidate could straddle a boundary that chunking never saw.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# A sentence ends after . ! ? (plus closing quotes/brackets) and whitespace, or at a line break.
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")


def sentence_spans(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Spans of sentences inside text[start:end], without surrounding whitespace."""
    cursor = start
    for match in _BOUNDARY.finditer(text, start, end):
        yield from trimmed(text, cursor, match.start() if text[match.start()] == "\n" else match.end())
        cursor = match.end()
    yield from trimmed(text, cursor, end)


def trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """The span [start, end) without leading and trailing whitespace, if anything is left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield start, end
