"""The retrieval benchmark's terminal report: latency per stage beside the naive baseline, agreement, target."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

_LABELS = MappingProxyType(
    {
        "embed": "question embedding",
        "dense": "dense search",
        "lexical": "lexical search",
        "lookup": "chunk lookup",
        "fusion": "fusion (RRF)",
        "total": "total",
    }
)
_BASELINE = MappingProxyType(
    {
        "embed": "same call",
        "dense": "numpy cosine over all vectors",
        "lexical": "BM25 scan of every chunk",
        "lookup": "in memory, no lookup",
        "fusion": "same RRF",
        "total": "",
    }
)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_report(result: dict[str, Any]) -> str:
    """The figures as a fixed-width terminal report."""
    corpus, build_s, machine = result["corpus"], result["build_seconds"], result["machine"]
    indexed, naive = result["indexed_ms"], result["naive_ms"]
    own = result["own_text_in_top_k"]
    total = indexed["total"]["p50"]
    lines = [
        f"retrieval at scale: {corpus['chunks']:,} chunks (sentence-sized, mean {corpus['mean_chunk_chars']:.0f} "
        f"characters) in {corpus['documents']} documents; top_k={result['settings']['top_k']}, "
        f"{result['settings']['candidates_per_ranker']} candidates per ranker",
        *(
            [f"  ({corpus['requested']:,} were asked for: that is all the unique real text in the evaluation data)"]
            if corpus["chunks"] < corpus["requested"]
            else []
        ),
        f"build: {build_s['total']:.1f} s (reading and splitting text {build_s['corpus']:.1f} s, MiniLM embeddings "
        f"{build_s['embed']:.1f} s = {_fmt(result['embed_chunks_per_s'], 0)} chunks/s, catalog + Chroma writes "
        f"{build_s['index']:.1f} s)",
        f"stores: catalog {result['settings'].get('catalog', 'sqlite')}, vectors "
        f"{result['settings'].get('vector_store', 'chroma')}",
        f"{result['questions']} SQuAD questions, each timed once after {result['warm_up_queries']} warm-up queries; "
        "the indexed path first, then the naive one",
        "",
        f"{'latency (ms)':<30}{'hybrid p50':>11}{'p95':>9}{'naive p50':>12}{'p95':>9}   naive baseline",
    ]
    on_postgres = result["settings"].get("catalog") == "database"
    full_text = "PostgreSQL tsvector" if on_postgres else "FTS5 BM25"
    for stage, ours in indexed.items():
        base = naive.get(stage)
        label = _LABELS[stage] + (f" ({full_text})" if stage == "lexical" else "")
        base_cells = f"{base['p50']:>12.1f}{base['p95']:>9.1f}" if base else f"{'-':>12}{'-':>9}"
        lines.append(f"  {label:<28}{ours['p50']:>11.1f}{ours['p95']:>9.1f}{base_cells}   {_BASELINE[stage]}")
    verdict = {True: "met", False: "NOT met", None: "not judged (fewer chunks)"}[result["target_met"]]
    lines += [
        f"target: retrieval p50 under {result['target_p50_ms']:.0f} ms at {result['target_chunks']:,} chunks: "
        f"{verdict}; p50 {total:.1f} ms at {corpus['chunks']:,} chunks, question embedding included as ask times it",
        "",
        f"dense: share of the exact top-{result['settings']['candidates_per_ranker']} that Chroma's HNSW returns: "
        f"{_fmt(result['dense_recall_vs_exact'])}",
        f"hybrid: share of the naive top-{result['settings']['top_k']} that the indexed top-"
        f"{result['settings']['top_k']} holds: {_fmt(result['hybrid_overlap_with_naive'])}",
        f"gold answer in the top-{result['settings']['top_k']} ({result['answerable']} answerable questions): "
        f"indexed {_fmt(result['gold_in_top_k'])}, naive {_fmt(result['gold_in_top_k_naive'])}",
        f"a chunk's own text retrieves it ({own['queries']} chunks): indexed {_fmt(own['indexed'])}, "
        f"naive {_fmt(own['naive'])}",
        f"machine: {machine['cpus']} CPUs, {machine['threads']} threads, load average {machine['load_before']} "
        f"before, {machine['load_after']} after",
        "",
        "notes:",
        "  Chunks are unique sentences of SQuAD paragraphs and real documents (../shared/eval), embedded with MiniLM",
        "  and stored as ingestion stores them, but not redacted. The product's chunks are about 1,000 characters,",
        "  so 10,000 of them hold more text than these and give BM25 longer posting lists.",
        "  Dense search is Chroma's HNSW query filtered to the caller's collections, as `ask` runs it. Other work on",
        "  the machine inflates these figures: torch's two threads wait for each other when a core is taken.",
    ]
    return "\n".join(line.rstrip() for line in lines)
