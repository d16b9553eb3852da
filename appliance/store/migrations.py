"""Numbered schema migrations for the catalog, applied in order at start-up.

Add a migration by appending to MIGRATIONS; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
import time

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "documents, sections, chunks, full-text index, pseudonyms",
        """
        CREATE TABLE documents (
            row_id INTEGER PRIMARY KEY,
            collection TEXT NOT NULL,
            doc_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'superseded', 'deleted')),
            source TEXT NOT NULL,
            kind TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            page_count INTEGER,
            text TEXT NOT NULL,
            redactions TEXT NOT NULL,
            notes TEXT NOT NULL,
            policy_hash TEXT NOT NULL,
            embedding_model TEXT NOT NULL,
            actor TEXT NOT NULL,
            created_ms INTEGER NOT NULL,
            UNIQUE (collection, doc_id, version)
        );
        CREATE UNIQUE INDEX documents_one_active ON documents (collection, doc_id) WHERE state = 'active';
        CREATE INDEX documents_state ON documents (state);
        CREATE TABLE sections (
            document_row INTEGER NOT NULL REFERENCES documents (row_id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            page INTEGER,
            label TEXT,
            PRIMARY KEY (document_row, ordinal)
        );
        CREATE TABLE chunks (
            chunk_id TEXT PRIMARY KEY,
            document_row INTEGER NOT NULL REFERENCES documents (row_id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            page INTEGER,
            label TEXT,
            text TEXT NOT NULL
        );
        CREATE INDEX chunks_document ON chunks (document_row);
        CREATE VIRTUAL TABLE chunks_fts USING fts5 (text, chunk_id UNINDEXED, tokenize = 'unicode61');
        CREATE TABLE pseudonyms (
            collection TEXT NOT NULL,
            entity_type TEXT NOT NULL,
            digest TEXT NOT NULL,
            number INTEGER NOT NULL,
            sealed_value BLOB NOT NULL,
            created_ms INTEGER NOT NULL,
            PRIMARY KEY (collection, entity_type, digest),
            UNIQUE (collection, entity_type, number)
        );
        """,
    ),
    (
        2,
        "vault generations, the ignore list, the generation each document version was redacted with",
        """
        CREATE TABLE vault_generations (
            collection TEXT PRIMARY KEY,
            generation INTEGER NOT NULL
        );
        ALTER TABLE pseudonyms ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX pseudonyms_generation ON pseudonyms (collection, generation);
        CREATE TABLE redaction_ignores (
            collection TEXT NOT NULL,
            digest TEXT NOT NULL,
            generation INTEGER NOT NULL,
            created_ms INTEGER NOT NULL,
            PRIMARY KEY (collection, digest)
        );
        ALTER TABLE documents ADD COLUMN vault_generation INTEGER NOT NULL DEFAULT 0;
        UPDATE pseudonyms SET generation = 1;
        INSERT INTO vault_generations (collection, generation) SELECT DISTINCT collection, 1 FROM pseudonyms;
        """,
    ),
]


def applied_versions(conn: sqlite3.Connection) -> set[int]:
    """Migration numbers already applied to this database."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)"
    )
    return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply missing migrations, each in its own transaction; return the numbers applied."""
    done = applied_versions(conn)
    applied = []
    for version, name, sql in MIGRATIONS:
        if version in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)",
                (version, name, int(time.time() * 1000)),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]
