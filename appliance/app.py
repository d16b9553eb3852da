"""The assembled appliance: the parts `build()` wired, and their orderly shutdown."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from appliance.audit_log import AuditLog
from appliance.catalog import Catalog
from appliance.ports import Embedder, Generator, VectorStore
from appliance.redaction import Redactor
from appliance.settings import Settings
from appliance.store_lock import StoreLock
from appliance.vector_cache import VectorCache


@dataclass
class Appliance:
    """Everything the surfaces (CLI, web UI) and the pipelines need, built once per process."""

    settings: Settings
    catalog: Catalog
    redactor: Redactor
    embedder: Embedder
    generator: Generator
    vectors: VectorStore
    lock: StoreLock
    audit: AuditLog
    sentence_vectors: VectorCache  # embeddings of evidence sentences, shared by all questions
    # Held while a document version is written or deleted, and while a backup copies the store.
    store_writes: threading.RLock = field(default_factory=threading.RLock)

    def close(self) -> None:
        """Close the catalog and the audit database, and give up the store lock."""
        self.catalog.close()
        self.audit.close()
        self.lock.release()

    def __enter__(self) -> Appliance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
