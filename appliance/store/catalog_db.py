"""Where the catalog lives: a SQLite file (one process owns it) or a schema in PostgreSQL (shared).

The catalog's SQL is written once, with `?` placeholders, and runs on either. This module
hides the three things that differ: how a connection opens, how a write transaction
begins, and how a document is locked against other processes. On PostgreSQL the catalog's
tables live in their own schema (`appliance_catalog`) of the appliance database, so they
never meet the audit tables' names, and a document is locked with an advisory lock keyed
by (collection, document), which the server drops by itself when a process dies.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

PG_SCHEMA = "appliance_catalog"
Dialect = Literal["sqlite", "postgresql"]


class CatalogUnavailable(RuntimeError):
    """The shared catalog's database cannot be reached (the message names it and says why)."""


class CatalogConnection(Protocol):
    """The part of a DB-API connection the catalog uses (sqlite3's own methods)."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...
    def close(self) -> None: ...


class CatalogDatabase(Protocol):
    """One kind of catalog database."""

    dialect: Dialect
    shared: bool  # several processes may open it at once
    where: str  # for messages: the file, or the server and schema

    def connect(self) -> CatalogConnection: ...
    def begin_write(self, conn: CatalogConnection, serialise_on: str | None = None) -> None: ...

    def document_lock(self, conn: CatalogConnection, collection: str, doc_id: str) -> AbstractContextManager[None]: ...
    def try_document_lock(self, conn: CatalogConnection, collection: str, doc_id: str) -> bool: ...
    def unlock_document(self, conn: CatalogConnection, collection: str, doc_id: str) -> None: ...


class SqliteCatalogDatabase:
    """The default: one file in WAL mode, owned by one process (the store lock), so locks are no-ops."""

    dialect: Dialect = "sqlite"
    shared = False

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.where = str(path)

    def connect(self) -> CatalogConnection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA secure_delete=ON")  # deleted text is overwritten, whatever the SQLite build's default
        return conn

    def begin_write(self, conn: CatalogConnection, serialise_on: str | None = None) -> None:
        conn.execute("BEGIN IMMEDIATE")  # one writer at a time, whatever it writes

    @contextmanager
    def document_lock(self, conn: CatalogConnection, collection: str, doc_id: str) -> Iterator[None]:
        yield

    def try_document_lock(self, conn: CatalogConnection, collection: str, doc_id: str) -> bool:
        return True

    def unlock_document(self, conn: CatalogConnection, collection: str, doc_id: str) -> None:
        return None


class _PgConnection:
    """A psycopg connection in autocommit mode that takes the catalog's `?` placeholders."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.raw.execute(self._sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        cursor = self.raw.cursor()
        if rows:
            cursor.executemany(self._sql(sql), [tuple(r) for r in rows])
        return cursor

    def close(self) -> None:
        self.raw.close()

    @property
    def lost(self) -> bool:
        """True once the server dropped this connection (a restart, a failover): it must be opened again."""
        return bool(self.raw.broken or self.raw.closed)


def _key(*parts: str) -> int:
    """A signed 64-bit key for pg_advisory_lock, the same in every process and on every host."""
    digest = hashlib.blake2b("\0".join(("catalog", *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def document_lock_key(collection: str, doc_id: str) -> int:
    return _key("document", collection, doc_id)


class PostgresCatalogDatabase:
    """The catalog in the appliance's PostgreSQL database, shared by front-ends and ingest workers."""

    dialect: Dialect = "postgresql"
    shared = True

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        if parsed.get_backend_name() != "postgresql":
            raise ValueError("store.catalog = 'database' needs audit.database_url to be a PostgreSQL URL")
        self._conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self.where = f"{parsed.render_as_string(hide_password=True)} (schema {PG_SCHEMA})"

    def connect(self) -> CatalogConnection:
        import psycopg

        try:
            raw = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=30)
        except psycopg.OperationalError as error:
            reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            raise CatalogUnavailable(f"the catalog database {self.where} cannot be reached: {reason}") from None
        raw.execute(f"SET search_path TO {PG_SCHEMA}")  # the schema itself is made by the first migration run
        return _PgConnection(raw)

    def begin_write(self, conn: CatalogConnection, serialise_on: str | None = None) -> None:
        """BEGIN; with `serialise_on`, also a transaction advisory lock on that name (read-then-write steps)."""
        conn.execute("BEGIN")
        if serialise_on is not None:
            try:
                conn.execute("SELECT pg_advisory_xact_lock(?)", (_key("transaction", serialise_on),))
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @contextmanager
    def document_lock(self, conn: CatalogConnection, collection: str, doc_id: str) -> Iterator[None]:
        key = document_lock_key(collection, doc_id)
        conn.execute("SELECT pg_advisory_lock(?)", (key,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(?)", (key,))

    def try_document_lock(self, conn: CatalogConnection, collection: str, doc_id: str) -> bool:
        row = conn.execute("SELECT pg_try_advisory_lock(?)", (document_lock_key(collection, doc_id),)).fetchone()
        return bool(row[0])

    def unlock_document(self, conn: CatalogConnection, collection: str, doc_id: str) -> None:
        conn.execute("SELECT pg_advisory_unlock(?)", (document_lock_key(collection, doc_id),))
