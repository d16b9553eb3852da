"""Question -> redact -> retrieve -> recall -> verify -> generate -> answer with citations.

Recall is a choice among verbatim candidate sentences (the model picks ids under a JSON
schema), so every quote is found in its source by construction and checked again. When
the model picks nothing usable, the most relevant sentences are taken (`extractive`);
when nothing passes the relevance threshold the answer is a refusal, never a guess.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from appliance import audit_events
from appliance.actors import Actor
from appliance.app import Appliance
from appliance.citations import Evidence, candidate_sentences, locate_quote
from appliance.collection_names import DEFAULT_COLLECTION
from appliance.prompts import answer_messages, direct_messages, recall_messages
from appliance.retrieval import Retrieved, retrieve

REFUSAL = "I could not find this in the documents."
_MARKER = re.compile(r"\[(\d+)\]")
_WORD = re.compile(r"[^\W_]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")

Mode = Literal["rag", "direct"]


@dataclass
class Answer:
    """Everything `appliance ask --json` prints."""

    answer: str
    mode: Mode
    evidence: Literal["recalled", "extractive", "none"]
    refused: bool
    citations: list[dict[str, Any]] = field(default_factory=list)
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    dropped_quotes: int = 0
    recall_timed_out: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)
    model: str = ""
    adapter: str | None = None
    audit_seq: int | None = None
    question_redacted: str = ""

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "question_redacted"}
        return data


def ask(
    app: Appliance,
    question: str,
    *,
    actor: Actor,
    collections: Sequence[str],
    mode: Mode = "rag",
    top_k: int | None = None,
    on_token: Callable[[str], None] | None = None,
) -> Answer:
    """Answer a question from the documents of `collections` (or, in direct mode, without them); audited."""
    answer = _answer(app, question, collections=collections, mode=mode, top_k=top_k, on_token=on_token)
    started = time.perf_counter()
    recorded = app.audit.record(actor, audit_events.ASK, details=_audit_details(app, answer, collections))
    answer.audit_seq = recorded.seq
    answer.timings_ms["audit"] = round((time.perf_counter() - started) * 1000, 2)
    return answer


def _audit_details(app: Appliance, answer: Answer, collections: Sequence[str]) -> dict[str, Any]:
    """The ask event: the answer is redacted again when the model wrote it (quotes are stored text already)."""
    text = answer.answer
    if answer.mode == "direct" or (answer.citations and _compose_with_model(app)):
        text = app.redactor.redact_question(text, collections[0] if collections else DEFAULT_COLLECTION)[0]
    return audit_events.ask_details(
        question=answer.question_redacted,
        answer=text,
        mode=answer.mode,
        collections=collections,
        evidence=answer.evidence,
        refused=answer.refused,
        retrieved=answer.retrieved,
        citations=answer.citations,
        dropped_quotes=answer.dropped_quotes,
        model=answer.model,
        model_sha256=app.generator.model_sha256,
        adapter=answer.adapter,
        adapter_sha256=None,
        timings_ms=answer.timings_ms,
        recall_timed_out=answer.recall_timed_out,
    )


def _answer(
    app: Appliance,
    question: str,
    *,
    collections: Sequence[str],
    mode: Mode,
    top_k: int | None,
    on_token: Callable[[str], None] | None,
) -> Answer:
    settings = app.settings.answering
    clock = _Clock()
    redacted = app.redactor.redact_question(question, collections[0])[0] if collections else question
    clock.lap("redact")
    generator = app.generator
    if mode == "direct":
        result = generator.chat(
            direct_messages(redacted), max_tokens=app.settings.generation.max_answer_tokens, on_token=on_token
        )
        clock.lap("generate")
        return Answer(
            answer=result.text.strip(),
            mode="direct",
            evidence="none",
            refused=False,
            timings_ms=clock.done(),
            model=generator.model_id,
            question_redacted=redacted,
        )
    question_vector = app.embedder.embed([redacted])[0]  # once: for dense search and for ranking sentences
    hits = retrieve(
        redacted,
        catalog=app.catalog,
        vectors=app.vectors,
        embedder=app.embedder,
        collections=list(collections),
        top_k=top_k or settings.top_k,
        query_vector=question_vector,
    )
    clock.lap("retrieve")
    ranked = _rank_candidates(app, redacted, question_vector, candidate_sentences([h.chunk for h in hits]))
    relevant = [c for c, score in ranked if score >= settings.min_relevance][: settings.max_candidates]
    chosen, dropped, timed_out = _recall(app, redacted, relevant, settings.max_quotes)
    rank = {(e.chunk.document_row, e.start): i for i, e in enumerate(relevant)}
    chosen.sort(key=lambda e: rank.get((e.chunk.document_row, e.start), len(rank)))  # most relevant first
    kind: Literal["recalled", "extractive", "none"] = "recalled"
    if not chosen:
        chosen, kind = relevant[: settings.max_quotes], "extractive"
    if not chosen:
        kind = "none"
    clock.lap("recall")
    answer = Answer(
        answer=REFUSAL,
        mode="rag",
        evidence=kind,
        refused=not chosen,
        dropped_quotes=dropped,
        recall_timed_out=timed_out,
        retrieved=[_retrieved_json(h) for h in hits],
        model=generator.model_id,
        question_redacted=redacted,
    )
    if chosen:
        if not _compose_with_model(app):
            chosen = chosen[:1]  # the answer is the best quote itself, cited once
        answer.citations = [_citation_json(n, e) for n, e in enumerate(chosen, start=1)]
        if _compose_with_model(app):
            result = generator.chat(
                answer_messages(redacted, [e.text for e in chosen], settings.instructions),
                max_tokens=app.settings.generation.max_answer_tokens,
                on_token=on_token,
            )
            answer.answer = _grounded(_keep_valid_markers(result.text.strip(), len(chosen)), chosen)
            if not _MARKER.search(answer.answer):
                answer.answer += " " + " ".join(f"[{n}]" for n in range(1, len(chosen) + 1))
        else:
            answer.answer = _quoted_answer(chosen)
            if on_token:
                on_token(answer.answer)
    clock.lap("generate")
    answer.timings_ms = clock.done()
    return answer


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


def _recall(
    app: Appliance, question: str, candidates: list[Evidence], max_quotes: int
) -> tuple[list[Evidence], int, bool]:
    """The model picks candidate ids under a schema; each pick is re-located verbatim in its chunk.

    Returns the picks, how many were dropped, and whether the time limit cut the model off.
    """
    if not candidates:
        return [], 0, False
    ids = list(range(1, len(candidates) + 1))
    schema = {
        "type": "object",
        "properties": {"ids": {"type": "array", "items": {"type": "integer", "enum": ids}, "maxItems": max_quotes}},
        "required": ["ids"],
    }
    result = app.generator.chat(
        recall_messages(question, [c.text for c in candidates]),
        max_tokens=48,
        json_schema=schema,
        deadline_seconds=app.settings.answering.recall_seconds,
    )
    if result.timed_out:  # a partial pick is no pick: the extractive fallback answers instead
        return [], 0, True
    try:
        picked = json.loads(result.text).get("ids", [])
    except (json.JSONDecodeError, AttributeError):
        return [], 0, False
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
    return chosen[:max_quotes], dropped, False


def _compose_with_model(app: Appliance) -> bool:
    """Whether the model writes the answer (see the `answering.compose` setting)."""
    compose = app.settings.answering.compose
    return compose == "model" or (compose == "auto" and app.settings.generation.model_path is not None)


def _quoted_answer(quotes: Sequence[Evidence]) -> str:
    """The answer stated by the evidence itself: verbatim quotes with their markers."""
    return " ".join(f"\u201c{q.text}\u201d [{n}]" for n, q in enumerate(quotes, start=1))


def _grounded(text: str, quotes: Sequence[Evidence]) -> str:
    """The model's answer if every number in it is in the quotes, else the quotes themselves.

    A small model sometimes adds a date or an amount that no quote contains; an answer must
    never state a figure the evidence does not, so such an answer is replaced by the evidence.
    """
    evidence = " ".join(q.text for q in quotes)
    invented = [n for n in _NUMBER.findall(_MARKER.sub(" ", text)) if n not in evidence]
    if text and not invented:
        return text
    return _quoted_answer(quotes)


def _keep_valid_markers(text: str, count: int) -> str:
    """Remove [n] markers that point at no verified quote."""
    return _MARKER.sub(lambda m: m.group(0) if 1 <= int(m.group(1)) <= count else "", text).strip()


def _citation_json(n: int, evidence: Evidence) -> dict[str, Any]:
    chunk = evidence.chunk
    return {
        "n": n,
        "doc_id": chunk.doc_id,
        "version": chunk.version,
        "source": chunk.source,
        "page": chunk.page,
        "start": evidence.start,
        "end": evidence.end,
        "quote": evidence.text,
    }


def _retrieved_json(hit: Retrieved) -> dict[str, Any]:
    return {
        "doc_id": hit.chunk.doc_id,
        "version": hit.chunk.version,
        "chunk_id": hit.chunk.chunk_id,
        "text": hit.chunk.text,
        "score": round(hit.score, 5),
    }


class _Clock:
    """Per-stage wall time in milliseconds."""

    def __init__(self) -> None:
        self._start = self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = round((now - self._last) * 1000, 1)
        self._last = now

    def done(self) -> dict[str, float]:
        laps = {stage: self.laps.get(stage, 0.0) for stage in ("redact", "retrieve", "recall", "generate")}
        laps["total"] = round((time.perf_counter() - self._start) * 1000, 1)
        return laps
