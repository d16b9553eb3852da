"""The retrieval-at-scale benchmark on a small real store: figures present, indexes agreeing with brute force."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from appliance.answer.retrieval import retrieve
from appliance.bench.naive_retrieval import brute_force_dense, fuse, query_terms, scan_bm25
from appliance.bench.retrieval import INDEXED_STAGES, NAIVE_STAGES, format_report, run_retrieval_bench
from appliance.bench.retrieval_corpus import MAX_CHUNK_CHARS, SQUAD_FILE, collect_corpus, index_corpus
from tests.conftest import EVAL

pytestmark = pytest.mark.skipif(not (EVAL / SQUAD_FILE).is_file(), reason=f"SQuAD sample not found at {EVAL}")


def test_corpus_chunks_are_unique_spans_of_the_stored_text() -> None:
    documents = collect_corpus(EVAL, 300)
    texts = [t for d in documents for t in d.chunk_texts()]
    assert len(texts) == 300 and len(set(texts)) == 300
    assert all(0 < len(t) <= MAX_CHUNK_CHARS for t in texts)
    for document in documents:
        assert all(a.end < b.start for a, b in pairwise(document.spans))  # no overlap, in order
        assert all(t == t.strip() for t in document.chunk_texts())
        assert [s.ordinal for s in document.spans] == list(range(len(document.spans)))


def test_naive_bm25_and_fusion_rank_like_retrieve() -> None:
    texts = ["the cat sat on the mat", "a dog chased the cat and another cat", "birds sing at dawn"]
    assert query_terms("What did <PERSON_3> say about cats?") == [("person", "3"), ("say",), ("cats",)]
    assert scan_bm25("Where is the cat?", texts, 3) == [1, 0]
    assert scan_bm25("the of and", texts, 3) == []
    assert fuse([2, 1], [1, 0], 2) == [1, 2]


def test_a_chunks_own_sentence_retrieves_it(app) -> None:  # type: ignore[no-untyped-def]
    documents = collect_corpus(EVAL, 120)
    corpus = index_corpus(app, documents, "bench", lambda _line: None)
    assert app.vectors.count() == 120 and len(app.catalog.active_chunks(corpus.chunk_ids)) == 120
    assert corpus.vectors.shape == (120, 384)
    for row in (0, 57, 119):
        text = corpus.texts[row]
        words = text.split()
        for question in (text, " ".join(words[: max(6, len(words) // 2)])):
            hits = retrieve(
                question,
                catalog=app.catalog,
                vectors=app.vectors,
                embedder=app.embedder,
                collections=["bench"],
                top_k=5,
            )
            assert corpus.chunk_ids[row] in [h.chunk.chunk_id for h in hits], question
            assert all(h.chunk.text == corpus.texts[corpus.chunk_ids.index(h.chunk.chunk_id)] for h in hits)
        vector = np.asarray(app.embedder.embed([text])[0], dtype=np.float32)
        assert brute_force_dense(vector, corpus.vectors, 5)[0] == row


def test_bench_retrieval_reports_the_figures(settings, models) -> None:  # type: ignore[no-untyped-def]
    result = run_retrieval_bench(settings, models, eval_dir=EVAL, chunks=300, questions=10)
    assert result["corpus"]["chunks"] == 300 and result["questions"] == 10
    for stage in INDEXED_STAGES:
        assert result["indexed_ms"][stage]["p95"] >= result["indexed_ms"][stage]["p50"] >= 0
    for stage in NAIVE_STAGES:
        assert result["naive_ms"][stage]["p95"] >= result["naive_ms"][stage]["p50"] >= 0
    assert result["indexed_ms"]["total"]["p50"] >= result["indexed_ms"]["embed"]["p50"] > 0
    assert result["build_seconds"]["total"] > 0 and result["embed_chunks_per_s"] > 0
    assert result["own_text_in_top_k"] == {"queries": 50, "indexed": 1.0, "naive": 1.0}
    assert result["dense_recall_vs_exact"] >= 0.9 and result["hybrid_overlap_with_naive"] >= 0.5
    assert 0.0 <= result["gold_in_top_k"] <= 1.0 and result["target_met"] is None  # judged at 10,000
    report = format_report(result)
    for label in ("question embedding", "dense search", "lexical search (FTS5 BM25)", "fusion (RRF)", "total"):
        assert label in report
    assert "retrieval p50 under 50 ms at 10,000 chunks: not judged" in report and "300 chunks" in report
