"""The assembled appliance: the parts `build()` wired, and their orderly shutdown."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from appliance.access.users import UserDirectory
from appliance.audit.log import AuditLog
from appliance.ports import Embedder, Generator, VectorStore
from appliance.redaction.redactor import Redactor
from appliance.settings import Settings
from appliance.store.catalog import Catalog
from appliance.store.lock import StoreLock
from appliance.store.vector_cache import VectorCache


@dataclass
class Records:
    """The audit log and the accounts it audits: all that commands which do not own the store open."""

    audit: AuditLog
    users: UserDirectory

    def close(self) -> None:
        self.audit.close()

    def __enter__(self) -> Records:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    users: UserDirectory
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
