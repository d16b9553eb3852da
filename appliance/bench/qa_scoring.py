"""Scoring answers and timings: SQuAD F1, gold containment, percentiles, rates, verbatim citations, latency."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from appliance.app import Appliance
from appliance.bench.stats import percentile

STAGES = ("redact", "retrieve", "recall", "generate", "total")
_MARKER = re.compile(r"\[\d+\]")
_CURLY = str.maketrans("", "", "\u201c\u201d\u2018\u2019")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation (lower case, no punctuation, no articles, single spaces), so F1 is comparable."""
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 between a prediction and one gold answer."""
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def best_f1(prediction: str, golds: Iterable[str]) -> float:
    """The best F1 over the gold answers, as SQuAD scores several annotators."""
    return max((token_f1(prediction, gold) for gold in golds), default=0.0)


def answer_text(answer: str) -> str:
    """The answer without citation markers and curly quotes: what a reader takes as the answer."""
    return " ".join(_MARKER.sub(" ", answer).translate(_CURLY).split())


def contains_gold(text: str, golds: Iterable[str]) -> bool:
    """Whether a normalised gold answer occurs in the normalised text (word-aligned)."""
    padded = f" {normalize_answer(text)} "
    return any(normalize_answer(g) and f" {normalize_answer(g)} " in padded for g in golds)


def rate(hits: int, total: int) -> float | None:
    """hits / total, None when there is nothing to count (shown as n/a)."""
    return round(hits / total, 4) if total else None


def verbatim_counts(app: Appliance, collection: str, citations: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """(quotes equal to the stored document text at their offsets, citations): the evidence guarantee."""
    exact = total = 0
    for citation in citations:
        total += 1
        record = app.catalog.active_document(collection, citation["doc_id"])
        if record is not None:
            stored = app.catalog.document_text(record.row_id)
            exact += stored[citation["start"] : citation["end"]] == citation["quote"]
    return exact, total


def latency_summary(timings: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """p50, p95 and share of the summed total for each stage of `ask`."""
    grand_total = sum(t.get("total", 0.0) for t in timings) or 1.0
    summary = {}
    for stage in STAGES:
        values = [t.get(stage, 0.0) for t in timings]
        summary[stage] = {
            "p50": round(percentile(values, 50), 1),
            "p95": round(percentile(values, 95), 1),
            "share": round(sum(values) / grand_total, 4),
        }
    return summary
