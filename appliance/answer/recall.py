"""Recall: the most relevant candidate sentences, and the model's choice among them, verified.

Recall is a choice among verbatim candidate sentences (the model picks ids under a JSON schema),
so every quote is found in its source by construction and checked again. When the model picks
nothing usable, the most relevant sentences are taken (`extractive`); when nothing passes the
relevance threshold there is no evidence, and the answer will be a refusal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from appliance.answer.citations import Evidence, candidate_sentences, locate_quote
from appliance.answer.prompts import recall_messages
from appliance.answer.retrieval import Retrieved, retrieve
from appliance.app import Appliance

_WORD = re.compile(r"[^\W_]+")

EvidenceKind = Literal["recalled", "extractive", "none"]
Abstention = Literal["model", "threshold"]


@dataclass
class Recalled:
    """The verified evidence for one question, most relevant first, and how it was found."""

    chosen: list[Evidence]
    kind: EvidenceKind
    dropped: int
    timed_out: bool
    abstention: Abstention = "threshold"


def recall_evidence(
    app: Appliance,
    question: str,
    question_vector: Sequence[float],
    hits: list[Retrieved],
    adapter: Path | None = None,
    model_abstains: bool = False,
) -> Recalled:
    """Rank the retrieved chunks' sentences, let the model pick among the relevant ones, fall back to the best.

    Which rule decides a refusal: the threshold (no sentence relevant enough; an empty pick falls
    back to the most relevant sentences), or, with an adapter the gate approved for abstention
    (`model_abstains`), the model itself: its empty pick is a refusal.
    """
    settings = app.settings.answering
    relevant = relevant_candidates(app, question, question_vector, hits)
    chosen, dropped, timed_out, picked_none = _recall(app, question, relevant, settings.max_quotes, adapter)
    rank = {(e.chunk.document_row, e.start): i for i, e in enumerate(relevant)}
    chosen.sort(key=lambda e: rank.get((e.chunk.document_row, e.start), len(rank)))  # most relevant first
    rule: Abstention = "model" if model_abstains else "threshold"
    kind: EvidenceKind = "recalled"
    if not chosen and not (model_abstains and picked_none):
        chosen, kind = relevant[: settings.max_quotes], "extractive"
    if not chosen:
        kind = "none"
    return Recalled(chosen, kind, dropped, timed_out, rule)


def retrieve_for_recall(
    app: Appliance, question: str, collections: Sequence[str], top_k: int | None = None
) -> tuple[list[float], list[Retrieved]]:
    """The question's vector (embedded once: for dense search and for ranking sentences) and its hits.

    `ask` and the evidence training set both retrieve through this, so training sees the hits
    users' questions get.
    """
    vector = app.embedder.embed([question])[0]
    hits = retrieve(
        question,
        catalog=app.catalog,
        vectors=app.vectors,
        embedder=app.embedder,
        collections=list(collections),
        top_k=top_k or app.settings.answering.top_k,
        query_vector=vector,
    )
    return vector, hits


def relevant_candidates(
    app: Appliance, question: str, question_vector: Sequence[float], hits: list[Retrieved]
) -> list[Evidence]:
    """The sentences the model chooses evidence among: ranked, above the threshold, at most max_candidates.

    The evidence training set builds its candidate lists with this too, so the model is trained on
    exactly the lists it is shown at answer time.
    """
    settings = app.settings.answering
    ranked = _rank_candidates(app, question, question_vector, candidate_sentences([h.chunk for h in hits]))
    return [c for c, score in ranked if score >= settings.min_relevance][: settings.max_candidates]


def _rank_candidates(
    app: Appliance, question: str, query: Sequence[float], candidates: list[Evidence]
) -> list[tuple[Evidence, float]]:
    """Relevance of each sentence: cosine similarity of embeddings plus a lexical-overlap bonus."""
    if not candidates:
        return []
    rest = app.sentence_vectors.embed([c.text for c in candidates])
    question_words = {w for w in _WORD.findall(question.lower()) if len(w) > 2}
    scored = []
    for candidate, vector in zip(candidates, rest, strict=True):
        cosine = sum(a * b for a, b in zip(query, vector, strict=True))
        words = {w for w in _WORD.findall(candidate.text.lower()) if len(w) > 2}
        overlap = len(question_words & words) / len(question_words) if question_words else 0.0
        scored.append((candidate, cosine + app.settings.answering.lexical_weight * overlap))
    return sorted(scored, key=lambda item: -item[1])


def pick_schema(candidates: int, max_quotes: int) -> dict[str, Any]:
    """The JSON the model picks evidence under: ids of numbered candidates, at most max_quotes of them."""
    ids = list(range(1, candidates + 1))
    return {
        "type": "object",
        "properties": {"ids": {"type": "array", "items": {"type": "integer", "enum": ids}, "maxItems": max_quotes}},
        "required": ["ids"],
    }


def _recall(
    app: Appliance, question: str, candidates: list[Evidence], max_quotes: int, adapter: Path | None
) -> tuple[list[Evidence], int, bool, bool]:
    """The model picks candidate ids under a schema; each pick is re-located verbatim in its chunk.

    Returns the picks, how many were dropped, whether the time limit cut the model off, and whether
    the model answered that no candidate answers (an empty list, not a broken or cut-off reply).
    """
    if not candidates:
        return [], 0, False, False
    result = app.generator.chat(
        recall_messages(question, [c.text for c in candidates]),
        max_tokens=48,
        json_schema=pick_schema(len(candidates), max_quotes),
        deadline_seconds=app.settings.answering.recall_seconds,
        adapter=adapter,
    )
    if result.timed_out:  # a partial pick is no pick: the extractive fallback answers instead
        return [], 0, True, False
    try:
        picked = json.loads(result.text).get("ids", [])
    except (json.JSONDecodeError, AttributeError):
        return [], 0, False, False
    if picked == []:
        return [], 0, False, True
    chosen: list[Evidence] = []
    dropped = 0
    for number in dict.fromkeys(p for p in picked if isinstance(p, int)):
        if not 1 <= number <= len(candidates):
            dropped += 1
            continue
        located = locate_quote(candidates[number - 1].text, candidates[number - 1].chunk)
        if located is None:
            dropped += 1
        else:
            chosen.append(located)
    return chosen[:max_quotes], dropped, False, False
