"""Reading and deleting stored documents (the `docs` commands and, later, the web UI)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from appliance.actors import Actor
from appliance.app import Appliance
from appliance.audit import events as audit_events
from appliance.store.catalog import DocumentRecord


class DocumentNotFound(LookupError):
    """No active document with that id in the collections the caller may read."""


def summary(doc: DocumentRecord) -> dict[str, Any]:
    """The fields `docs list` shows for a document."""
    return {
        "doc_id": doc.doc_id,
        "collection": doc.collection,
        "version": doc.version,
        "kind": doc.kind,
        "source": doc.source,
        "sha256": doc.sha256,
        "size_bytes": doc.size_bytes,
        "pages": doc.page_count,
        "chunks": doc.chunk_count,
        "redactions": doc.redactions,
        "notes": doc.notes,
        "ingested_by": doc.actor,
        "ingested_ms": doc.created_ms,
        "policy_hash": doc.policy_hash,
        "embedding_model": doc.embedding_model,
        "vault_generation": doc.vault_generation,
    }


def list_documents(app: Appliance, collections: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Active documents, optionally restricted to some collections."""
    return [summary(d) for d in app.catalog.list_active(collections)]


def resolve(app: Appliance, doc_id: str, collections: Sequence[str] | None = None) -> DocumentRecord:
    """The one active document with this id; several collections holding it must be narrowed."""
    found = app.catalog.find_active(doc_id, collections)
    if not found:
        raise DocumentNotFound(f"no document {doc_id!r}" + (f" in {', '.join(collections)}" if collections else ""))
    if len(found) > 1:
        names = ", ".join(d.collection for d in found)
        raise DocumentNotFound(f"document {doc_id!r} is in several collections ({names}); name one with --collection")
    return found[0]


def show_document(
    app: Appliance, doc_id: str, *, actor: Actor, collections: Sequence[str] | None = None
) -> dict[str, Any]:
    """A document's stored (redacted) text, its sections and its chunk spans; opening it is audited."""
    doc = resolve(app, doc_id, collections)
    app.audit.record(
        actor,
        audit_events.VIEW,
        subject=doc.doc_id,
        details=audit_events.document_details(doc.collection, doc.version, doc.sha256),
    )
    return {
        **summary(doc),
        "text": app.catalog.document_text(doc.row_id),
        "sections": [asdict(s) for s in app.catalog.sections(doc.row_id)],
        "chunks": [
            {"chunk_id": c.chunk_id, "start": c.start, "end": c.end, "page": c.page, "label": c.label}
            for c in app.catalog.chunks(doc.row_id)
        ],
    }


def delete_document(
    app: Appliance, doc_id: str, *, actor: Actor, collections: Sequence[str] | None = None
) -> dict[str, Any]:
    """Remove a document's chunks, vectors and full-text entries everywhere (hidden first, then purged)."""
    doc = resolve(app, doc_id, collections)
    with app.catalog.document_lock(doc.collection, doc.doc_id), app.store_writes:
        if app.catalog.row_state(doc.row_id) != "active":  # another process replaced or deleted it meanwhile
            raise DocumentNotFound(f"document {doc_id!r} changed while it was being deleted; try again")
        app.catalog.mark_deleted([doc.row_id])
        app.vectors.delete_document_rows([doc.row_id])
        app.catalog.purge([doc.row_id])
    app.audit.record(
        actor,
        audit_events.DELETE,
        subject=doc.doc_id,
        details=audit_events.document_details(doc.collection, doc.version, doc.sha256, doc.chunk_count),
    )
    return {
        "deleted": doc.doc_id,
        "collection": doc.collection,
        "version": doc.version,
        "chunks": doc.chunk_count,
        "by": actor.name,
    }
