"""The catalog: documents, their versions, sections, chunks, full-text index, pseudonyms, ingest claims.

The catalog is the source of truth for what is ingested: a SQLite file (WAL) owned by one
process, or a schema in PostgreSQL shared by several front-ends and ingest workers
(catalog_db.py). A document version is written as `pending`, its vectors are added, then
one transaction makes it `active` and the old version `superseded`. Readers see only
`active` rows, so a crash at any point shows either the old version or the new one, never
half of one; `recover()` clears whatever a crash left behind. With a shared catalog each
document's writes hold its lock (`document_lock`), and recovery skips documents whose
lock a live process holds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.records import ChunkSpan, Section
from appliance.store.catalog_db import (
    PG_SCHEMA,
    CatalogConnection,
    CatalogDatabase,
    SqliteCatalogDatabase,
)
from appliance.store.full_text import Fts5Index, FullTextIndex, TsvectorIndex
from appliance.store.migrations import migrate


def now_ms() -> int:
    """UTC time in integer milliseconds, the one timestamp format we store."""
    return int(time.time() * 1000)


@dataclass(frozen=True)
class NewDocument:
    """Everything about a document version except its chunks, ready to store."""

    collection: str
    doc_id: str
    version: int
    source: str
    kind: str
    sha256: str
    size_bytes: int
    page_count: int | None
    text: str
    redactions: dict[str, int]
    notes: list[str]
    policy_hash: str
    embedding_model: str
    actor: str
    vault_generation: int = 0


@dataclass(frozen=True)
class DocumentRecord:
    """A stored document version as readers see it."""

    row_id: int
    collection: str
    doc_id: str
    version: int
    state: str
    source: str
    kind: str
    sha256: str
    size_bytes: int
    page_count: int | None
    redactions: dict[str, int]
    notes: list[str]
    policy_hash: str
    embedding_model: str
    actor: str
    created_ms: int
    chunk_count: int
    vault_generation: int


@dataclass(frozen=True)
class ChunkRecord:
    """A stored chunk: its span in the document's stored text."""

    chunk_id: str
    ordinal: int
    start: int
    end: int
    page: int | None
    label: str | None
    text: str


@dataclass(frozen=True)
class ChunkHit:
    """A chunk of an active document, as retrieval returns it."""

    chunk_id: str
    document_row: int
    doc_id: str
    collection: str
    version: int
    source: str
    page: int | None
    start: int
    end: int
    text: str


def chunk_id_for(document_row: int, ordinal: int) -> str:
    """Chunk ids are unique per document version, so old citations stay resolvable."""
    return f"d{document_row}-c{ordinal}"


_DOC_COLUMNS = (
    "d.row_id, d.collection, d.doc_id, d.version, d.state, d.source, d.kind, d.sha256, d.size_bytes, "
    "d.page_count, d.redactions, d.notes, d.policy_hash, d.embedding_model, d.actor, d.created_ms, "
    "(SELECT COUNT(*) FROM chunks c WHERE c.document_row = d.row_id), d.vault_generation"
)


def _record(row: Sequence[Any]) -> DocumentRecord:
    values = list(row)
    values[10] = json.loads(values[10])
    values[11] = json.loads(values[11])
    return DocumentRecord(*values)


class Catalog:
    """Access to the catalog database: one connection per thread.

    The web UI and the control socket serve people from several threads; a shared connection
    would let one thread's statements fall into another's open transaction. WAL mode (SQLite)
    or MVCC (PostgreSQL) lets the threads read while one of them writes.
    """

    def __init__(self, where: Path | CatalogDatabase) -> None:
        self.db: CatalogDatabase = SqliteCatalogDatabase(where) if isinstance(where, Path) else where
        self.full_text: FullTextIndex = TsvectorIndex() if self.db.dialect == "postgresql" else Fts5Index()
        self._local = threading.local()
        self._opened: list[CatalogConnection] = []
        self._opening = threading.Lock()
        migrate(self._conn, self.db.dialect, PG_SCHEMA if self.db.dialect == "postgresql" else None)

    @property
    def shared(self) -> bool:
        """True when other processes may write this catalog at the same time."""
        return self.db.shared

    @property
    def _conn(self) -> CatalogConnection:
        conn: CatalogConnection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(conn, "lost", False):  # the call that found it lost failed; this one reconnects
            with self._opening:
                self._opened.remove(conn)
            conn = None
        if conn is None:
            conn = self.db.connect()
            self._local.conn = conn
            with self._opening:
                self._opened.append(conn)
        return conn

    def close(self) -> None:
        with self._opening:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
        self._local = threading.local()

    @contextmanager
    def transaction(self, serialise_on: str | None = None) -> Iterator[CatalogConnection]:
        """BEGIN (IMMEDIATE on SQLite) ... COMMIT, rolled back on any error.

        `serialise_on` names a read-then-write step (a collection's pseudonym numbers) that
        must not interleave with the same step in another process on a shared catalog.
        """
        self.db.begin_write(self._conn, serialise_on)
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @contextmanager
    def document_lock(self, collection: str, doc_id: str) -> Iterator[None]:
        """Hold (collection, document) against other processes: a PostgreSQL advisory lock, re-entrant.

        It is a session lock on this thread's connection, so a process that dies lets go of it
        at once; on SQLite the store lock already makes this process the only writer.
        """
        with self.db.document_lock(self._conn, collection, doc_id):
            yield

    @contextmanager
    def document_lock_if_free(self, collection: str, doc_id: str) -> Iterator[bool]:
        """The document's lock if no one holds it (yields True), else nothing (False), without waiting.

        For callers that already hold `app.store_writes`: waiting there could deadlock with an ingest
        that holds the document and waits for store_writes (the order is document, then store_writes).
        """
        if not self.try_document_lock(collection, doc_id):
            yield False
            return
        try:
            yield True
        finally:
            self.unlock_document(collection, doc_id)

    def try_document_lock(self, collection: str, doc_id: str) -> bool:
        """Take the document's lock if no other process holds it (release with `unlock_document`)."""
        return self.db.try_document_lock(self._conn, collection, doc_id)

    def unlock_document(self, collection: str, doc_id: str) -> None:
        self.db.unlock_document(self._conn, collection, doc_id)

    # --- reading -------------------------------------------------------------

    def active_document(self, collection: str, doc_id: str) -> DocumentRecord | None:
        """The version readers see, or None."""
        row = self._conn.execute(
            f"SELECT {_DOC_COLUMNS} FROM documents d WHERE d.collection = ? AND d.doc_id = ? AND d.state = 'active'",
            (collection, doc_id),
        ).fetchone()
        return _record(row) if row else None

    def document_by_row(self, row_id: int) -> DocumentRecord:
        """A document version by its row, whatever its state."""
        row = self._conn.execute(f"SELECT {_DOC_COLUMNS} FROM documents d WHERE d.row_id = ?", (row_id,)).fetchone()
        if row is None:
            raise KeyError(row_id)
        return _record(row)

    def find_active(self, doc_id: str, collections: Sequence[str] | None = None) -> list[DocumentRecord]:
        """Active documents with this id, in the given collections (all when None)."""
        rows = self._conn.execute(
            f"SELECT {_DOC_COLUMNS} FROM documents d WHERE d.doc_id = ? AND d.state = 'active' ORDER BY d.collection",
            (doc_id,),
        ).fetchall()
        found = [_record(r) for r in rows]
        return [d for d in found if collections is None or d.collection in collections]

    def list_active(self, collections: Sequence[str] | None = None) -> list[DocumentRecord]:
        """All active documents, optionally only in some collections."""
        rows = self._conn.execute(
            f"SELECT {_DOC_COLUMNS} FROM documents d WHERE d.state = 'active' ORDER BY d.collection, d.doc_id"
        ).fetchall()
        found = [_record(r) for r in rows]
        return [d for d in found if collections is None or d.collection in collections]

    def document_text(self, row_id: int) -> str:
        """The stored (redacted) text of a document version."""
        row = self._conn.execute("SELECT text FROM documents WHERE row_id = ?", (row_id,)).fetchone()
        if row is None:
            raise KeyError(row_id)
        return str(row[0])

    def chunks(self, row_id: int) -> list[ChunkRecord]:
        """The chunks of a document version in order."""
        rows = self._conn.execute(
            'SELECT chunk_id, ordinal, start, "end", page, label, text FROM chunks WHERE document_row = ? ORDER BY ordinal',
            (row_id,),
        ).fetchall()
        return [ChunkRecord(*r) for r in rows]

    def sections(self, row_id: int) -> list[Section]:
        """Pages or labelled parts of a document version."""
        rows = self._conn.execute(
            'SELECT start, "end", page, label FROM sections WHERE document_row = ? ORDER BY ordinal', (row_id,)
        ).fetchall()
        return [Section(*r) for r in rows]

    def next_version(self, collection: str, doc_id: str) -> int:
        row = self._conn.execute(
            "SELECT COALESCE(MAX(version), 0) FROM documents WHERE collection = ? AND doc_id = ?",
            (collection, doc_id),
        ).fetchone()
        return int(row[0]) + 1

    def row_state(self, row_id: int) -> str | None:
        """A version's state, or None once it is purged."""
        row = self._conn.execute("SELECT state FROM documents WHERE row_id = ?", (row_id,)).fetchone()
        return str(row[0]) if row else None

    def rows_in_state(self, *states: str) -> list[int]:
        marks = ",".join("?" for _ in states)
        rows = self._conn.execute(f"SELECT row_id FROM documents WHERE state IN ({marks})", states).fetchall()
        return [int(r[0]) for r in rows]

    def full_text_count(self) -> int:
        return self.full_text.count(self._conn)

    def document_keys(self, row_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """(collection, doc_id) of each of these rows."""
        if not row_ids:
            return {}
        marks = ",".join("?" for _ in row_ids)
        rows = self._conn.execute(
            f"SELECT row_id, collection, doc_id FROM documents WHERE row_id IN ({marks})", tuple(row_ids)
        ).fetchall()
        return {int(r[0]): (str(r[1]), str(r[2])) for r in rows}

    # --- writing -------------------------------------------------------------

    def insert_pending(self, doc: NewDocument, sections: Sequence[Section], spans: Sequence[ChunkSpan]) -> int:
        """Write a new version, its sections, chunks and full-text rows as `pending`, atomically."""
        with self.transaction() as conn:
            inserted = conn.execute(
                "INSERT INTO documents (collection, doc_id, version, state, source, kind, sha256, size_bytes, "
                "page_count, text, redactions, notes, policy_hash, embedding_model, actor, created_ms, vault_generation) "
                "VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING row_id",
                (
                    doc.collection,
                    doc.doc_id,
                    doc.version,
                    doc.source,
                    doc.kind,
                    doc.sha256,
                    doc.size_bytes,
                    doc.page_count,
                    doc.text,
                    json.dumps(doc.redactions, sort_keys=True),
                    json.dumps(doc.notes),
                    doc.policy_hash,
                    doc.embedding_model,
                    doc.actor,
                    now_ms(),
                    doc.vault_generation,
                ),
            )
            row_id = int(inserted.fetchone()[0])
            conn.executemany(
                'INSERT INTO sections (document_row, ordinal, start, "end", page, label) VALUES (?, ?, ?, ?, ?, ?)',
                [(row_id, i, s.start, s.end, s.page, s.label) for i, s in enumerate(sections)],
            )
            chunk_rows = [
                (
                    chunk_id_for(row_id, c.ordinal),
                    row_id,
                    c.ordinal,
                    c.start,
                    c.end,
                    c.page,
                    c.label,
                    doc.text[c.start : c.end],
                )
                for c in spans
            ]
            conn.executemany(
                'INSERT INTO chunks (chunk_id, document_row, ordinal, start, "end", page, label, text) '
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                chunk_rows,
            )
            self.full_text.add(conn, [(r[0], r[7]) for r in chunk_rows])
        return row_id

    def activate(self, row_id: int) -> list[int]:
        """Make a pending version the one readers see; return the rows it supersedes."""
        with self.transaction() as conn:
            collection, doc_id = conn.execute(
                "SELECT collection, doc_id FROM documents WHERE row_id = ? AND state = 'pending'", (row_id,)
            ).fetchone()
            old = [
                int(r[0])
                for r in conn.execute(
                    "SELECT row_id FROM documents WHERE collection = ? AND doc_id = ? AND state = 'active'",
                    (collection, doc_id),
                )
            ]
            conn.execute(
                "UPDATE documents SET state = 'superseded' WHERE collection = ? AND doc_id = ? AND state = 'active'",
                (collection, doc_id),
            )
            conn.execute("UPDATE documents SET state = 'active' WHERE row_id = ?", (row_id,))
        return old

    def mark_deleted(self, row_ids: Sequence[int]) -> None:
        """Hide versions from readers at once; `purge` removes them after their vectors are gone."""
        with self.transaction() as conn:
            conn.executemany("UPDATE documents SET state = 'deleted' WHERE row_id = ?", [(r,) for r in row_ids])

    def purge(self, row_ids: Sequence[int]) -> None:
        """Remove versions, their chunks, sections and full-text rows for good."""
        if not row_ids:
            return
        with self.transaction() as conn:
            for row_id in row_ids:
                self.full_text.drop_document(conn, row_id)
                conn.execute("DELETE FROM documents WHERE row_id = ?", (row_id,))

    def pseudonym_number(self, collection: str, entity_type: str, digest: str, sealed_value: bytes) -> int:
        """The number of a pseudonym digest in a collection, allocating the next one if new."""
        return self.pseudonym_numbers(collection, entity_type, [(digest, sealed_value)])[0]

    def pseudonym_numbers(self, collection: str, entity_type: str, entries: Sequence[tuple[str, bytes]]) -> list[int]:
        """Numbers of several digests, new ones allocated, in one transaction (a directory import).

        Each new value moves the collection's vault generation, so every process's known-value
        matcher and the retroactive pass see it.
        """
        numbers: list[int] = []
        with self.transaction(serialise_on=f"vault\0{collection}") as conn:
            for digest, sealed_value in entries:
                known = self.existing_pseudonym_number(collection, entity_type, digest)
                if known is not None:
                    numbers.append(known)
                    continue
                number = int(
                    conn.execute(
                        "SELECT COALESCE(MAX(number), 0) + 1 FROM pseudonyms WHERE collection = ? AND entity_type = ?",
                        (collection, entity_type),
                    ).fetchone()[0]
                )
                generation = self._next_generation(conn, collection)
                conn.execute(
                    "INSERT INTO pseudonyms (collection, entity_type, digest, number, sealed_value, created_ms, "
                    "generation) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (collection, entity_type, digest, number, sealed_value, now_ms(), generation),
                )
                numbers.append(number)
        return numbers

    def existing_pseudonym_number(self, collection: str, entity_type: str, digest: str) -> int | None:
        """The number of a known digest, without allocating one."""
        row = self._conn.execute(
            "SELECT number FROM pseudonyms WHERE collection = ? AND entity_type = ? AND digest = ?",
            (collection, entity_type, digest),
        ).fetchone()
        return int(row[0]) if row else None

    # --- ingest claims: which worker ingests which document ---------------

    def claim(self, collection: str, doc_id: str, worker: str, seconds: float) -> bool:
        """Claim a document for `worker` for `seconds` (renewing its own claim); False while another's is live."""
        now = now_ms()
        with self.transaction() as conn:
            row = conn.execute(
                "INSERT INTO ingest_claims (collection, doc_id, worker, expires_ms) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (collection, doc_id) DO UPDATE SET worker = excluded.worker, expires_ms = excluded.expires_ms "
                "WHERE ingest_claims.worker = excluded.worker OR ingest_claims.expires_ms < ? RETURNING worker",
                (collection, doc_id, worker, now + int(seconds * 1000), now),
            ).fetchone()
        return row is not None

    def claim_holder(self, collection: str, doc_id: str) -> str | None:
        """The worker whose claim on the document is live, if any."""
        row = self._conn.execute(
            "SELECT worker FROM ingest_claims WHERE collection = ? AND doc_id = ? AND expires_ms >= ?",
            (collection, doc_id, now_ms()),
        ).fetchone()
        return str(row[0]) if row else None

    def release_claim(self, collection: str, doc_id: str, worker: str) -> None:
        """Give a claim up (only the worker's own: an expired one may have passed to another)."""
        with self.transaction() as conn:
            conn.execute(
                "DELETE FROM ingest_claims WHERE collection = ? AND doc_id = ? AND worker = ?",
                (collection, doc_id, worker),
            )

    # --- the vault: known values, the ignore list, generations ---------------

    @staticmethod
    def _next_generation(conn: CatalogConnection, collection: str) -> int:
        """Move the collection's generation on; the row lock it takes also orders pseudonym allocation."""
        return int(
            conn.execute(
                "INSERT INTO vault_generations (collection, generation) VALUES (?, 1) "
                "ON CONFLICT (collection) DO UPDATE SET generation = vault_generations.generation + 1 "
                "RETURNING generation",
                (collection,),
            ).fetchone()[0]
        )

    def vault_generation(self, collection: str) -> int:
        """How many times the collection's vault (values or ignore list) has changed."""
        row = self._conn.execute(
            "SELECT generation FROM vault_generations WHERE collection = ?", (collection,)
        ).fetchone()
        return int(row[0]) if row else 0

    def sealed_values(self, collection: str, after_generation: int = 0) -> list[tuple[str, int, bytes, int]]:
        """(type, number, sealed value, generation) of values the vault learned after a generation."""
        rows = self._conn.execute(
            "SELECT entity_type, number, sealed_value, generation FROM pseudonyms "
            "WHERE collection = ? AND generation > ? ORDER BY generation",
            (collection, after_generation),
        ).fetchall()
        return [(str(r[0]), int(r[1]), bytes(r[2]), int(r[3])) for r in rows]

    def ignored_digests(self, collection: str) -> set[str]:
        """Keyed digests of the values an operator took off the collection's redaction."""
        rows = self._conn.execute("SELECT digest FROM redaction_ignores WHERE collection = ?", (collection,))
        return {str(r[0]) for r in rows}

    def add_ignored(self, collection: str, digest: str) -> bool:
        """Put a digest on the ignore list; False when it was there already."""
        with self.transaction(serialise_on=f"vault\0{collection}") as conn:
            if conn.execute(
                "SELECT 1 FROM redaction_ignores WHERE collection = ? AND digest = ?", (collection, digest)
            ).fetchone():
                return False
            generation = self._next_generation(conn, collection)
            conn.execute(
                "INSERT INTO redaction_ignores (collection, digest, generation, created_ms) VALUES (?, ?, ?, ?)",
                (collection, digest, generation, now_ms()),
            )
            return True

    def remove_ignored(self, collection: str, digests: Sequence[str]) -> None:
        """Take digests off the ignore list (an operator adds the values back)."""
        if not self.ignored_digests(collection) & set(digests):
            return
        with self.transaction() as conn:
            conn.executemany(
                "DELETE FROM redaction_ignores WHERE collection = ? AND digest = ?", [(collection, d) for d in digests]
            )
            self._next_generation(conn, collection)

    def documents_behind(self, collection: str, generation: int) -> list[tuple[int, int]]:
        """(row, vault generation) of the collection's active versions redacted before `generation`."""
        rows = self._conn.execute(
            "SELECT row_id, vault_generation FROM documents "
            "WHERE collection = ? AND state = 'active' AND vault_generation < ? ORDER BY row_id",
            (collection, generation),
        ).fetchall()
        return [(int(r[0]), int(r[1])) for r in rows]

    def mark_vault_generation(self, row_ids: Sequence[int], generation: int) -> None:
        """Record that these versions hold none of the values the vault knows at `generation`."""
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE documents SET vault_generation = ? WHERE row_id = ? AND vault_generation < ?",
                [(generation, r, generation) for r in row_ids],
            )

    def compact(self) -> None:
        """Physically drop deleted text (SQLite: merge the index, rewrite the file, empty the WAL).

        Deleted rows' bytes stay in free pages, old index segments and the write-ahead log until
        this runs; a purge must run it before it says the value is gone.
        """
        self.full_text.compact(self._conn)

    # --- retrieval -----------------------------------------------------------

    def search_text(self, terms: Sequence[str], collections: Sequence[str], limit: int) -> list[tuple[str, float]]:
        """BM25 over active chunks in the given collections: (chunk_id, score), best first.

        `terms` are words or phrases (a pseudonym's words), any of which may match.
        """
        if not collections or not terms:
            return []
        return self.full_text.search(self._conn, terms, collections, limit)

    def active_chunks(self, chunk_ids: Sequence[str]) -> dict[str, ChunkHit]:
        """The chunks among these ids whose document version is active, with their document."""
        if not chunk_ids:
            return {}
        marks = ",".join("?" for _ in chunk_ids)
        rows = self._conn.execute(
            'SELECT c.chunk_id, d.row_id, d.doc_id, d.collection, d.version, d.source, c.page, c.start, c."end", '
            f"c.text FROM chunks c JOIN documents d ON d.row_id = c.document_row "
            f"WHERE c.chunk_id IN ({marks}) AND d.state = 'active'",
            tuple(chunk_ids),
        ).fetchall()
        return {str(r[0]): ChunkHit(*r) for r in rows}
