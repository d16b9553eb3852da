"""The question-answering benchmark: retrieval recall, verbatim citations, refusals, F1 and latency.

- SQuAD 2.0 dev subset: every paragraph becomes one .txt document in a fresh home; answerable
  questions measure recall@k and answer F1, unanswerable ones measure refusals.
- Docugami SEC 10-Q (optional, slow): the included PDFs, document-level recall@k per question type.
- With an adapter, the same questions are asked again with it, in the same homes and run, so base
  and adapter are compared on equal terms (the adapter's figures sit beside the base's).

The generator is wrapped in a timer, so the share of a question spent outside model calls is
measured rather than guessed from the stage timings. This module runs the questions; the data sets
are read by `qa_datasets`, answers scored by `qa_scoring`, figures computed by `bench_ask_figures`
and printed by `bench_ask_report`.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from appliance.actors import OPERATOR_ROLE, Actor
from appliance.answer.answering import ask
from appliance.answer.retrieval import Mode as RetrievalMode
from appliance.answer.retrieval import retrieve
from appliance.app import Appliance
from appliance.bench.ask_figures import (
    RETRIEVAL_MODES,
    Asked,
    answer_figures,
    evidence_hit_at_1,
    gold_lost,
    grouped,
    retrieval_rates,
    sec_group,
    timing_figures,
)
from appliance.bench.ask_report import format_report
from appliance.bench.qa_datasets import (
    SEC,
    SQUAD,
    SquadItem,
    load_docugami,
    load_squad,
    select_balanced,
    select_squad,
)
from appliance.bench.qa_scoring import rate, verbatim_counts
from appliance.build import Models, build
from appliance.finetune.adapters import ServedAdapter
from appliance.ports import GenerationResult, Generator
from appliance.settings import Settings

__all__ = ["TimedGenerator", "format_report", "run_ask_bench"]

Progress = Callable[[str], None]

BENCH_ACTOR = Actor("bench:ask", OPERATOR_ROLE)


class TimedGenerator:
    """The real generator, with the time and tokens of its calls counted since the last reset."""

    def __init__(self, inner: Generator) -> None:
        self._inner = inner
        self.seconds = 0.0
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    @property
    def model_id(self) -> str:
        return self._inner.model_id

    @property
    def model_sha256(self) -> str:
        return self._inner.model_sha256

    def reset(self) -> None:
        """Start counting for the next question."""
        self.seconds, self.calls, self.prompt_tokens, self.completion_tokens = 0.0, 0, 0, 0

    def chat(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        json_schema: Mapping[str, Any] | None = None,
        on_token: Callable[[str], None] | None = None,
        deadline_seconds: float | None = None,
        adapter: Path | None = None,
    ) -> GenerationResult:
        """Delegate, timing the whole call (prompt evaluation included)."""
        started = time.perf_counter()
        result = self._inner.chat(
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            json_schema=json_schema,
            on_token=on_token,
            deadline_seconds=deadline_seconds,
            adapter=adapter,
        )
        self.seconds += time.perf_counter() - started
        self.calls += 1
        self.prompt_tokens += result.prompt_tokens
        self.completion_tokens += result.completion_tokens
        return result

    def check_adapter(self, path: Path) -> None:
        self._inner.check_adapter(path)

    def warm_up(self) -> None:
        self._inner.warm_up()


def _retrieved_pairs(app: Appliance, question: str, collection: str, mode: RetrievalMode) -> list[tuple[str, str]]:
    """(document file name, chunk text) of the top_k chunks one retrieval mode returns."""
    hits = retrieve(
        question,
        catalog=app.catalog,
        vectors=app.vectors,
        embedder=app.embedder,
        collections=[collection],
        top_k=app.settings.answering.top_k,
        mode=mode,
    )
    return [(Path(h.chunk.doc_id).name, h.chunk.text) for h in hits]


def ask_one(
    app: Appliance,
    timed: TimedGenerator,
    question: str,
    collection: str,
    *,
    direct: bool,
    adapter: ServedAdapter | None = None,
) -> Asked:
    """Ask in RAG mode (model calls timed), retrieve per mode, and optionally ask in direct mode."""
    timed.reset()
    answer = ask(app, question, actor=BENCH_ACTOR, collections=[collection], adapter=adapter)
    asked = Asked(answer, round(timed.seconds * 1000, 1), timed.calls, timed.completion_tokens, {})
    asked.retrieved["hybrid"] = [(Path(r["doc_id"]).name, r["text"]) for r in answer.retrieved]
    for mode in RETRIEVAL_MODES[1:]:
        asked.retrieved[mode] = _retrieved_pairs(app, answer.question_redacted, collection, mode)
    if direct:
        direct_answer = ask(app, question, actor=BENCH_ACTOR, collections=[collection], mode="direct")
        asked.direct, asked.direct_ms = direct_answer.answer, direct_answer.timings_ms.get("total", 0.0)
    return asked


def _ingest(app: Appliance, paths: Sequence[Path], collection: str, say: Progress) -> dict[str, Any]:
    """Ingest into the fresh home and time it; the file name maps to its doc_id."""
    from ingestion.pipeline import ingest_paths

    def step(event: Any) -> None:
        if event.stage in {"ingested", "failed"} and (event.file_index % 10 == 0 or event.file_count <= 20):
            say(f"  ingest {event.file_index}/{event.file_count} {Path(event.path).name}: {event.stage}")

    started = time.perf_counter()
    report = ingest_paths(app, paths, collection=collection, actor=BENCH_ACTOR, progress=step)
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "documents": len(report.ingested),
        "chunks": sum(d.chunks for d in report.ingested),
        "failed": report.failed,
        "doc_ids": {Path(d.doc_id).name: d.doc_id for d in report.ingested},
    }


def _ask_all(
    app: Appliance,
    timed: TimedGenerator,
    questions: Sequence[str],
    collection: str,
    say: Progress,
    direct: Sequence[bool] | None = None,
    adapter: ServedAdapter | None = None,
) -> list[Asked]:
    """Ask every question, reporting progress every 10."""
    results = []
    label = f" with adapter {adapter.name} v{adapter.version}" if adapter else ""
    for index, question in enumerate(questions, start=1):
        direct_too = bool(direct and direct[index - 1])
        results.append(ask_one(app, timed, question, collection, direct=direct_too, adapter=adapter))
        if index % 10 == 0 or index == len(questions):
            say(f"  asked {index}/{len(questions)}{label}")
    return results


def _gold_forms(app: Appliance, golds: Sequence[str]) -> tuple[str, ...]:
    """Each gold redacted as the documents were (names -> pseudonyms), then the raw gold as a fallback."""
    redacted = app.redactor.redact_texts(list(golds), SQUAD)[0] if golds else []
    return tuple(dict.fromkeys([*redacted, *golds]))


def run_squad(
    settings: Settings,
    models: Models,
    squad_path: Path,
    *,
    limit: int | None,
    paragraph_limit: int | None,
    direct_limit: int | None,
    say: Progress,
    adapter: ServedAdapter | None = None,
    article: str | None = None,
) -> dict[str, Any]:
    """The SQuAD part in a fresh home: ingest the paragraphs, ask, score against redacted golds."""
    paragraphs, all_items = load_squad(squad_path, paragraph_limit, article)
    items = select_squad(all_items, limit)
    answerable_seen = 0
    direct = []
    for item in items:  # direct mode on the first `direct_limit` answerable questions
        direct.append(not item.impossible and (direct_limit is None or answerable_seen < direct_limit))
        answerable_seen += not item.impossible
    with tempfile.TemporaryDirectory(prefix="bench-ask-squad-", dir=settings.tmp_dir) as root:
        folder = Path(root) / "paragraphs"
        folder.mkdir()
        for name, text in paragraphs.items():
            (folder / name).write_text(text, encoding="utf-8")
        with build(settings.model_copy(update={"home": Path(root) / "home"}), models) as built:
            timed = TimedGenerator(built.generator)
            app = dataclasses.replace(built, generator=timed)
            say(f"SQuAD: ingesting {len(paragraphs)} paragraphs ...")
            ingested = _ingest(app, [folder], SQUAD, say)
            say(f"SQuAD: asking {len(items)} questions ({sum(direct)} also in direct mode) ...")
            runs = _ask_all(app, timed, [i.question for i in items], SQUAD, say, direct)
            adapted = _ask_all(app, timed, [i.question for i in items], SQUAD, say, adapter=adapter) if adapter else []
            # Golds are redacted after every question was asked: redact_texts adds to the pseudonym map.
            forms = [_gold_forms(app, i.golds) for i in items]
            exact, cited = verbatim_counts(app, SQUAD, (c for r in runs for c in r.answer.citations))
            lost = gold_lost(app, items, forms, ingested["doc_ids"])
            beside = _adapter_squad_figures(app, items, adapted, forms, adapter) if adapter else None
    groups = answer_figures(items, runs, forms)
    return {
        "article": article,
        "adapter": beside,
        "hit_at_1": evidence_hit_at_1(items, runs, forms),
        "paragraphs": len(paragraphs),
        "ingest": {k: v for k, v in ingested.items() if k != "doc_ids"},
        "questions": len(items),
        "answerable": groups["answerable"]["questions"],
        "unanswerable": groups["unanswerable"]["questions"],
        "golds_changed_by_redaction": sum(len(f) > len(i.golds) for i, f in zip(items, forms, strict=True)),
        "gold_lost_to_redaction": lost,
        "recall_at_k": retrieval_rates(items, runs, forms),
        "verbatim_rate": rate(exact, cited),
        "citations": cited,
        "refusal_rate_unanswerable": groups["unanswerable"]["refusal_rate"],
        "false_refusal_rate": groups["answerable"]["refusal_rate"],
        "f1": groups["answerable"].get("f1"),
        "f1_direct": groups["answerable"].get("f1_direct"),
        "by_type": groups,
        **timing_figures(runs),
    }


def _adapter_squad_figures(
    app: Appliance,
    items: Sequence[SquadItem],
    runs: Sequence[Asked],
    forms: Sequence[tuple[str, ...]],
    adapter: ServedAdapter,
) -> dict[str, Any]:
    """The adapter's figures on the very questions the base was asked, for the side-by-side table."""
    groups = answer_figures(items, runs, forms)
    exact, cited = verbatim_counts(app, SQUAD, (c for r in runs for c in r.answer.citations))
    return {
        "name": adapter.name,
        "version": adapter.version,
        "abstention": "model" if adapter.abstains else "threshold",
        "answers_with_adapter": sum(r.answer.adapter_sha256 == adapter.sha256 for r in runs),
        "hit_at_1": evidence_hit_at_1(items, runs, forms),
        "refusal_rate_unanswerable": groups["unanswerable"]["refusal_rate"],
        "false_refusal_rate": groups["answerable"]["refusal_rate"],
        "f1": groups["answerable"].get("f1"),
        "gold_in_answer": groups["answerable"].get("gold_in_answer"),
        "verbatim_rate": rate(exact, cited),
        "citations": cited,
        **timing_figures(runs),
    }


def run_docugami(
    settings: Settings,
    models: Models,
    docugami_dir: Path,
    *,
    limit: int | None,
    say: Progress,
    adapter: ServedAdapter | None = None,
) -> dict[str, Any]:
    """The Docugami part in a fresh home: ingest the included PDFs, ask the questions they cover."""
    pdfs = sorted((docugami_dir / "docs").glob("*.pdf"))
    eligible = load_docugami(docugami_dir / "qna_data.csv", [p.name for p in pdfs])
    items = select_balanced(eligible, limit)
    with tempfile.TemporaryDirectory(prefix="bench-ask-sec-", dir=settings.tmp_dir) as root:
        with build(settings.model_copy(update={"home": Path(root) / "home"}), models) as built:
            timed = TimedGenerator(built.generator)
            app = dataclasses.replace(built, generator=timed)
            say(f"Docugami: ingesting {len(pdfs)} PDFs ...")
            ingested = _ingest(app, pdfs, SEC, say)
            say(f"Docugami: asking {len(items)} of {len(eligible)} eligible questions ...")
            runs = _ask_all(app, timed, [i.question for i in items], SEC, say)
            overall = sec_group(items, runs, app)
            by_type = grouped(items, runs, app, lambda i: i.question_type)
            by_chunk = grouped(items, runs, app, lambda i: i.chunk_type)
            beside = None
            if adapter is not None:
                adapted = _ask_all(app, timed, [i.question for i in items], SEC, say, adapter=adapter)
                beside = sec_group(items, adapted, app) | timing_figures(adapted)
    return {
        "adapter": beside,
        "pdfs": len(pdfs),
        "ingest": {k: v for k, v in ingested.items() if k != "doc_ids"},
        "eligible": len(eligible),
        **overall,
        "by_type": by_type,
        "by_chunk_type": by_chunk,
        **timing_figures(runs),
    }


def _decode_speed(models: Models) -> float | None:
    """Raw llama.cpp decode tokens/s, where the generator can measure it."""
    measure = getattr(models.generator, "decode_speed", None)
    return round(float(measure()), 1) if callable(measure) else None


def _load_average() -> float | None:
    """1-minute load average: other work on the machine slows every figure here."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def run_ask_bench(
    settings: Settings,
    models: Models,
    *,
    squad_path: Path,
    docugami_dir: Path | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
    docugami_limit: int | None = 30,
    paragraph_limit: int | None = None,
    direct_limit: int | None = None,
    adapter: ServedAdapter | None = None,
    article: str | None = None,
) -> dict[str, Any]:
    """Run the SQuAD part (and the Docugami part when its folder exists and docugami_limit allows).

    With `adapter`, every question is asked of the base and then of the adapter, in the same run.
    `article` keeps the SQuAD part to one article's paragraphs and questions.
    """
    say = progress or (lambda _line: None)
    started = time.perf_counter()
    load_before = _load_average()
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    say("loading models ...")
    models.warm_up()
    models.generator.warm_up()
    speed = _decode_speed(models)
    squad = run_squad(
        settings,
        models,
        squad_path,
        limit=limit,
        paragraph_limit=paragraph_limit,
        direct_limit=direct_limit,
        say=say,
        adapter=adapter,
        article=article,
    )
    docugami = None
    if docugami_dir is not None and docugami_dir.is_dir() and docugami_limit != 0:
        docugami = run_docugami(settings, models, docugami_dir, limit=docugami_limit, say=say, adapter=adapter)
    answering = settings.answering
    return {
        "settings": {
            "top_k": answering.top_k,
            "compose": answering.compose,
            "model_path": str(settings.generation.model_path or "embedded"),
            "threads": settings.runtime.threads,
        },
        "speed": {"decode_tokens_per_s": speed},
        "squad": squad,
        "docugami": docugami,
        "machine": {"cpus": os.cpu_count(), "load_before": load_before, "load_after": _load_average()},
        "seconds": round(time.perf_counter() - started, 1),
    }
