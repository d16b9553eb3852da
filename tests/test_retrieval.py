"""Hybrid retrieval on the real store: BM25 + dense fused, always filtered by collection."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.answer.retrieval import reciprocal_rank_fusion, retrieve, search_terms
from appliance.store.documents import delete_document
from appliance.store.full_text import fts5_match
from ingestion.pipeline import ingest_paths
from tests.actors import TESTER


def test_search_terms_keep_pseudonyms_as_phrases_and_fts5_quotes_them() -> None:
    terms = search_terms('What did <PERSON_3> say about "ZX-4471" in 2026?')
    assert terms == ["PERSON 3", "say", "zx", "4471", "2026"]
    assert fts5_match(terms) == '"PERSON 3" OR "say" OR "zx" OR "4471" OR "2026"'
    assert fts5_match(['a"b']) == '"a b"'
    assert search_terms("the of and") == []


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    scores = reciprocal_rank_fusion([["a", "b", "c"], ["b", "d"]])
    assert max(scores, key=lambda k: scores[k]) == "b"
    assert scores["a"] == pytest.approx(1 / 61)


@pytest.fixture
def corpus(app, tmp_path: Path):  # type: ignore[no-untyped-def]
    files = {
        "travel.txt": "Hotel stays are capped at EUR 180 per night. Claims must be filed within 30 days of travel.",
        "security.txt": "Incident ZX-4471: a phishing e-mail reached the finance team; passwords were reset within 48 hours.",
        "retention.txt": "Board minutes: the data-retention period is seven years for customer records.",
        "canteen.txt": "The canteen serves vegetarian lunch on Fridays and closes at 3 p.m.",
    }
    paths = []
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text + "\n")
        paths.append(path)
    ingest_paths(app, paths[:3], collection="policies", actor=TESTER)
    ingest_paths(app, paths[3:], collection="facilities", actor=TESTER)
    return {p.name: p for p in paths}


def names(results) -> list[str]:  # type: ignore[no-untyped-def]
    return [Path(r.chunk.doc_id).name for r in results]


def search(app, question: str, collections: list[str], **kwargs):  # type: ignore[no-untyped-def]
    return retrieve(
        question, catalog=app.catalog, vectors=app.vectors, embedder=app.embedder, collections=collections, **kwargs
    )


def test_hybrid_finds_exact_codes_and_paraphrases(app, corpus) -> None:  # type: ignore[no-untyped-def]
    assert names(search(app, "What happened in ZX-4471?", ["policies"], top_k=1)) == ["security.txt"]
    assert names(search(app, "How long do we keep client files?", ["policies"], top_k=1)) == ["retention.txt"]
    lexical = search(app, "ZX-4471", ["policies"], top_k=3, mode="lexical")
    assert names(lexical) == ["security.txt"] and lexical[0].dense_rank is None


def test_results_never_cross_collections(app, corpus) -> None:  # type: ignore[no-untyped-def]
    assert "canteen.txt" not in names(search(app, "When is vegetarian lunch served?", ["policies"], top_k=3))
    assert names(search(app, "When is vegetarian lunch served?", ["facilities"], top_k=3)) == ["canteen.txt"]
    assert search(app, "lunch", [], top_k=3) == []


def test_filter_by_document_and_deleted_documents_vanish(app, corpus) -> None:  # type: ignore[no-untyped-def]
    only = search(app, "hotel claims", ["policies"], top_k=3, doc_ids=[str(corpus["retention.txt"])])
    assert names(only) == ["retention.txt"]
    delete_document(app, str(corpus["travel.txt"]), actor=TESTER)
    assert "travel.txt" not in names(search(app, "hotel cap per night", ["policies"], top_k=3))


def test_chunk_text_is_the_stored_span(app, corpus) -> None:  # type: ignore[no-untyped-def]
    [hit] = search(app, "phishing incident", ["policies"], top_k=1)
    stored = app.catalog.document_text(hit.chunk.document_row)
    assert stored[hit.chunk.start : hit.chunk.end] == hit.chunk.text


def test_dense_search_keeps_to_a_small_collection_beside_a_large_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The unfiltered fast path must fall back to the filtered search, never leak the big collection."""
    from appliance.backends.chroma_store import ChromaVectorStore, local_client

    store = ChromaVectorStore(local_client(tmp_path / "chroma"), "test-model")
    big = [[1.0, 0.0, 0.0, float(i) / 1000] for i in range(200)]  # all very near the query
    small = [[0.0, 1.0, 0.0, 0.0], [0.0, 0.9, 0.1, 0.0]]
    metadata = lambda collection, i: {"collection": collection, "document_row": i, "doc_id": str(i)}  # noqa: E731
    store.upsert([f"b{i}" for i in range(200)], big, [metadata("big", i) for i in range(200)])
    store.upsert(["s0", "s1"], small, [metadata("small", 900), metadata("small", 901)])
    query = [1.0, 0.0, 0.0, 0.0]
    only_small = store.query(query, 5, ["small"])
    assert {hit.chunk_id for hit in only_small} == {"s0", "s1"}
    assert all(hit.metadata["collection"] == "big" for hit in store.query(query, 5, ["big"]))
    assert len(store.query(query, 5, ["big", "small"])) == 5
