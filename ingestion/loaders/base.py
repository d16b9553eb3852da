"""The loader contract: a file becomes an ordered stream of text segments."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class LoadError(Exception):
    """A file cannot be turned into text; the message says why in one line."""


@dataclass(frozen=True)
class Segment:
    """A run of text from one place in the source.

    `page` is the 1-based page number where the format has pages (PDF), else None.
    `label` names the place for humans where there is no page (a sheet, "headers", "body").
    Loaders yield segments in reading order; the pipeline joins them with blank lines.
    """

    text: str
    page: int | None = None
    label: str | None = None


@dataclass(frozen=True)
class LoadLimits:
    """Caps that protect the loaders from hostile input."""

    max_uncompressed_bytes: int = 200 * 1024 * 1024
    max_compression_ratio: float = 200.0
    max_pages: int = 5000
    max_rows: int = 1_000_000
    max_field_chars: int = 100_000


@dataclass
class LoadNotes:
    """Facts a loader learned that the caller should report (attachments, empty pages)."""

    warnings: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)


class Loader(Protocol):
    """One file format. `load` streams segments and raises LoadError on bad input."""

    kind: str
    extensions: tuple[str, ...]

    def load(self, path: Path, limits: LoadLimits, notes: LoadNotes) -> Iterator[Segment]: ...
