"""The question-answering benchmark: retrieval recall, verbatim citations, refusals, F1 and latency.

- SQuAD 2.0 dev subset: every paragraph becomes one .txt document in a fresh home; answerable
  questions measure recall@k and answer F1, unanswerable ones measure refusals.
- Docugami SEC 10-Q (optional, slow): the included PDFs, document-level recall@k per question type.

The generator is wrapped in a timer, so the share of a question spent outside model calls is
measured rather than guessed from the stage timings.
"""

from __future__ import annotations

import csv
import dataclasses
import fnmatch
import json
import math
import os
import re
import string
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.answering import Answer, ask
from appliance.app import Appliance
from appliance.build import Models, build
from appliance.ports import GenerationResult, Generator
from appliance.retrieval import Mode as RetrievalMode
from appliance.retrieval import retrieve
from appliance.settings import Settings

Progress = Callable[[str], None]

SQUAD = "squad"
SEC = "sec"
STAGES = ("redact", "retrieve", "recall", "generate", "total")
RETRIEVAL_MODES: tuple[RetrievalMode, ...] = ("hybrid", "dense", "lexical")
_MARKER = re.compile(r"\[\d+\]")
_CURLY = str.maketrans("", "", "\u201c\u201d\u2018\u2019")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_PDF_NAME = re.compile(r"\b\d{4} Q\d [A-Z]+\.pdf\b")  # the dataset's file names, e.g. "2023 Q3 AAPL.pdf"


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
    ) -> GenerationResult:
        """Delegate, timing the whole call (prompt evaluation included)."""
        started = time.perf_counter()
        result = self._inner.chat(
            messages, max_tokens=max_tokens, temperature=temperature, json_schema=json_schema, on_token=on_token
        )
        self.seconds += time.perf_counter() - started
        self.calls += 1
        self.prompt_tokens += result.prompt_tokens
        self.completion_tokens += result.completion_tokens
        return result

    def warm_up(self) -> None:
        self._inner.warm_up()


@dataclass(frozen=True)
class SquadItem:
    """One SQuAD question and the paragraph file it was written against."""

    qid: str
    question: str
    golds: tuple[str, ...]
    impossible: bool
    paragraph: str  # file name of the paragraph's .txt document


@dataclass(frozen=True)
class SecItem:
    """One Docugami question whose gold PDFs are all in the included set."""

    question: str
    question_type: str
    chunk_type: str
    gold_pdfs: frozenset[str]


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


# --- scoring -------------------------------------------------------------------------------------


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


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


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


# --- data ----------------------------------------------------------------------------------------


def paragraph_file_name(article_index: int, title: str, paragraph_index: int) -> str:
    """One stable, file-system-safe name per SQuAD paragraph (article + index)."""
    return f"{article_index:02d}-{re.sub(r'[^A-Za-z0-9]+', '_', title)}-{paragraph_index:03d}.txt"


def load_squad(path: Path, paragraph_limit: int | None = None) -> tuple[dict[str, str], list[SquadItem]]:
    """Paragraph texts by file name and the questions over them, in file order."""
    data = json.loads(path.read_text(encoding="utf-8"))
    paragraphs: dict[str, str] = {}
    items: list[SquadItem] = []
    for a_index, article in enumerate(data["data"]):
        for p_index, paragraph in enumerate(article["paragraphs"]):
            if paragraph_limit is not None and len(paragraphs) >= paragraph_limit:
                return paragraphs, items
            name = paragraph_file_name(a_index, article["title"], p_index)
            paragraphs[name] = paragraph["context"]
            for qa in paragraph["qas"]:
                golds = tuple(dict.fromkeys(a["text"] for a in qa.get("answers", [])))
                items.append(SquadItem(qa["id"], qa["question"], golds, bool(qa.get("is_impossible")), name))
    return paragraphs, items


def select_squad(items: Sequence[SquadItem], limit: int | None) -> list[SquadItem]:
    """All questions, or the first limit//2 answerable and the first limit//2 unanswerable (file order kept)."""
    if limit is None:
        return list(items)
    half = limit // 2
    keep = {i.qid for i in [i for i in items if not i.impossible][:half]}
    keep |= {i.qid for i in [i for i in items if i.impossible][:half]}
    return [i for i in items if i.qid in keep]


def _demojibake(text: str) -> str:
    """Undo UTF-8 read as cp1252 (the CSV's 'â€™'); text that is not such mojibake is kept."""
    if "â€" not in text and "Ã" not in text:
        return text
    try:
        return text.encode("cp1252").decode("utf-8")
    except UnicodeError:
        return text


def _cited_pdfs(answer: str) -> set[str]:
    """The PDF names an answer cites (its 'SOURCE(S): ...' line and inline '(SOURCE: ...)' notes)."""
    return set(_PDF_NAME.findall(answer))


def load_docugami(csv_path: Path, included: Iterable[str]) -> list[SecItem]:
    """The questions whose Source Docs glob matches included PDFs only (CSV in utf-8-sig)."""
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    included_set = set(included)
    # Every PDF the dataset names: the included ones plus those the answers cite (MSFT, INTC).
    universe = included_set | {name for row in rows for name in _cited_pdfs(row["Answer"])}
    items = []
    for row in rows:
        matches = {name for name in universe if fnmatch.fnmatch(name, row["Source Docs"].strip())}
        if matches and matches <= included_set:
            items.append(
                SecItem(
                    _demojibake(row["Question"]).strip(),
                    row["Question Type"].strip(),
                    row["Source Chunk Type"].strip(),
                    frozenset(matches),
                )
            )
    return items


def select_balanced(items: Sequence[SecItem], limit: int | None) -> list[SecItem]:
    """Up to `limit` questions taken in turn from each question type, so every type is represented."""
    if limit is None:
        return list(items)
    queues: dict[str, list[SecItem]] = {}
    for item in items:
        queues.setdefault(item.question_type, []).append(item)
    chosen: list[SecItem] = []
    while len(chosen) < limit and any(queues.values()):
        for queue in queues.values():
            if queue and len(chosen) < limit:
                chosen.append(queue.pop(0))
    return chosen


# --- running -------------------------------------------------------------------------------------


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


def ask_one(app: Appliance, timed: TimedGenerator, question: str, collection: str, *, direct: bool) -> Asked:
    """Ask in RAG mode (model calls timed), retrieve per mode, and optionally ask in direct mode."""
    timed.reset()
    answer = ask(app, question, collections=[collection])
    asked = Asked(answer, round(timed.seconds * 1000, 1), timed.calls, timed.completion_tokens, {})
    asked.retrieved["hybrid"] = [(Path(r["doc_id"]).name, r["text"]) for r in answer.retrieved]
    for mode in RETRIEVAL_MODES[1:]:
        asked.retrieved[mode] = _retrieved_pairs(app, answer.question_redacted, collection, mode)
    if direct:
        direct_answer = ask(app, question, collections=[collection], mode="direct")
        asked.direct, asked.direct_ms = direct_answer.answer, direct_answer.timings_ms.get("total", 0.0)
    return asked


def _ingest(app: Appliance, paths: Sequence[Path], collection: str, say: Progress) -> dict[str, Any]:
    """Ingest into the fresh home and time it; the file name maps to its doc_id."""
    from ingestion.pipeline import ingest_paths

    def step(event: Any) -> None:
        if event.stage in {"ingested", "failed"} and (event.file_index % 10 == 0 or event.file_count <= 20):
            say(f"  ingest {event.file_index}/{event.file_count} {Path(event.path).name}: {event.stage}")

    started = time.perf_counter()
    report = ingest_paths(app, paths, collection=collection, actor="bench-ask", progress=step)
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
) -> list[Asked]:
    """Ask every question, reporting progress every 10."""
    results = []
    for index, question in enumerate(questions, start=1):
        results.append(ask_one(app, timed, question, collection, direct=bool(direct and direct[index - 1])))
        if index % 10 == 0 or index == len(questions):
            say(f"  asked {index}/{len(questions)}")
    return results


def _gold_forms(app: Appliance, golds: Sequence[str]) -> tuple[str, ...]:
    """Each gold redacted as the documents were (names -> pseudonyms), then the raw gold as a fallback."""
    redacted = app.redactor.redact_texts(list(golds), SQUAD)[0] if golds else []
    return tuple(dict.fromkeys([*redacted, *golds]))


def _retrieval_rates(
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


def _answer_figures(
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


def _gold_lost(
    app: Appliance, items: Sequence[SquadItem], forms: Sequence[tuple[str, ...]], doc_ids: Mapping[str, str]
) -> int:
    """Answerable questions none of whose gold forms occurs in its own stored (redacted) paragraph."""
    lost = 0
    for item, item_forms in zip(items, forms, strict=True):
        record = app.catalog.active_document(SQUAD, doc_ids.get(item.paragraph, ""))
        stored = app.catalog.document_text(record.row_id) if record else ""
        lost += not item.impossible and not any(f in stored for f in item_forms)
    return lost


def _timing_figures(runs: Sequence[Asked]) -> dict[str, Any]:
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


def run_squad(
    settings: Settings,
    models: Models,
    squad_path: Path,
    *,
    limit: int | None,
    paragraph_limit: int | None,
    direct_limit: int | None,
    say: Progress,
) -> dict[str, Any]:
    """The SQuAD part in a fresh home: ingest the paragraphs, ask, score against redacted golds."""
    paragraphs, all_items = load_squad(squad_path, paragraph_limit)
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
            # Golds are redacted after every question was asked: redact_texts adds to the pseudonym map.
            forms = [_gold_forms(app, i.golds) for i in items]
            exact, cited = verbatim_counts(app, SQUAD, (c for r in runs for c in r.answer.citations))
            lost = _gold_lost(app, items, forms, ingested["doc_ids"])
    groups = _answer_figures(items, runs, forms)
    return {
        "paragraphs": len(paragraphs),
        "ingest": {k: v for k, v in ingested.items() if k != "doc_ids"},
        "questions": len(items),
        "answerable": groups["answerable"]["questions"],
        "unanswerable": groups["unanswerable"]["questions"],
        "golds_changed_by_redaction": sum(len(f) > len(i.golds) for i, f in zip(items, forms, strict=True)),
        "gold_lost_to_redaction": lost,
        "recall_at_k": _retrieval_rates(items, runs, forms),
        "verbatim_rate": rate(exact, cited),
        "citations": cited,
        "refusal_rate_unanswerable": groups["unanswerable"]["refusal_rate"],
        "false_refusal_rate": groups["answerable"]["refusal_rate"],
        "f1": groups["answerable"].get("f1"),
        "f1_direct": groups["answerable"].get("f1_direct"),
        "by_type": groups,
        **_timing_figures(runs),
    }


def _sec_group(items: Sequence[SecItem], runs: Sequence[Asked], app: Appliance) -> dict[str, Any]:
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


def _grouped(
    items: Sequence[SecItem], runs: Sequence[Asked], app: Appliance, key: Callable[[SecItem], str]
) -> dict[str, dict[str, Any]]:
    """_sec_group for each value of `key`, in order of first appearance."""
    out = {}
    for value in dict.fromkeys(key(i) for i in items):
        pairs = [(i, r) for i, r in zip(items, runs, strict=True) if key(i) == value]
        out[value] = _sec_group([i for i, _ in pairs], [r for _, r in pairs], app)
    return out


def run_docugami(
    settings: Settings, models: Models, docugami_dir: Path, *, limit: int | None, say: Progress
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
            overall = _sec_group(items, runs, app)
            by_type = _grouped(items, runs, app, lambda i: i.question_type)
            by_chunk = _grouped(items, runs, app, lambda i: i.chunk_type)
    return {
        "pdfs": len(pdfs),
        "ingest": {k: v for k, v in ingested.items() if k != "doc_ids"},
        "eligible": len(eligible),
        **overall,
        "by_type": by_type,
        "by_chunk_type": by_chunk,
        **_timing_figures(runs),
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
) -> dict[str, Any]:
    """Run the SQuAD part (and the Docugami part when its folder exists and docugami_limit allows)."""
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
    )
    docugami = None
    if docugami_dir is not None and docugami_dir.is_dir() and docugami_limit != 0:
        docugami = run_docugami(settings, models, docugami_dir, limit=docugami_limit, say=say)
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


# --- report --------------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _squad_lines(s: dict[str, Any], k: int) -> list[str]:
    recall, answerable, unanswerable = s["recall_at_k"], s["by_type"]["answerable"], s["by_type"]["unanswerable"]
    lines = [
        f"SQuAD 2.0 dev subset: {s['paragraphs']} paragraphs ({s['ingest']['chunks']} chunks) ingested in "
        f"{s['ingest']['seconds']:.1f} s; {s['questions']} questions "
        f"({s['answerable']} answerable, {s['unanswerable']} unanswerable)",
        "",
        f"{'retrieval recall@' + str(k):<26}{'answer in chunk':>16}{'gold paragraph':>16}{'(unanswerable)¹':>17}",
    ]
    for mode, label in (("hybrid", "hybrid (BM25 + dense)"), ("dense", "dense only"), ("lexical", "lexical only")):
        r = recall[mode]
        lines.append(
            f"  {label:<24}{_fmt(r['answer_in_chunk']):>16}{_fmt(r['gold_paragraph']):>16}"
            f"{_fmt(r['gold_paragraph_unanswerable']):>17}"
        )
    lines += [
        "",
        f"{'answers':<16}{'questions':>10}{'refused':>10}{'F1 rag':>10}{'F1 direct':>11}{'gold in answer':>16}",
        f"  {'answerable':<14}{answerable['questions']:>10}{_fmt(answerable['refusal_rate']):>10}"
        f"{_fmt(answerable['f1']):>10}{_fmt(answerable['f1_direct']):>11}{_fmt(answerable['gold_in_answer']):>16}",
        f"  {'unanswerable':<14}{unanswerable['questions']:>10}{_fmt(unanswerable['refusal_rate']):>10}"
        f"{'-':>10}{'-':>11}{'-':>16}",
        f"verbatim citations: {_fmt(s['verbatim_rate'])} ({s['citations']} citations; must be 1.000)",
        f"refusal rate on unanswerable: {_fmt(s['refusal_rate_unanswerable'])}   "
        f"false-refusal rate on answerable: {_fmt(s['false_refusal_rate'])}",
        f"F1 direct: mode='direct' (the model alone, no retrieval) on {answerable['direct_questions']} answerable questions",
    ]
    return lines


def _latency_lines(title: str, part: dict[str, Any]) -> list[str]:
    latency = part["latency_ms"]
    lines = [f"{title:<26}{'p50':>10}{'p95':>10}{'share':>9}"]
    for stage in STAGES:
        row = latency[stage]
        lines.append(f"  {stage:<24}{row['p50']:>10.0f}{row['p95']:>10.0f}{row['share']:>9.1%}")
    lines.append(f"  {'model calls (measured)²':<24}{part['model_ms']['p50']:>10.0f}{part['model_ms']['p95']:>10.0f}")
    outside = part["outside_model_share"]
    lines.append(
        f"  outside model calls: {_fmt(None if outside is None else outside * 100, 1)}% of total; "
        f"{part['model_calls_per_question']} model calls and "
        f"{part['completion_tokens_per_question']} completion tokens per question"
    )
    return lines


def _docugami_lines(d: dict[str, Any], k: int) -> list[str]:
    lines = [
        f"Docugami SEC 10-Q: {d['pdfs']} PDFs ({d['ingest']['chunks']} chunks) ingested in "
        f"{d['ingest']['seconds']:.1f} s; {d['questions']} of {d['eligible']} eligible questions (AAPL/AMZN/NVDA)",
        f"{'question type':<30}{'questions':>10}{'doc R@' + str(k):>9}{'dense':>8}{'refused':>9}"
        f"{'cites gold³':>12}{'verbatim':>10}",
    ]
    rows = [*d["by_type"].items(), *d["by_chunk_type"].items(), ("all", d)]
    for name, g in rows:
        label = name if name in d["by_type"] or name == "all" else f"source chunk: {name}"
        lines.append(
            f"  {label:<28}{g['questions']:>10}{_fmt(g['doc_recall_at_k']):>9}{_fmt(g['doc_recall_at_k_dense']):>8}"
            f"{_fmt(g['refusal_rate']):>9}{_fmt(g['cites_gold_pdf']):>12}{_fmt(g['verbatim_rate']):>10}"
        )
    return lines


FOOTNOTES = [
    "Gold answers were passed through the same redactor as the documents (names become pseudonyms such as",
    "<PERSON_3>) before F1 and recall; the raw gold also counts when the stored text kept it. Golds lost: none of",
    "a question's gold forms occurs in its own stored paragraph (redacted differently alone than in context).",
    "F1: SQuAD normalisation (lower case, no punctuation or articles) on the answer without [n] markers and curly",
    "quotes. With the embedded model, compose=auto answers with the best verbatim sentence, so F1 is low by",
    "design against short gold spans; 'gold in answer' says whether that sentence contains the gold.",
    "¹ unanswerable questions were written against a paragraph: share whose paragraph is retrieved anyway.",
    "² ask()'s 'recall' stage contains one constrained model call, so stage times alone cannot separate model",
    "  from pipeline time; the generator is wrapped in a timer to measure the model calls themselves.",
    "³ share of answered questions citing at least one gold PDF. Docugami gold answers are long-form: no F1.",
]


def format_report(result: dict[str, Any]) -> str:
    """The figures as a fixed-width terminal report."""
    k = result["settings"]["top_k"]
    squad, docugami, machine = result["squad"], result["docugami"], result["machine"]
    lines = [
        f"question-answering benchmark: top_k={k}, compose={result['settings']['compose']}, "
        f"model={result['settings']['model_path']}, {result['settings']['threads']} threads",
        "",
        *_squad_lines(squad, k),
        "",
        *_latency_lines("SQuAD latency (ms)", squad),
        f"  direct mode (no retrieval): p50 {squad['direct_latency_ms']['p50']:.0f} ms, "
        f"p95 {squad['direct_latency_ms']['p95']:.0f} ms",
    ]
    if docugami is not None:
        lines += ["", *_docugami_lines(docugami, k), "", *_latency_lines("Docugami latency (ms)", docugami)]
    speed = result["speed"]["decode_tokens_per_s"]
    lines += [
        "",
        f"speed: llama.cpp raw decode {_fmt(speed, 1)} tokens/s beside the pipeline's "
        f"{squad['latency_ms']['total']['p50'] / 1000:.2f} s per question (p50, SQuAD)",
        f"machine: {machine['cpus']} CPUs, load average {machine['load_before']} before, {machine['load_after']} "
        f"after; whole run {result['seconds']:.0f} s",
        f"answerable questions with a gold changed by redaction: {squad['golds_changed_by_redaction']}; "
        f"answerable questions whose gold was lost to redaction: {squad['gold_lost_to_redaction']}",
        "",
        "notes:",
        *(f"  {line}" for line in FOOTNOTES),
    ]
    return "\n".join(lines)
