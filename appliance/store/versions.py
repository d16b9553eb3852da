"""Writing a document version atomically: pending rows, vectors, one switch to active, old version dropped.

Ingestion and the retroactive re-redaction both store versions this way, so a crash at any
point leaves the old version or the new one, never half of either (recovery.py clears leftovers).
"""

from __future__ import annotations

from collections.abc import Sequence

from appliance.app import Appliance
from appliance.ports import MetadataValue
from appliance.records import ChunkSpan, Section
from appliance.store.catalog import NewDocument, chunk_id_for


def store_version(
    app: Appliance,
    document: NewDocument,
    sections: Sequence[Section],
    spans: Sequence[ChunkSpan],
    vectors: Sequence[Sequence[float]],
) -> int:
    """pending rows (catalog + full-text) -> vectors -> one switch to active -> drop the old version."""
    # The document first, then store_writes: the order every writer takes them in (catalog.document_lock_if_free).
    with app.catalog.document_lock(document.collection, document.doc_id), app.store_writes:
        row_id = app.catalog.insert_pending(document, sections, spans)
        ids = [chunk_id_for(row_id, s.ordinal) for s in spans]
        metadatas = [chunk_metadata(document, row_id, s) for s in spans]
        app.vectors.upsert(ids, vectors, metadatas)
        superseded = app.catalog.activate(row_id)
        if superseded:
            app.vectors.delete_document_rows(superseded)
            app.catalog.purge(superseded)
    return row_id


def chunk_metadata(document: NewDocument, row_id: int, span: ChunkSpan) -> dict[str, MetadataValue]:
    """The metadata stored with a chunk's vector: its identity and where it sits in the document."""
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
