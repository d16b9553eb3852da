"""load -> redact -> chunk -> embed -> index, one file at a time, atomically.

Nothing is persisted until a document is fully redacted, chunked and embedded (the
only exception: pseudonym numbers, which are keyed digests and sealed values). The
store write is pending -> vectors -> active, so a crash leaves the old version or the
new one, never half of either; the next start-up's recovery clears the leftovers.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from appliance.app import Appliance
from appliance.catalog import NewDocument, chunk_id_for
from appliance.chunking import ChunkSpan, chunk_sections
from appliance.collection_names import check_collection_name
from appliance.ports import MetadataValue
from appliance.redaction import RedactedText, TextPart
from appliance.settings import IngestSettings
from ingestion.discovery import discover
from ingestion.loaders import loader_for
from ingestion.loaders.base import LoadError, LoadLimits, LoadNotes, Segment
from ingestion.report import IngestedDoc, IngestReport, Progress, ProgressCallback

log = logging.getLogger(__name__)
MB = 1024 * 1024


class IngestError(Exception):
    """A file cannot be ingested; the message is the reason, for the per-file report."""


def load_limits(settings: IngestSettings) -> LoadLimits:
    """The loaders' hostile-input caps, from settings."""
    return LoadLimits(
        max_uncompressed_bytes=int(settings.max_uncompressed_mb * MB),
        max_compression_ratio=settings.max_compression_ratio,
        max_pages=settings.max_pages,
        max_rows=settings.max_rows,
    )


def file_sha256(path: Path) -> str:
    """Streaming sha256 of a file's bytes: the identity of a document version."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ingest_paths(
    app: Appliance,
    paths: Sequence[Path],
    *,
    collection: str,
    actor: str,
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """Ingest files and folders; a bad file is reported and the batch goes on."""
    check_collection_name(collection)
    report = IngestReport()
    candidates, refusals = discover(paths)
    for refusal in refusals:
        report.failed.append({"path": str(refusal.path), "error": refusal.reason})
    total = len(candidates)
    for index, candidate in enumerate(candidates, start=1):

        def step(stage: str, path: Path = candidate.path, index: int = index) -> None:
            if progress:
                progress(Progress(index, total, str(path), stage))

        try:
            outcome = ingest_file(app, candidate.path, collection=collection, actor=actor, report=report, step=step)
        except (IngestError, LoadError) as error:
            report.failed.append({"path": str(candidate.path), "error": str(error)})
            step("failed")
            continue
        except Exception as error:  # a library bug must not stop the batch or lose the reason
            # The traceback goes to the debug log only (`--debug`); the report keeps the reason.
            log.debug("unexpected error ingesting %s", candidate.path, exc_info=True)
            report.failed.append(
                {"path": str(candidate.path), "error": f"unexpected error: {type(error).__name__}: {error}"}
            )
            step("failed")
            continue
        if isinstance(outcome, IngestedDoc):
            report.ingested.append(outcome)
            step("ingested")
        else:
            report.unchanged.append(outcome)
            step("unchanged")
    return report


def ingest_file(
    app: Appliance,
    path: Path,
    *,
    collection: str,
    actor: str,
    report: IngestReport,
    step: Callable[[str], None] | None = None,
    doc_id: str | None = None,
) -> IngestedDoc | dict[str, str]:
    """Ingest one file as a new version of its document, or say it is unchanged."""
    notify = step or (lambda _stage: None)
    settings = app.settings.ingest
    doc_id = doc_id or str(path)
    size = path.stat().st_size
    if size == 0:
        raise IngestError("empty file")
    if size > settings.max_file_mb * MB:
        raise IngestError(
            f"file is {size / MB:.1f} MB, over the {settings.max_file_mb:g} MB limit (setting ingest.max_file_mb)"
        )
    loader = loader_for(path)
    sha256 = file_sha256(path)
    active = app.catalog.active_document(collection, doc_id)
    if (
        active is not None
        and active.sha256 == sha256
        and active.policy_hash == app.redactor.policy_hash
        and active.embedding_model == app.embedder.model_id
    ):
        return {"doc_id": doc_id, "path": str(path), "collection": collection}

    notify("load")
    started = time.perf_counter()
    notes = LoadNotes()
    parts = list(_as_parts(loader.load(path, load_limits(settings), notes)))
    report.add_time("load", time.perf_counter() - started)

    notify("redact")
    started = time.perf_counter()
    redacted = app.redactor.redact_parts(parts, collection)
    report.add_time("redact", time.perf_counter() - started)
    if not redacted.text.strip():
        raise IngestError("no text found in the file")

    started = time.perf_counter()
    spans = chunk_sections(redacted.text, redacted.sections, settings.chunk_chars, settings.chunk_overlap_chars)
    report.add_time("chunk", time.perf_counter() - started)

    notify("embed")
    started = time.perf_counter()
    vectors = app.embedder.embed([redacted.text[s.start : s.end] for s in spans])
    report.add_time("embed", time.perf_counter() - started)

    notify("index")
    started = time.perf_counter()
    document = _new_document(app, path, doc_id, collection, loader.kind, sha256, size, redacted, notes, actor)
    _store(app, document, redacted, spans, vectors)
    report.add_time("index", time.perf_counter() - started)
    return IngestedDoc(
        doc_id=doc_id,
        path=str(path),
        collection=collection,
        version=document.version,
        sha256=sha256,
        chunks=len(spans),
        redactions=document.redactions,
        notes=document.notes,
    )


def _as_parts(segments: Iterator[Segment]) -> Iterator[TextPart]:
    """Loader segments as redaction input."""
    for segment in segments:
        yield TextPart(segment.text, segment.page, segment.label)


def _new_document(
    app: Appliance,
    path: Path,
    doc_id: str,
    collection: str,
    kind: str,
    sha256: str,
    size: int,
    redacted: RedactedText,
    notes: LoadNotes,
    actor: str,
) -> NewDocument:
    pages = [s.page for s in redacted.sections if s.page is not None]
    return NewDocument(
        collection=collection,
        doc_id=doc_id,
        version=app.catalog.next_version(collection, doc_id),
        source=str(path),
        kind=kind,
        sha256=sha256,
        size_bytes=size,
        page_count=max(pages) if pages else None,
        text=redacted.text,
        redactions=dict(sorted(redacted.counts.items())),
        notes=list(notes.warnings) + [f"attachment not ingested: {a}" for a in notes.attachments],
        policy_hash=app.redactor.policy_hash,
        embedding_model=app.embedder.model_id,
        actor=actor,
    )


def _store(
    app: Appliance,
    document: NewDocument,
    redacted: RedactedText,
    spans: Sequence[ChunkSpan],
    vectors: Sequence[Sequence[float]],
) -> None:
    """pending rows (catalog + full-text) -> vectors -> one switch to active -> drop the old version."""
    row_id = app.catalog.insert_pending(document, redacted.sections, spans)
    ids = [chunk_id_for(row_id, s.ordinal) for s in spans]
    metadatas = [_chunk_metadata(document, row_id, s) for s in spans]
    app.vectors.upsert(ids, vectors, [redacted.text[s.start : s.end] for s in spans], metadatas)
    superseded = app.catalog.activate(row_id)
    if superseded:
        app.vectors.delete_document_rows(superseded)
        app.catalog.purge(superseded)


def _chunk_metadata(document: NewDocument, row_id: int, span: ChunkSpan) -> dict[str, MetadataValue]:
    metadata: dict[str, MetadataValue] = {
        "document_row": row_id,
        "doc_id": document.doc_id,
        "version": document.version,
        "sha256": document.sha256,
        "collection": document.collection,
        "policy_hash": document.policy_hash,
        "embedding_model": document.embedding_model,
        "chunk_index": span.ordinal,
        "start": span.start,
        "end": span.end,
    }
    if span.page is not None:
        metadata["page"] = span.page
    if span.label:
        metadata["label"] = span.label
    return metadata
