"""Ingestion with every real part: Presidio + spaCy, MiniLM, Chroma, SQLite.

The demo corpus plants fictional personal data next to facts; nothing planted may reach
any file under APPLIANCE_HOME, and every fact must survive.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from appliance.store.documents import DocumentNotFound, delete_document, list_documents, show_document
from ingestion.pipeline import ingest_paths
from tests.actors import TESTER
from tests.conftest import DEMO_CORPUS, DEMO_EXPECTATIONS

EXPECTATIONS: dict[str, dict[str, list[str]]] = json.loads(DEMO_EXPECTATIONS.read_text())


def stored_bytes(home: Path) -> bytes:
    """Every byte the appliance wrote under its home, keys excepted (they hold no text)."""
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file() and "keys" not in p.parts)


def test_demo_corpus_is_redacted_before_anything_is_stored(app, home: Path) -> None:
    report = ingest_paths(app, [DEMO_CORPUS], collection="demo", actor=TESTER)
    assert report.failed == []
    assert sorted(Path(d.path).name for d in report.ingested) == sorted(EXPECTATIONS)
    blob = stored_bytes(home)
    for name, expected in EXPECTATIONS.items():
        shown = show_document(app, str(DEMO_CORPUS / name), actor=TESTER, collections=["demo"])
        text = shown["text"]
        leaked = [value for value in expected["pii"] if value in text or value.encode() in blob]
        assert not leaked, f"{name}: personal data reached the store: {leaked}"
        lost = [fact for fact in expected["facts"] if fact not in text]
        assert not lost, f"{name}: facts destroyed by redaction: {lost}"
        for marker in expected.get("not_ingested", []):
            assert marker not in text, f"{name}: {marker} should not be ingested"
        assert shown["redactions"], f"{name}: nothing redacted"
        assert sum(shown["redactions"].values()) >= 1
        for chunk in shown["chunks"]:
            assert text[chunk["start"] : chunk["end"]].strip()


def test_chunks_carry_identity_and_live_in_every_index(app) -> None:
    report = ingest_paths(app, [DEMO_CORPUS / "incident_report_2026-03.pdf"], collection="demo", actor=TESTER)
    [doc] = report.ingested
    record = app.catalog.active_document("demo", doc.doc_id)
    chunks = app.catalog.chunks(record.row_id)
    assert len(chunks) == doc.chunks > 0
    text = app.catalog.document_text(record.row_id)
    assert all(c.text == text[c.start : c.end] for c in chunks)
    assert {c.page for c in chunks} == {1, 2}
    assert app.vectors.document_rows() == {record.row_id}
    assert app.vectors.count() == len(chunks) == app.catalog.full_text_count()
    hit = app.vectors.query(app.embedder.embed(["phishing incident resolution"])[0], 3, ["demo"])[0]
    for key in ("doc_id", "version", "sha256", "collection", "policy_hash", "embedding_model", "page"):
        assert key in hit.metadata
    assert hit.metadata["sha256"] == doc.sha256 and hit.metadata["policy_hash"] == app.redactor.policy_hash


def test_unchanged_is_skipped_changed_is_a_new_version_delete_removes_everywhere(app, tmp_path: Path) -> None:
    source = tmp_path / "note.txt"
    source.write_text("Claims are paid within 30 days. Contact Jane Roe at jane.roe@example.com.\n")
    first = ingest_paths(app, [source], collection="default", actor=TESTER)
    assert len(first.ingested) == 1 and first.ingested[0].version == 1
    again = ingest_paths(app, [source], collection="default", actor=TESTER)
    assert again.ingested == [] and again.unchanged[0]["doc_id"] == str(source)

    source.write_text("Claims are now paid within 14 days. Contact Jane Roe at jane.roe@example.com.\n")
    second = ingest_paths(app, [source], collection="default", actor=TESTER)
    assert second.ingested[0].version == 2
    record = app.catalog.active_document("default", str(source))
    assert app.vectors.document_rows() == {record.row_id}
    assert "14 days" in app.catalog.document_text(record.row_id)
    assert app.catalog.full_text_count() == record.chunk_count

    delete_document(app, str(source), actor=TESTER)
    assert list_documents(app) == []
    assert app.vectors.count() == 0 and app.catalog.full_text_count() == 0
    with pytest.raises(DocumentNotFound):
        show_document(app, str(source), actor=TESTER)


class RenamedEmbedder:
    """The real embedder under another model id: stands for an operator's new embedding model."""

    def __init__(self, inner, model_id: str) -> None:  # type: ignore[no-untyped-def]
        self._inner = inner
        self.model_id = model_id
        self.dimension = inner.dimension

    def embed(self, texts):  # type: ignore[no-untyped-def]
        return self._inner.embed(texts)

    def warm_up(self) -> None:
        self._inner.warm_up()


def test_a_new_redaction_policy_or_embedding_model_makes_the_next_ingest_a_new_version(
    home: Path, models, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import dataclasses
    import os

    from appliance.build import build
    from appliance.settings import RedactionSettings, Settings

    source = tmp_path / "note.txt"
    source.write_text("Claims are paid within 30 days. Contact Jane Roe at jane.roe@example.com.\n")
    saved = dict(os.environ)
    try:
        with build(Settings(home=home), models) as app:
            assert ingest_paths(app, [source], collection="c", actor=TESTER).ingested[0].version == 1
            assert ingest_paths(app, [source], collection="c", actor=TESTER).unchanged
        stricter = Settings(home=home, redaction=RedactionSettings(score_threshold=0.5))
        with build(stricter, models) as app:
            report = ingest_paths(app, [source], collection="c", actor=TESTER)
            assert [d.version for d in report.ingested] == [2], report.to_json()
            assert app.catalog.active_document("c", str(source)).policy_hash == app.redactor.policy_hash
        with build(stricter, models) as app:
            renamed = dataclasses.replace(app, embedder=RenamedEmbedder(models.embedder, "another-model"))
            report = ingest_paths(renamed, [source], collection="c", actor=TESTER)
            assert [d.version for d in report.ingested] == [3], report.to_json()
            assert app.catalog.active_document("c", str(source)).embedding_model == "another-model"
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_collections_are_separate_and_pseudonyms_consistent_within_one(app, tmp_path: Path) -> None:
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_text("Maria Gonzalez approved the budget of USD 40,000.\n")
    b.write_text("The auditor, Maria Gonzalez, signed off on 2026-05-02.\n")
    ingest_paths(app, [a, b], collection="alpha", actor=TESTER)
    ingest_paths(app, [b], collection="beta", actor=TESTER)
    text_a = show_document(app, str(a), actor=TESTER, collections=["alpha"])["text"]
    text_b = show_document(app, str(b), actor=TESTER, collections=["alpha"])["text"]
    placeholder = text_a.split(" approved")[0]
    assert placeholder.startswith("<PERSON_") and placeholder in text_b
    assert "USD 40,000" in text_a and "2026-05-02" in text_b
    with pytest.raises(DocumentNotFound, match="several collections"):
        show_document(app, str(b), actor=TESTER)
    query = app.embedder.embed(["who approved the budget"])[0]
    assert {h.metadata["collection"] for h in app.vectors.query(query, 10, ["beta"])} == {"beta"}
    assert {Path(str(h.metadata["doc_id"])).name for h in app.vectors.query(query, 10, ["beta"])} == {"b.txt"}


def test_catalog_is_sqlite_wal_with_fts(app, home: Path) -> None:
    ingest_paths(app, [DEMO_CORPUS / "travel_expense_policy.md"], collection="demo", actor=TESTER)
    conn = sqlite3.connect(home / "catalog.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    rows = conn.execute("SELECT chunk_id FROM chunks_fts WHERE chunks_fts MATCH 'hotel'").fetchall()
    assert rows, "full-text index should find 'hotel'"


def test_a_copy_in_another_folder_is_another_document(app, tmp_path: Path) -> None:
    original = DEMO_CORPUS / "staff_directory.csv"
    copy = tmp_path / "copy" / "staff_directory.csv"
    copy.parent.mkdir()
    shutil.copy(original, copy)
    report = ingest_paths(app, [original, copy], collection="demo", actor=TESTER)
    assert len(report.ingested) == 2
    assert report.ingested[0].sha256 == report.ingested[1].sha256
