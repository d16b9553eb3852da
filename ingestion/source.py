"""Reading a source file: size checks, sha256 and loading, with no store access.

Kept apart from the pipeline so it could run ahead of it; measured on 2 cores, reading the
next file in a thread while the current one was redacted and embedded gained nothing
(spaCy, torch and the loaders all need the same two cores), so the pipeline reads in turn.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance.file_digest import file_sha256
from appliance.redaction.redactor import TextPart
from appliance.settings import IngestSettings
from ingestion.loaders import loader_for
from ingestion.loaders.base import LoadLimits, LoadNotes

MB = 1024 * 1024


class IngestError(Exception):
    """A file cannot be ingested; the message is the reason, for the per-file report."""


@dataclass
class SourceFile:
    """A file read for ingestion; `parts` is None when its content is already stored unchanged."""

    path: Path
    size: int
    kind: str
    sha256: str
    parts: list[TextPart] | None
    notes: LoadNotes = field(default_factory=LoadNotes)
    load_seconds: float = 0.0


def load_limits(settings: IngestSettings) -> LoadLimits:
    """The loaders' hostile-input caps, from settings."""
    return LoadLimits(
        max_uncompressed_bytes=int(settings.max_uncompressed_mb * MB),
        max_compression_ratio=settings.max_compression_ratio,
        max_pages=settings.max_pages,
        max_rows=settings.max_rows,
    )


def read_source(path: Path, settings: IngestSettings, is_stored: Callable[[str], bool]) -> SourceFile:
    """Check, hash and load a file; skip loading when `is_stored(sha256)` says nothing changed."""
    size = path.stat().st_size
    if size == 0:
        raise IngestError("empty file")
    if size > settings.max_file_mb * MB:
        raise IngestError(
            f"file is {size / MB:.1f} MB, over the {settings.max_file_mb:g} MB limit (setting ingest.max_file_mb)"
        )
    loader = loader_for(path)
    sha256 = file_sha256(path)
    if is_stored(sha256):
        return SourceFile(path, size, loader.kind, sha256, None)
    started = time.perf_counter()
    notes = LoadNotes()
    parts = [TextPart(s.text, s.page, s.label) for s in loader.load(path, load_limits(settings), notes)]
    return SourceFile(path, size, loader.kind, sha256, parts, notes, time.perf_counter() - started)
