"""The retrieval-at-scale benchmark: hybrid retrieval latency at N chunks, beside a naive baseline.

The target is retrieval p50 under 50 ms at 10,000 chunks. A fresh home is filled with N real,
sentence-sized chunks (`bench_retrieval_corpus`), then SQuAD questions go through
`retrieval.retrieve`, the function `ask` uses, with its stores wrapped in timers so that dense
search, the full-text query and the chunk lookup are measured inside the real call, on the
stores the settings name (SQLite and embedded Chroma, or PostgreSQL and a Chroma server). "Total" is what
`ask` times as its retrieve stage: the question's embedding plus `retrieve`. The naive baseline
(`naive_retrieval`) ranks the same questions by exact cosine over every vector and a BM25 scan of
every chunk; their overlap says whether the indexes return what brute force would. The store is
built by `bench_retrieval_corpus`, the report printed by `bench_retrieval_report`.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from appliance.answer.retrieval import CANDIDATES_PER_RESULT, retrieve
from appliance.app import Appliance
from appliance.bench.naive_retrieval import brute_force_dense, fuse, scan_bm25
from appliance.bench.qa_datasets import SquadItem, load_squad, select_squad
from appliance.bench.qa_scoring import rate
from appliance.bench.retrieval_corpus import IndexedCorpus, collect_corpus, index_corpus
from appliance.bench.retrieval_report import format_report
from appliance.bench.stats import percentile
from appliance.build import Models, build
from appliance.ports import MetadataValue, VectorHit, VectorStore
from appliance.settings import Settings
from appliance.store.catalog import Catalog, ChunkHit

__all__ = ["format_report", "run_retrieval_bench"]

Progress = Callable[[str], None]

TARGET_P50_MS = 50.0
TARGET_CHUNKS = 10_000
COLLECTION = "bench"
WARM_UP_QUERIES = 5
SELF_QUERIES = 50
INDEXED_STAGES = ("embed", "dense", "lexical", "lookup", "fusion", "total")
NAIVE_STAGES = ("embed", "dense", "lexical", "fusion", "total")


class TimedVectors:
    """The real vector store, with the time spent in `query` counted since the last reset."""

    def __init__(self, inner: VectorStore) -> None:
        self._inner = inner
        self.seconds = 0.0
        self.last_ids: list[str] = []

    def upsert(
        self,
        ids: Sequence[str],
        embeddings: Sequence[Sequence[float]],
        metadatas: Sequence[Mapping[str, MetadataValue]],
    ) -> None:
        self._inner.upsert(ids, embeddings, metadatas)

    def delete_document_rows(self, document_rows: Sequence[int]) -> None:
        self._inner.delete_document_rows(document_rows)

    def document_rows(self) -> set[int]:
        return self._inner.document_rows()

    def embeddings(self, ids: Sequence[str]) -> dict[str, list[float]]:
        return self._inner.embeddings(ids)

    def count(self) -> int:
        return self._inner.count()

    def query(self, embedding: Sequence[float], top_k: int, collections: Sequence[str]) -> list[VectorHit]:
        """Delegate, timing the call and keeping the ids it returned."""
        started = time.perf_counter()
        hits = self._inner.query(embedding, top_k, collections)
        self.seconds += time.perf_counter() - started
        self.last_ids = [h.chunk_id for h in hits]
        return hits


class TimedCatalog:
    """The two catalog reads retrieval makes, timed: the full-text search and the chunk lookup."""

    def __init__(self, inner: Catalog) -> None:
        self._inner = inner
        self.search_seconds = 0.0
        self.lookup_seconds = 0.0

    def search_text(self, terms: Sequence[str], collections: Sequence[str], limit: int) -> list[tuple[str, float]]:
        """Delegate, timing the call."""
        started = time.perf_counter()
        try:
            return self._inner.search_text(terms, collections, limit)
        finally:
            self.search_seconds += time.perf_counter() - started

    def active_chunks(self, chunk_ids: Sequence[str]) -> dict[str, ChunkHit]:
        """Delegate, timing the call."""
        started = time.perf_counter()
        try:
            return self._inner.active_chunks(chunk_ids)
        finally:
            self.lookup_seconds += time.perf_counter() - started


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def indexed_retrieval(
    app: Appliance, question: str, vector: Sequence[float], vectors: TimedVectors, catalog: TimedCatalog, top_k: int
) -> tuple[list[ChunkHit], list[str], dict[str, float]]:
    """(top_k chunks, dense candidate ids, stage ms except embedding) from one real `retrieve` call."""
    before_dense, before_search, before_lookup = vectors.seconds, catalog.search_seconds, catalog.lookup_seconds
    started = time.perf_counter()
    hits = retrieve(
        question,
        catalog=cast(Catalog, catalog),  # only search_text and active_chunks are called
        vectors=vectors,
        embedder=app.embedder,  # not called: the question vector is given, as `ask` gives it
        collections=[COLLECTION],
        top_k=top_k,
        query_vector=vector,
    )
    elapsed = time.perf_counter() - started
    dense = vectors.seconds - before_dense
    lexical = catalog.search_seconds - before_search
    lookup = catalog.lookup_seconds - before_lookup
    stages = {
        "dense": _ms(dense),
        "lexical": _ms(lexical),
        "lookup": _ms(lookup),
        "fusion": _ms(elapsed - dense - lexical - lookup),
        "retrieve": _ms(elapsed),
    }
    return [h.chunk for h in hits], vectors.last_ids, stages


def naive_retrieval(
    question: str, vector: np.ndarray, corpus: IndexedCorpus, top_k: int
) -> tuple[list[int], list[int], dict[str, float]]:
    """(top_k rows, dense candidate rows, stage ms except embedding) by brute force over everything."""
    wanted = top_k * CANDIDATES_PER_RESULT
    started = time.perf_counter()
    dense = brute_force_dense(vector, corpus.vectors, wanted)
    after_dense = time.perf_counter()
    lexical = scan_bm25(question, corpus.texts, wanted)
    after_lexical = time.perf_counter()
    best = fuse(dense, lexical, top_k)
    done = time.perf_counter()
    stages = {
        "dense": _ms(after_dense - started),
        "lexical": _ms(after_lexical - after_dense),
        "fusion": _ms(done - after_lexical),
        "retrieve": _ms(done - started),
    }
    return best, dense, stages


def _summary(rows: Sequence[Mapping[str, float]], stages: Sequence[str]) -> dict[str, dict[str, float]]:
    """p50 and p95 per stage."""
    return {
        stage: {
            "p50": round(percentile([r[stage] for r in rows], 50), 2),
            "p95": round(percentile([r[stage] for r in rows], 95), 2),
        }
        for stage in stages
    }


def _contains_gold(texts: Sequence[str], golds: Sequence[str]) -> bool:
    return any(gold in text for text in texts for gold in golds)


def _time_questions(
    items: Sequence[SquadItem], embed: Callable[[str], list[float]], corpus: IndexedCorpus, app: Appliance, top_k: int
) -> dict[str, Any]:
    """Latency per stage (indexed, then naive), index-vs-brute-force agreement, gold-in-top-k rates."""
    vectors, catalog = TimedVectors(app.vectors), TimedCatalog(app.catalog)
    for text in corpus.texts[:WARM_UP_QUERIES]:  # loads the HNSW index, SQLite pages and torch's threads
        indexed_retrieval(app, text, embed(text), vectors, catalog, top_k)
    indexed_rows: list[dict[str, float]] = []
    question_vectors: list[np.ndarray] = []
    indexed_hits: list[list[ChunkHit]] = []
    indexed_dense: list[list[str]] = []
    for item in items:  # embedding then retrieval, back to back, as `ask` runs them
        started = time.perf_counter()
        vector = embed(item.question)
        embed_ms = _ms(time.perf_counter() - started)
        hits, dense_ids, stages = indexed_retrieval(app, item.question, vector, vectors, catalog, top_k)
        indexed_rows.append({**stages, "embed": embed_ms, "total": round(embed_ms + stages["retrieve"], 3)})
        question_vectors.append(np.asarray(vector, dtype=np.float32))
        indexed_hits.append(hits)
        indexed_dense.append(dense_ids)
    naive_rows: list[dict[str, float]] = []
    dense_overlap: list[float] = []
    hybrid_overlap: list[float] = []
    gold_indexed = gold_naive = answerable = 0
    for item, query, hits, dense_ids, row in zip(
        items, question_vectors, indexed_hits, indexed_dense, indexed_rows, strict=True
    ):
        best, dense_rows, stages = naive_retrieval(item.question, query, corpus, top_k)
        naive_rows.append({**stages, "embed": row["embed"], "total": round(row["embed"] + stages["retrieve"], 3)})
        exact = {corpus.chunk_ids[r] for r in dense_rows}
        dense_overlap.append(len(exact & set(dense_ids)) / len(exact) if exact else 1.0)
        naive_top = {corpus.chunk_ids[r] for r in best}
        hybrid_overlap.append(len(naive_top & {h.chunk_id for h in hits}) / len(naive_top) if naive_top else 1.0)
        if not item.impossible:
            answerable += 1
            gold_indexed += _contains_gold([h.text for h in hits], item.golds)
            gold_naive += _contains_gold([corpus.texts[r] for r in best], item.golds)
    return {
        "indexed_ms": _summary(indexed_rows, INDEXED_STAGES),
        "naive_ms": _summary(naive_rows, NAIVE_STAGES),
        "dense_recall_vs_exact": round(sum(dense_overlap) / len(dense_overlap), 4) if dense_overlap else None,
        "hybrid_overlap_with_naive": round(sum(hybrid_overlap) / len(hybrid_overlap), 4) if hybrid_overlap else None,
        "answerable": answerable,
        "gold_in_top_k": rate(gold_indexed, answerable),
        "gold_in_top_k_naive": rate(gold_naive, answerable),
    }


def _self_retrieval(
    embed: Callable[[str], list[float]], corpus: IndexedCorpus, app: Appliance, top_k: int
) -> dict[str, Any]:
    """Chunks queried with their own text: how often each method returns the chunk in its top_k."""
    count = min(SELF_QUERIES, len(corpus.chunk_ids))
    rows = sorted({round(i * (len(corpus.chunk_ids) - 1) / max(count - 1, 1)) for i in range(count)})
    vectors, catalog = TimedVectors(app.vectors), TimedCatalog(app.catalog)
    indexed = naive = 0
    for row in rows:
        text, vector = corpus.texts[row], embed(corpus.texts[row])
        hits, _, _ = indexed_retrieval(app, text, vector, vectors, catalog, top_k)
        best, _, _ = naive_retrieval(text, np.asarray(vector, dtype=np.float32), corpus, top_k)
        indexed += any(h.chunk_id == corpus.chunk_ids[row] for h in hits)
        naive += row in best
    return {"queries": len(rows), "indexed": rate(indexed, len(rows)), "naive": rate(naive, len(rows))}


def _load_average() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def run_retrieval_bench(
    settings: Settings,
    models: Models,
    *,
    eval_dir: Path,
    chunks: int = 10_000,
    questions: int | None = 200,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Build a store of `chunks` real chunks in a fresh home, then time hybrid retrieval against the baseline."""
    say = progress or (lambda _line: None)
    squad = eval_dir / "qa" / "haystack_squad2_dev_small.json"
    if not squad.is_file():
        raise FileNotFoundError(f"no SQuAD questions at {squad}")
    load_before = _load_average()
    top_k = settings.answering.top_k
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    say("loading models ...")
    models.warm_up()
    items = select_squad(load_squad(squad)[1], questions)
    started = time.perf_counter()
    say(f"corpus: collecting {chunks} sentence-sized chunks of real text from {eval_dir} ...")
    documents = collect_corpus(eval_dir, chunks)
    corpus_seconds = time.perf_counter() - started
    found = sum(len(d.spans) for d in documents)
    say(f"corpus: {found} chunks from {len(documents)} documents in {corpus_seconds:.1f} s; embedding and indexing ...")
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-", dir=settings.tmp_dir) as root:
        with build(settings.model_copy(update={"home": Path(root) / "home"}), models) as app:
            corpus = index_corpus(app, documents, COLLECTION, say)
            build_seconds = time.perf_counter() - started

            def embed(text: str) -> list[float]:
                return app.embedder.embed([text])[0]

            say(f"timing {len(items)} SQuAD questions (after {WARM_UP_QUERIES} warm-up queries) ...")
            timed = _time_questions(items, embed, corpus, app, top_k)
            say(f"querying {min(SELF_QUERIES, found)} chunks with their own text ...")
            own = _self_retrieval(embed, corpus, app, top_k)
    characters = sum(len(t) for t in corpus.texts)
    return {
        "settings": {
            "top_k": top_k,
            "candidates_per_ranker": top_k * CANDIDATES_PER_RESULT,
            "catalog": settings.store.catalog,
            "vector_store": settings.store.vector_store,
        },
        "corpus": {
            "chunks": len(corpus.chunk_ids),
            "requested": chunks,
            "documents": len(documents),
            "characters": characters,
            "mean_chunk_chars": round(characters / len(corpus.texts), 1) if corpus.texts else 0.0,
        },
        "build_seconds": {
            "corpus": round(corpus_seconds, 1),
            "embed": round(corpus.embed_seconds, 1),
            "index": round(corpus.index_seconds, 1),
            "total": round(build_seconds, 1),
        },
        "embed_chunks_per_s": round(len(corpus.texts) / corpus.embed_seconds, 1) if corpus.embed_seconds else None,
        "questions": len(items),
        "warm_up_queries": WARM_UP_QUERIES,
        **timed,
        "own_text_in_top_k": own,
        "target_p50_ms": TARGET_P50_MS,
        "target_chunks": TARGET_CHUNKS,
        "target_met": (
            timed["indexed_ms"]["total"]["p50"] < TARGET_P50_MS if len(corpus.chunk_ids) >= TARGET_CHUNKS else None
        ),
        "machine": {
            "cpus": os.cpu_count(),
            "threads": settings.runtime.threads,
            "load_before": load_before,
            "load_after": _load_average(),
        },
    }
