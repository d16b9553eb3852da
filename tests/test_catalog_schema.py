"""Migrations: a blank database migrates to the expected schema, idempotently."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from appliance.store.catalog import Catalog
from appliance.store.migrations import MIGRATIONS, migrate


def test_blank_database_migrates_to_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    Catalog(path).close()
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table')")}
    assert {"documents", "sections", "chunks", "chunks_fts", "pseudonyms", "schema_migrations"} <= tables
    applied = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert applied == [m[0] for m in MIGRATIONS]
    columns = {r[1] for r in conn.execute("PRAGMA table_info(documents)")}
    assert {"doc_id", "version", "sha256", "collection", "state", "policy_hash", "embedding_model"} <= columns
    chunk_columns = {r[1] for r in conn.execute("PRAGMA table_info(chunks)")}
    assert {"chunk_id", "document_row", "start", "end", "page", "text"} <= chunk_columns
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert migrate(conn) == []


def test_migration_numbers_are_unique_and_increasing() -> None:
    numbers = [m[0] for m in MIGRATIONS]
    assert numbers == sorted(set(numbers)) and numbers[0] == 1
