"""Markdown files: kept as text (its markup reads fine), minus HTML comments and image URLs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ingestion.loaders.base import LoadError, LoadLimits, LoadNotes, Segment
from ingestion.loaders.text import iter_text_blocks

# ![alt](url "title") and ![alt][ref]: keep the alt text, which is the only readable part.
_IMAGE = re.compile(r"!\[([^\]\n]*)\](?:\([^)\n]*\)|\[[^\]\n]*\])")


def _strip_comments(text: str, in_comment: bool) -> tuple[str, bool]:
    """Remove <!-- ... --> spans; `in_comment` carries an open comment across blocks."""
    out: list[str] = []
    pos = 0
    while pos < len(text):
        if in_comment:
            end = text.find("-->", pos)
            if end < 0:
                return "".join(out), True
            pos, in_comment = end + 3, False
        else:
            start = text.find("<!--", pos)
            if start < 0:
                out.append(text[pos:])
                break
            out.append(text[pos:start])
            pos, in_comment = start + 4, True
    return "".join(out), in_comment


class MarkdownLoader:
    """Loads Markdown as text in ~64 KiB blocks."""

    kind: str = "markdown"
    extensions: tuple[str, ...] = (".md", ".markdown")

    def load(self, path: Path, limits: LoadLimits, notes: LoadNotes) -> Iterator[Segment]:
        """Stream the text with comments dropped and images reduced to their alt text."""
        in_comment = False
        found = False
        for block in iter_text_blocks(path):
            block, in_comment = _strip_comments(block, in_comment)
            block = _IMAGE.sub(lambda m: m.group(1), block).strip("\n")
            if block.strip():
                found = True
                yield Segment(text=block)
        if not found:
            raise LoadError("no text (the file holds only comments or whitespace)")
