"""Question -> redact -> retrieve -> recall -> verify -> compose -> answer with citations, audited.

The stages live beside this module: retrieval.py, recall.py (the model's choice of verified
quotes), compose.py (the answer from those quotes), direct.py (no retrieval). When nothing
passes the relevance threshold the answer is a refusal, never a guess.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from appliance.actors import Actor
from appliance.answer.compose import compose, model_wrote_answer
from appliance.answer.direct import answer_directly
from appliance.answer.recall import Abstention, EvidenceKind, recall_evidence, retrieve_for_recall
from appliance.answer.retrieval import Retrieved
from appliance.app import Appliance
from appliance.audit import events as audit_events
from appliance.finetune.adapters import ServedAdapter
from appliance.store.collection_names import DEFAULT_COLLECTION

REFUSAL = "I could not find this in the documents."

Mode = Literal["rag", "direct"]


@dataclass
class Answer:
    """Everything `appliance ask --json` prints."""

    answer: str
    mode: Mode
    evidence: EvidenceKind
    refused: bool
    citations: list[dict[str, Any]] = field(default_factory=list)
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    dropped_quotes: int = 0
    recall_timed_out: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)
    model: str = ""
    adapter: str | None = None
    adapter_sha256: str | None = None
    abstention: Abstention = "threshold"  # which rule decides a refusal: the relevance threshold or the model
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
    adapter: ServedAdapter | None = None,
) -> Answer:
    """Answer a question from the documents of `collections` (or, in direct mode, without them); audited.

    With `adapter` (resolved and allowed by the caller: finetune/adapters.py), the model applies
    that LoRA adapter for every step of this answer; the answer and its event name it.
    """
    answer = _answer(app, question, collections=collections, mode=mode, top_k=top_k, on_token=on_token, adapter=adapter)
    started = time.perf_counter()
    recorded = app.audit.record(actor, audit_events.ASK, details=_audit_details(app, answer, collections))
    answer.audit_seq = recorded.seq
    answer.timings_ms["audit"] = round((time.perf_counter() - started) * 1000, 2)
    return answer


def _audit_details(app: Appliance, answer: Answer, collections: Sequence[str]) -> dict[str, Any]:
    """The ask event: the answer is redacted again when the model wrote it (quotes are stored text already)."""
    text = answer.answer
    if answer.mode == "direct" or (answer.citations and model_wrote_answer(app)):
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
        adapter_sha256=answer.adapter_sha256,
        timings_ms=answer.timings_ms,
        recall_timed_out=answer.recall_timed_out,
        abstention=answer.abstention,
    )


def _answer(
    app: Appliance,
    question: str,
    *,
    collections: Sequence[str],
    mode: Mode,
    top_k: int | None,
    on_token: Callable[[str], None] | None,
    adapter: ServedAdapter | None = None,
) -> Answer:
    clock = _Clock()
    path = adapter.path if adapter else None
    redacted = app.redactor.redact_question(question, collections[0])[0] if collections else question
    clock.lap("redact")
    answer = Answer(REFUSAL, mode, "none", refused=True, model=app.generator.model_id, question_redacted=redacted)
    if adapter is not None:
        answer.adapter, answer.adapter_sha256 = adapter.name, adapter.sha256
    if mode == "direct":
        answer.answer, answer.refused = answer_directly(app, redacted, on_token, path), False
        clock.lap("generate")
        answer.timings_ms = clock.done()
        return answer
    question_vector, hits = retrieve_for_recall(app, redacted, collections, top_k)
    answer.retrieved = [_retrieved_json(h) for h in hits]
    clock.lap("retrieve")
    evidence = recall_evidence(app, redacted, question_vector, hits, path, bool(adapter and adapter.abstains))
    answer.abstention = evidence.abstention
    answer.evidence, answer.dropped_quotes, answer.recall_timed_out = (
        evidence.kind,
        evidence.dropped,
        evidence.timed_out,
    )
    clock.lap("recall")
    if evidence.chosen:
        answer.answer, answer.citations = compose(app, redacted, evidence.chosen, on_token, path)
        answer.refused = False
    clock.lap("generate")
    answer.timings_ms = clock.done()
    return answer


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
