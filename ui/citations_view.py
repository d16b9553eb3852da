"""Citations for people: each quote highlighted inside the chunk it came from, as plain text segments.

The segments go to gr.HighlightedText, which renders text, never markup: a document that
contains HTML or script shows it as characters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

QUOTE = "quote"
Segment = tuple[str, str | None]


def source_label(citation: Mapping[str, Any]) -> str:
    """`[n] file name, page p`."""
    page = f", page {citation['page']}" if citation.get("page") else ""
    return f"[{citation['n']}] {PurePath(str(citation['source'])).name}{page}"


def surrounding(citation: Mapping[str, Any], retrieved: Sequence[Mapping[str, Any]]) -> tuple[str, str, str]:
    """(text before, quote, text after) within the retrieved chunk that holds the quote."""
    quote = str(citation["quote"])
    for hit in retrieved:
        if hit.get("doc_id") != citation["doc_id"] or hit.get("version") != citation.get("version"):
            continue
        text = str(hit.get("text", ""))
        at = text.find(quote)
        if at >= 0:
            return text[:at], quote, text[at + len(quote) :]
    return "", quote, ""


def citation_segments(citations: Sequence[Mapping[str, Any]], retrieved: Sequence[Mapping[str, Any]]) -> list[Segment]:
    """All citations as one highlighted text: a source line, then the chunk with its quote marked."""
    segments: list[Segment] = []
    for citation in citations:
        before, quote, after = surrounding(citation, retrieved)
        segments.append((source_label(citation) + "\n", None))
        if before:
            segments.append((before, None))
        segments.append((quote, QUOTE))
        segments.append((after + "\n\n", None))
    return segments
