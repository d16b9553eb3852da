"""The catalog's full-text index: FTS5 in SQLite, a tsvector column in PostgreSQL, both ranked like BM25.

A query is a list of terms, each a word or a phrase (a pseudonym's words, "PERSON 3"), any
of which may match. SQLite ranks with FTS5's own bm25(). PostgreSQL has no BM25, so its
score is built from its parts: each term's inverse document frequency (from the index)
times ts_rank with length normalisation, summed over the terms a chunk holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from appliance.store.catalog_db import CatalogConnection


def fts5_match(terms: Sequence[str]) -> str:
    """An FTS5 query any of whose quoted terms may match (quotes inside a term are dropped)."""
    return " OR ".join('"' + term.replace('"', " ") + '"' for term in terms)


class FullTextIndex(Protocol):
    """The dialect's index over chunk text."""

    def add(self, conn: CatalogConnection, rows: Sequence[tuple[str, str]]) -> None: ...
    def drop_document(self, conn: CatalogConnection, row_id: int) -> None: ...
    def count(self, conn: CatalogConnection) -> int: ...
    def search(
        self, conn: CatalogConnection, terms: Sequence[str], collections: Sequence[str], limit: int
    ) -> list[tuple[str, float]]: ...
    def compact(self, conn: CatalogConnection) -> None: ...


class Fts5Index:
    """An external FTS5 table (chunks_fts) kept beside the chunks."""

    def add(self, conn: CatalogConnection, rows: Sequence[tuple[str, str]]) -> None:
        conn.executemany("INSERT INTO chunks_fts (chunk_id, text) VALUES (?, ?)", rows)

    def drop_document(self, conn: CatalogConnection, row_id: int) -> None:
        conn.execute(
            "DELETE FROM chunks_fts WHERE chunk_id IN (SELECT chunk_id FROM chunks WHERE document_row = ?)", (row_id,)
        )

    def count(self, conn: CatalogConnection) -> int:
        return int(conn.execute("SELECT COUNT(*) FROM chunks_fts").fetchone()[0])

    def search(
        self, conn: CatalogConnection, terms: Sequence[str], collections: Sequence[str], limit: int
    ) -> list[tuple[str, float]]:
        marks = ",".join("?" for _ in collections)
        rows = conn.execute(
            "SELECT f.chunk_id, bm25(chunks_fts) AS rank FROM chunks_fts f "
            "JOIN chunks c ON c.chunk_id = f.chunk_id JOIN documents d ON d.row_id = c.document_row "
            f"WHERE chunks_fts MATCH ? AND d.state = 'active' AND d.collection IN ({marks}) "
            "ORDER BY rank LIMIT ?",
            (fts5_match(terms), *collections, limit),
        ).fetchall()
        return [(str(r[0]), -float(r[1])) for r in rows]

    def compact(self, conn: CatalogConnection) -> None:
        """Merge the index, rewrite the file, empty the WAL: deleted text leaves no bytes behind."""
        conn.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('optimize')")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class TsvectorIndex:
    """A generated tsvector column on chunks (the 'simple' configuration: lower case, no stemming) with a GIN index."""

    def add(self, conn: CatalogConnection, rows: Sequence[tuple[str, str]]) -> None:
        return None  # the column is generated from the text

    def drop_document(self, conn: CatalogConnection, row_id: int) -> None:
        return None  # it goes with the chunk row

    def count(self, conn: CatalogConnection) -> int:
        return int(conn.execute("SELECT COUNT(*) FROM chunks WHERE tsv <> ''::tsvector").fetchone()[0])

    def search(
        self, conn: CatalogConnection, terms: Sequence[str], collections: Sequence[str], limit: int
    ) -> list[tuple[str, float]]:
        values = ",".join("(?, phraseto_tsquery('simple', ?))" for _ in terms)
        marks = ",".join("?" for _ in collections)
        # idf as BM25 has it, ln(1 + (N - df + 0.5) / (df + 0.5)), df counted through the GIN index;
        # ts_rank's normalisation 1 divides by 1 + log(length), BM25's length damping in spirit.
        rows = conn.execute(
            f"WITH q (i, query) AS (VALUES {values}), "
            "n AS (SELECT COUNT(*) AS total FROM chunks), "
            "terms AS (SELECT q.i, q.query, LN(1 + (n.total - df.df + 0.5) / (df.df + 0.5))::float8 AS idf FROM q CROSS JOIN n "
            "CROSS JOIN LATERAL (SELECT COUNT(*) AS df FROM chunks c WHERE c.tsv @@ q.query) df "
            "WHERE numnode(q.query) > 0) "
            "SELECT c.chunk_id, SUM(t.idf * ts_rank(c.tsv, t.query, 1)) AS score "
            "FROM terms t JOIN chunks c ON c.tsv @@ t.query JOIN documents d ON d.row_id = c.document_row "
            f"WHERE d.state = 'active' AND d.collection IN ({marks}) "
            "GROUP BY c.chunk_id ORDER BY score DESC, c.chunk_id LIMIT ?",
            (*[v for i, term in enumerate(terms) for v in (i, term)], *collections, limit),
        ).fetchall()
        return [(str(r[0]), float(r[1])) for r in rows]

    def compact(self, conn: CatalogConnection) -> None:
        """Rewrite the tables that hold text, so deleted rows' bytes leave the live files.

        PostgreSQL's write-ahead log and any WAL archive or replica still hold them until
        they are recycled: that part is the database operator's (deploy/README.md).
        """
        conn.execute("VACUUM FULL chunks, documents, sections")
