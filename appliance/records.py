"""Value types shared across concepts: where a part of a document landed in its stored text.

The redactor produces `Section`s, chunking produces `ChunkSpan`s, and the store keeps both;
they live here so that the store needs neither the redactor nor the chunker to name them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    """Where a part landed in the stored text: [start, end) with its page or label."""

    start: int
    end: int
    page: int | None
    label: str | None


@dataclass(frozen=True)
class ChunkSpan:
    """One chunk: its span in the stored text and the page or label it lies on."""

    ordinal: int
    start: int
    end: int
    page: int | None
    label: str | None
