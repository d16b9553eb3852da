"""load -> redact -> chunk -> embed -> index, one file at a time, atomically.

Nothing is persisted until a document is fully redacted, chunked and embedded (the
only exception: pseudonym numbers, which are keyed digests and sealed values). The
store write is pending -> vectors -> active, so a crash leaves the old version or the
new one, never half of either; the next start-up's recovery clears the leftovers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from appliance.actors import Actor
from appliance.app import Appliance
from appliance.audit import events as audit_events
from appliance.redaction.redactor import RedactedText
from appliance.redaction.retroactive import catch_up
from appliance.store.catalog import DocumentRecord, NewDocument
from appliance.store.collection_names import check_collection_name
from appliance.store.versions import store_version
from ingestion.chunking import chunk_sections
from ingestion.claims import CLAIM_POLL_SECONDS, IngestClaims
from ingestion.discovery import discover
from ingestion.loaders.base import LoadError, LoadNotes
from ingestion.report import IngestedDoc, IngestReport, Progress, ProgressCallback
from ingestion.source import IngestError, SourceFile, read_source

log = logging.getLogger(__name__)


def ingest_paths(
    app: Appliance,
    paths: Sequence[Path],
    *,
    collection: str,
    actor: Actor,
    progress: ProgressCallback | None = None,
    doc_id_for: Callable[[Path], str] | None = None,
) -> IngestReport:
    """Ingest files and folders; a bad file is reported and the batch goes on.

    A document's id is its path (relative to `ingest.source_root` when set) unless `doc_id_for` names it
    (uploads: `upload:NAME`).
    """
    check_collection_name(collection)
    report = IngestReport()
    candidates, refusals = discover(paths)
    for refusal in refusals:
        _failed(app, report, actor, collection, refusal.path, refusal.reason)
    total = len(candidates)
    claims = IngestClaims(app.catalog, collection, app.settings.ingest.claim_seconds) if app.catalog.shared else None
    waiting = list(enumerate(candidates, start=1))
    announced: set[int] = set()
    while waiting:
        held_elsewhere = []
        for index, candidate in waiting:

            def step(stage: str, path: Path = candidate.path, index: int = index) -> None:
                if progress:
                    progress(Progress(index, total, str(path), stage))

            try:
                doc_id = (
                    doc_id_for(candidate.path)
                    if doc_id_for
                    else document_id(candidate.path, app.settings.ingest.source_root)
                )
            except IngestError as error:
                _failed(app, report, actor, collection, candidate.path, str(error))
                step("failed")
                continue
            if claims is not None and not claims.take(doc_id):
                held_elsewhere.append((index, candidate))
                if index not in announced:
                    announced.add(index)
                    step("waiting")  # another worker has claimed it
                continue
            try:
                _ingest_one(
                    app,
                    candidate.path,
                    doc_id,
                    collection,
                    actor,
                    report,
                    claims.renewing(doc_id, step) if claims else step,
                )
            finally:
                if claims is not None:
                    claims.give_up(doc_id)
        if held_elsewhere:  # another worker has them: wait until it finishes (or dies and its claim expires)
            time.sleep(CLAIM_POLL_SECONDS)
        waiting = held_elsewhere
    _re_redact_earlier(app, collection, actor, report)
    report.finished_ms = int(time.time() * 1000)
    return report


def _ingest_one(
    app: Appliance,
    path: Path,
    doc_id: str,
    collection: str,
    actor: Actor,
    report: IngestReport,
    step: Callable[[str], None],
) -> None:
    """Ingest one file into the report: ingested, unchanged, or failed with its reason (the batch goes on)."""
    try:
        outcome = ingest_file(app, path, collection=collection, actor=actor, report=report, step=step, doc_id=doc_id)
    except (IngestError, LoadError) as error:
        _failed(app, report, actor, collection, path, str(error))
        step("failed")
        return
    except Exception as error:  # a library bug must not stop the batch or lose the reason
        # The traceback goes to the debug log only (`--debug`); the report keeps the reason.
        log.debug("unexpected error ingesting %s", path, exc_info=True)
        _failed(app, report, actor, collection, path, f"unexpected error: {type(error).__name__}: {error}")
        step("failed")
        return
    if isinstance(outcome, IngestedDoc):
        report.ingested.append(outcome)
        step("ingested")
    else:
        report.unchanged.append(outcome)
        step("unchanged")


def _re_redact_earlier(app: Appliance, collection: str, actor: Actor, report: IngestReport) -> None:
    """Values this batch taught the vault are redacted in the collection's stored documents too, earlier ones included."""
    started = time.perf_counter()
    done = catch_up(app, collection, actor)
    if done.documents:  # the old versions' text must not linger in free pages, old index segments or the WAL
        with app.store_writes:
            app.catalog.compact()
    report.add_time("re_redact", time.perf_counter() - started)
    report.re_redacted.extend(done.documents)


def _failed(app: Appliance, report: IngestReport, actor: Actor, collection: str, path: Path, error: str) -> None:
    report.failed.append({"path": str(path), "error": error})
    app.audit.record(
        actor, audit_events.INGEST_FAILED, subject=str(path), details=audit_events.failure_details(collection, error)
    )


def _current(app: Appliance, stored: DocumentRecord) -> bool:
    """A stored version made under today's redaction policy and embedding model."""
    return stored.policy_hash == app.redactor.policy_hash and stored.embedding_model == app.embedder.model_id


def document_id(path: Path, source_root: Path | None) -> str:
    """The id of the document at `path`: its absolute path, or its path below `source_root` (IngestError outside it)."""
    if source_root is None:
        return str(path)
    try:
        return path.absolute().relative_to(source_root.absolute()).as_posix()
    except ValueError:
        raise IngestError(f"{path} is outside ingest.source_root ({source_root})") from None


def ingest_file(
    app: Appliance,
    path: Path,
    *,
    collection: str,
    actor: Actor,
    report: IngestReport,
    step: Callable[[str], None] | None = None,
    doc_id: str | None = None,
) -> IngestedDoc | dict[str, str]:
    """Read and ingest one file; an unchanged file is hashed but not loaded again."""
    doc_id = doc_id or document_id(path, app.settings.ingest.source_root)
    if step:
        step("load")
    # Held from the "unchanged?" check to the store write, so two processes on a shared catalog never
    # both store the same file: the second one waits, then finds it unchanged.
    with app.catalog.document_lock(collection, doc_id):
        known = app.catalog.active_document(collection, doc_id)
        source = read_source(
            path, app.settings.ingest, lambda sha: known is not None and known.sha256 == sha and _current(app, known)
        )
        return ingest_source(app, source, collection=collection, actor=actor, report=report, step=step, doc_id=doc_id)


def ingest_source(
    app: Appliance,
    source: SourceFile,
    *,
    collection: str,
    actor: Actor,
    report: IngestReport,
    step: Callable[[str], None] | None = None,
    doc_id: str | None = None,
) -> IngestedDoc | dict[str, str]:
    """Ingest a read file as a new version of its document, or say it is unchanged."""
    notify = step or (lambda _stage: None)
    settings = app.settings.ingest
    path = source.path
    doc_id = doc_id or document_id(path, settings.source_root)
    if source.parts is None:
        return {"doc_id": doc_id, "path": str(path), "collection": collection}
    report.add_time("load", source.load_seconds)
    parts, notes, sha256, size = source.parts, source.notes, source.sha256, source.size

    notify("redact")
    started = time.perf_counter()
    redacted = app.redactor.redact_parts(parts, collection)
    report.add_time("redact", time.perf_counter() - started - redacted.known_value_seconds)
    if app.redactor.vault is not None:
        report.add_time("known_values", redacted.known_value_seconds)
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
    document = _new_document(app, path, doc_id, collection, source.kind, sha256, size, redacted, notes, actor)
    store_version(app, document, redacted.sections, spans, vectors)
    report.add_time("index", time.perf_counter() - started)
    app.audit.record(
        actor,
        audit_events.INGEST,
        subject=doc_id,
        details=audit_events.ingest_details(
            collection=collection,
            version=document.version,
            sha256=sha256,
            kind=source.kind,
            chunks=len(spans),
            redactions=document.redactions,
            policy_hash=document.policy_hash,
            embedding_model=document.embedding_model,
        ),
    )
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
    actor: Actor,
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
        actor=actor.name,
        vault_generation=redacted.vault_generation,
    )
