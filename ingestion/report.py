"""What an ingest run reports: per file outcomes and progress events."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Progress:
    """One step of an ingest run, for progress bars and the web UI."""

    file_index: int
    file_count: int
    path: str
    stage: str  # load | redact | embed | index | ingested | unchanged | failed | waiting (another worker has it)


ProgressCallback = Callable[[Progress], None]


@dataclass
class IngestedDoc:
    doc_id: str
    path: str
    collection: str
    version: int
    sha256: str
    chunks: int
    redactions: dict[str, int]
    notes: list[str]


@dataclass
class IngestReport:
    """The outcome of one run; `to_json()` is the CLI's documented JSON."""

    ingested: list[IngestedDoc] = field(default_factory=list)
    unchanged: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    re_redacted: list[dict[str, Any]] = field(default_factory=list)  # earlier versions holding a newly learned value
    stage_seconds: dict[str, float] = field(default_factory=dict)
    started_ms: int = field(
        default_factory=lambda: int(time.time() * 1000)
    )  # wall clock, so that workers' runs line up
    finished_ms: int | None = None

    def add_time(self, stage: str, seconds: float) -> None:
        self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "ingested": [
                {
                    "doc_id": d.doc_id,
                    "path": d.path,
                    "collection": d.collection,
                    "version": d.version,
                    "sha256": d.sha256,
                    "chunks": d.chunks,
                    "redactions": d.redactions,
                    "notes": d.notes,
                }
                for d in self.ingested
            ],
            "unchanged": self.unchanged,
            "failed": self.failed,
            "re_redacted": self.re_redacted,
            "started_ms": self.started_ms,
            "finished_ms": self.finished_ms,
        }
