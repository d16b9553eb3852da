"""Plain-text files (.txt, .text, .log), decoded as a stream so huge logs keep memory flat."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ingestion.loaders.base import LoadError, LoadLimits, LoadNotes, Segment
from ingestion.loaders.encoding import iter_blocks, iter_decoded, open_text_sample

BLOCK_CHARS = 64 * 1024


def iter_text_blocks(path: Path) -> Iterator[str]:
    """Yield the file's text in blocks of about 64 KiB cut at line ends; refuse binary or empty."""
    encoding, skip, _ = open_text_sample(path)
    found = False
    for block in iter_blocks(iter_decoded(path, encoding, skip), BLOCK_CHARS):
        block = block.replace("\x00", "").strip("\n")
        if block.strip():
            found = True
            yield block
    if not found:
        raise LoadError("no text (the file holds only whitespace)")


class TextLoader:
    """Loads plain text; one segment per ~64 KiB block, never splitting a line."""

    kind: str = "text"
    extensions: tuple[str, ...] = (".txt", ".text", ".log")

    def load(self, path: Path, limits: LoadLimits, notes: LoadNotes) -> Iterator[Segment]:
        """Stream the decoded text."""
        for block in iter_text_blocks(path):
            yield Segment(text=block)
