"""Retroactive redaction: when a collection's vault learns a value, stored documents that hold it are re-redacted.

Originals are not kept, so the pass works on the stored (redacted) text. Every active version
records the vault generation it was redacted with; the pass takes each version behind the
collection's current generation, looks for the values learned since (one automaton per
starting generation), and stores a version that holds one as a new version, atomically, as a
changed document is stored. A version that holds none is only marked current. A pass cut
short (a crash) leaves the rest behind, and the next pass picks them up.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from appliance.actors import Actor
from appliance.app import Appliance
from appliance.audit import events as audit_events
from appliance.records import ChunkSpan, Section
from appliance.redaction.known_values import KnownMatch, KnownValueMatcher
from appliance.store.catalog import ChunkRecord, DocumentRecord, NewDocument
from appliance.store.versions import store_version


@dataclass
class PassReport:
    """What a pass found and changed (counts and document ids, never values)."""

    documents_scanned: int = 0
    documents: list[dict[str, Any]] = field(default_factory=list)
    chunks: int = 0  # chunks that held a value (each is stored changed in the new version)
    chunks_embedded: int = 0  # chunks of the new versions whose text changed (the rest keep their vectors)
    occurrences: Counter[str] = field(default_factory=Counter)
    find_seconds: float = 0.0
    rewrite_seconds: float = 0.0
    embed_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "documents_scanned": self.documents_scanned,
            "documents_re_redacted": len(self.documents),
            "chunks_re_redacted": self.chunks,
            "chunks_embedded": self.chunks_embedded,
            "occurrences": dict(sorted(self.occurrences.items())),
            "documents": self.documents,
            "find_seconds": round(self.find_seconds, 3),
            "rewrite_seconds": round(self.rewrite_seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
        }


def catch_up(app: Appliance, collection: str, actor: Actor) -> PassReport:
    """Re-redact the collection's stored versions that hold a value the vault learned after them."""
    report = PassReport()
    vault = app.redactor.vault
    if vault is None:
        return report
    with app.store_writes:  # no version of this collection changes under the pass
        generation = vault.generation(collection)
        behind: dict[int, list[int]] = defaultdict(list)
        for row_id, since in app.catalog.documents_behind(collection, generation):
            behind[since].append(row_id)
        found: list[Found] = []
        clean: list[int] = []
        for since, rows in sorted(behind.items()):
            _find(app, rows, vault.matcher_since(collection, since), report, found, clean)
        _apply(app, found, generation, actor, report, dry_run=False)
        app.catalog.mark_vault_generation(clean, generation)
    return report


def sweep(
    app: Appliance, collection: str, actor: Actor, matcher: KnownValueMatcher, *, dry_run: bool = False
) -> PassReport:
    """Re-redact every active version of the collection that holds one of `matcher`'s values."""
    report = PassReport()
    with app.store_writes:
        generation = app.catalog.vault_generation(collection)
        rows = [d.row_id for d in app.catalog.list_active([collection])]
        found: list[Found] = []
        _find(app, rows, matcher, report, found, [])
        _apply(app, found, generation, actor, report, dry_run)
    return report


Found = tuple[int, str, list[KnownMatch]]


def _find(
    app: Appliance,
    rows: Sequence[int],
    matcher: KnownValueMatcher,
    report: PassReport,
    found: list[Found],
    clean: list[int],
) -> None:
    started = time.perf_counter()
    for row_id in rows:
        text = app.catalog.document_text(row_id)
        matches = matcher.find(text) if matcher.size else []
        if matches:
            found.append((row_id, text, matches))
        else:
            clean.append(row_id)
    report.documents_scanned += len(rows)
    report.find_seconds += time.perf_counter() - started


def _apply(
    app: Appliance, found: list[Found], generation: int, actor: Actor, report: PassReport, dry_run: bool
) -> None:
    started = time.perf_counter()
    for row_id, text, matches in found:
        record = app.catalog.document_by_row(row_id)
        report.occurrences.update(m.entity_type for m in matches)
        if dry_run:
            held = _chunks_holding(app.catalog.chunks(row_id), matches)
            report.documents.append({"doc_id": record.doc_id, "version": record.version, "chunks": held})
            report.chunks += held
            continue
        # Without waiting (the caller holds store_writes); a document being written elsewhere right now is
        # left behind its vault generation, and the next pass takes it up.
        with app.catalog.document_lock_if_free(record.collection, record.doc_id) as held:
            if not held or app.catalog.row_state(row_id) != "active":
                continue  # another process (a shared catalog) is replacing it, or replaced or deleted it
            report.documents.append(_rewrite(app, record, text, matches, generation, actor, report))
    report.rewrite_seconds += time.perf_counter() - started


def _chunks_holding(chunks: Sequence[ChunkRecord], matches: Sequence[KnownMatch]) -> int:
    """How many chunks hold at least one of the matches."""
    return sum(1 for c in chunks if any(m.start < c.end and c.start < m.end for m in matches))


def replace_matches(text: str, matches: Sequence[KnownMatch]) -> tuple[str, list[tuple[int, int, int, int]]]:
    """The text with each match replaced by its placeholder, and (start, end, new start, new end) per replacement."""
    pieces: list[str] = []
    moves: list[tuple[int, int, int, int]] = []
    cursor = 0
    length = 0
    for match in matches:
        pieces.append(text[cursor : match.start])
        length += match.start - cursor
        moves.append((match.start, match.end, length, length + len(match.placeholder)))
        pieces.append(match.placeholder)
        length += len(match.placeholder)
        cursor = match.end
    pieces.append(text[cursor:])
    return "".join(pieces), moves


def moved_offset(offset: int, moves: Sequence[tuple[int, int, int, int]]) -> int:
    """Where an offset of the old text lands in the new one (a replaced span's edges stay its edges)."""
    index = bisect.bisect_right([m[0] for m in moves], offset) - 1
    if index < 0:
        return offset
    start, end, new_start, new_end = moves[index]
    if offset == start:
        return new_start
    return new_end + max(0, offset - end)


def _vectors(
    app: Appliance, old_chunks: Sequence[ChunkRecord], texts: list[str], report: PassReport
) -> list[list[float]]:
    """Vectors for the new chunks: an unchanged chunk keeps its stored vector, only changed ones are embedded."""
    old = {c.text: c.chunk_id for c in old_chunks}
    stored = app.vectors.embeddings([old[t] for t in texts if t in old])
    reused = {t: stored[old[t]] for t in texts if t in old and old[t] in stored}
    fresh = [t for t in dict.fromkeys(texts) if t not in reused]
    started = time.perf_counter()
    embedded = dict(zip(fresh, app.embedder.embed(fresh), strict=True)) if fresh else {}
    report.embed_seconds += time.perf_counter() - started
    report.chunks_embedded += len(fresh)
    return [reused[t] if t in reused else embedded[t] for t in texts]


def _within_sections(matches: list[KnownMatch], sections: Sequence[Section]) -> list[KnownMatch]:
    """Matches that do not straddle two sections (whitespace between pages never joins a name)."""
    return [m for m in matches if any(s.start <= m.start and m.end <= s.end for s in sections)]


def _rewrite(
    app: Appliance,
    record: DocumentRecord,
    text: str,
    matches: list[KnownMatch],
    generation: int,
    actor: Actor,
    report: PassReport,
) -> dict[str, Any]:
    sections = app.catalog.sections(record.row_id)
    matches = _within_sections(matches, sections)
    new_text, moves = replace_matches(text, matches)
    new_sections = [
        Section(moved_offset(s.start, moves), moved_offset(s.end, moves), s.page, s.label) for s in sections
    ]
    # The chunks keep their places (moved by the replacements), so a chunk without a match keeps its text,
    # its vector and its neighbours; only the chunks that held a value are embedded again.
    old_chunks = app.catalog.chunks(record.row_id)
    spans = [
        ChunkSpan(c.ordinal, moved_offset(c.start, moves), moved_offset(c.end, moves), c.page, c.label)
        for c in old_chunks
    ]
    vectors = _vectors(app, old_chunks, [new_text[s.start : s.end] for s in spans], report)
    redactions = Counter(record.redactions)
    redactions.update(m.entity_type for m in matches)
    document = NewDocument(
        collection=record.collection,
        doc_id=record.doc_id,
        version=app.catalog.next_version(record.collection, record.doc_id),
        source=record.source,
        kind=record.kind,
        sha256=record.sha256,
        size_bytes=record.size_bytes,
        page_count=record.page_count,
        text=new_text,
        redactions=dict(sorted(redactions.items())),
        notes=record.notes,
        policy_hash=record.policy_hash,
        embedding_model=record.embedding_model,
        actor=actor.name,
        vault_generation=generation,
    )
    store_version(app, document, new_sections, spans, vectors)
    report.chunks += _chunks_holding(old_chunks, matches)
    counts = dict(sorted(Counter(m.entity_type for m in matches).items()))
    app.audit.record(
        actor,
        audit_events.RE_REDACT,
        subject=record.doc_id,
        details={
            "collection": record.collection,
            "version": document.version,
            "previous_version": record.version,
            "sha256": record.sha256,
            "chunks": len(spans),
            "redactions": counts,
            "vault_generation": generation,
        },
    )
    return {"doc_id": record.doc_id, "version": document.version, "chunks": len(spans), "redactions": counts}
