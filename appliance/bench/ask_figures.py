"""Figures from the benchmark's runs: recall@k per retrieval mode, refusals, F1, verbatim rate, latency."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.answer.answering import Answer
from appliance.answer.retrieval import Mode as RetrievalMode
from appliance.app import Appliance
from appliance.bench.qa_datasets import SEC, SQUAD, SecItem, SquadItem
from appliance.bench.qa_scoring import answer_text, best_f1, contains_gold, latency_summary, rate, verbatim_counts
from appliance.bench.stats import percentile

RETRIEVAL_MODES: tuple[RetrievalMode, ...] = ("hybrid", "dense", "lexical")


@dataclass
class Asked:
    """What one question produced: the RAG answer, model-call figures, retrieval by mode, the direct answer."""

    answer: Answer
    model_ms: float
    model_calls: int
    completion_tokens: int
    retrieved: dict[str, list[tuple[str, str]]]  # mode -> [(document file name, chunk text)]
    direct: str | None = None
    direct_ms: float | None = None


def retrieval_rates(
    items: Sequence[SquadItem], runs: Sequence[Asked], forms: Sequence[tuple[str, ...]]
) -> dict[str, dict[str, float | None]]:
    """Per mode: answer-in-chunk recall (answerable) and gold-paragraph recall (answerable, unanswerable)."""
    out: dict[str, dict[str, float | None]] = {}
    answerable = [(i, r, f) for i, r, f in zip(items, runs, forms, strict=True) if not i.impossible]
    unanswerable = [(i, r) for i, r in zip(items, runs, strict=True) if i.impossible]
    for mode in RETRIEVAL_MODES:
        text_hits = sum(any(g in text for _, text in r.retrieved[mode] for g in f) for _, r, f in answerable)
        para_hits = sum(any(name == i.paragraph for name, _ in r.retrieved[mode]) for i, r, _ in answerable)
        adversarial = sum(any(name == i.paragraph for name, _ in r.retrieved[mode]) for i, r in unanswerable)
        out[mode] = {
            "answer_in_chunk": rate(text_hits, len(answerable)),
            "gold_paragraph": rate(para_hits, len(answerable)),
            "gold_paragraph_unanswerable": rate(adversarial, len(unanswerable)),
        }
    return out


def answer_figures(
    items: Sequence[SquadItem], runs: Sequence[Asked], forms: Sequence[tuple[str, ...]]
) -> dict[str, dict[str, Any]]:
    """Refusals, F1 (RAG and direct) and 'gold in answer' per question type."""
    groups: dict[str, dict[str, Any]] = {}
    for label, impossible in (("answerable", False), ("unanswerable", True)):
        chosen = [(r, f) for i, r, f in zip(items, runs, forms, strict=True) if i.impossible == impossible]
        refused = sum(r.answer.refused for r, _ in chosen)
        figures: dict[str, Any] = {
            "questions": len(chosen),
            "refused": refused,
            "refusal_rate": rate(refused, len(chosen)),
        }
        if not impossible:
            scored = [0.0 if r.answer.refused else best_f1(answer_text(r.answer.answer), f) for r, f in chosen]
            inside = sum(not r.answer.refused and contains_gold(answer_text(r.answer.answer), f) for r, f in chosen)
            direct = [best_f1(r.direct, f) for r, f in chosen if r.direct is not None]
            figures |= {
                "f1": round(sum(scored) / len(scored), 4) if scored else None,
                "gold_in_answer": rate(inside, len(chosen)),
                "f1_direct": round(sum(direct) / len(direct), 4) if direct else None,
                "direct_questions": len(direct),
            }
        groups[label] = figures
    return groups


def evidence_hit_at_1(
    items: Sequence[SquadItem], runs: Sequence[Asked], forms: Sequence[tuple[str, ...]]
) -> float | None:
    """Share of answerable questions whose first cited sentence contains the gold answer (a refusal misses)."""
    hits = total = 0
    for item, run, item_forms in zip(items, runs, forms, strict=True):
        if item.impossible:
            continue
        total += 1
        citations = run.answer.citations
        hits += bool(not run.answer.refused and citations and contains_gold(citations[0]["quote"], item_forms))
    return rate(hits, total)


def gold_lost(
    app: Appliance, items: Sequence[SquadItem], forms: Sequence[tuple[str, ...]], doc_ids: Mapping[str, str]
) -> int:
    """Answerable questions none of whose gold forms occurs in its own stored (redacted) paragraph."""
    lost = 0
    for item, item_forms in zip(items, forms, strict=True):
        record = app.catalog.active_document(SQUAD, doc_ids.get(item.paragraph, ""))
        stored = app.catalog.document_text(record.row_id) if record else ""
        lost += not item.impossible and not any(f in stored for f in item_forms)
    return lost


def timing_figures(runs: Sequence[Asked]) -> dict[str, Any]:
    """Stage latencies, the measured model-call share, and the direct mode's latency."""
    totals = [r.answer.timings_ms.get("total", 0.0) for r in runs]
    model = [r.model_ms for r in runs]
    tokens = sum(r.completion_tokens for r in runs)
    direct = [r.direct_ms for r in runs if r.direct_ms is not None]
    return {
        "latency_ms": latency_summary([r.answer.timings_ms for r in runs]),
        "model_ms": {"p50": round(percentile(model, 50), 1), "p95": round(percentile(model, 95), 1)},
        "outside_model_share": round(1 - sum(model) / sum(totals), 4) if sum(totals) else None,
        "model_calls_per_question": round(sum(r.model_calls for r in runs) / len(runs), 2) if runs else 0.0,
        "completion_tokens_per_question": round(tokens / len(runs), 1) if runs else 0.0,
        "direct_latency_ms": {"p50": round(percentile(direct, 50), 1), "p95": round(percentile(direct, 95), 1)},
    }


def sec_group(items: Sequence[SecItem], runs: Sequence[Asked], app: Appliance) -> dict[str, Any]:
    """Document recall@k, refusals, verbatim rate and 'cites a gold PDF' for a group of questions."""
    hits = sum(any(n in i.gold_pdfs for n, _ in r.retrieved["hybrid"]) for i, r in zip(items, runs, strict=True))
    dense = sum(any(n in i.gold_pdfs for n, _ in r.retrieved["dense"]) for i, r in zip(items, runs, strict=True))
    refused = sum(r.answer.refused for r in runs)
    cites_gold = sum(
        any(Path(c["doc_id"]).name in i.gold_pdfs for c in r.answer.citations) for i, r in zip(items, runs, strict=True)
    )
    exact, cited = verbatim_counts(app, SEC, (c for r in runs for c in r.answer.citations))
    return {
        "questions": len(items),
        "doc_recall_at_k": rate(hits, len(items)),
        "doc_recall_at_k_dense": rate(dense, len(items)),
        "refusal_rate": rate(refused, len(items)),
        "cites_gold_pdf": rate(cites_gold, len(items) - refused),
        "verbatim_rate": rate(exact, cited),
        "citations": cited,
    }


def grouped(
    items: Sequence[SecItem], runs: Sequence[Asked], app: Appliance, key: Callable[[SecItem], str]
) -> dict[str, dict[str, Any]]:
    """_sec_group for each value of `key`, in order of first appearance."""
    out = {}
    for value in dict.fromkeys(key(i) for i in items):
        pairs = [(i, r) for i, r in zip(items, runs, strict=True) if key(i) == value]
        out[value] = sec_group([i for i, _ in pairs], [r for _, r in pairs], app)
    return out
