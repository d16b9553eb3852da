"""The question-answering benchmark's terminal report: fixed-width tables and footnotes."""

from __future__ import annotations

from typing import Any

from appliance.bench.qa_scoring import STAGES


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
        f"verbatim citations: {_fmt(s['verbatim_rate'])} ({s['citations']} citations; must be 1.000)   "
        f"evidence hit@1⁴: {_fmt(s['hit_at_1'])}",
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


def _side_by_side_lines(squad: dict[str, Any], docugami: dict[str, Any] | None) -> list[str]:
    """Base and adapter on the same questions of the same run: the figures the gate's targets name."""
    mine = squad["adapter"]
    rows = [
        ("evidence hit@1⁴", squad["hit_at_1"], mine["hit_at_1"]),
        ("refusal (unanswerable)", squad["refusal_rate_unanswerable"], mine["refusal_rate_unanswerable"]),
        ("false refusal (answerable)", squad["false_refusal_rate"], mine["false_refusal_rate"]),
        ("F1 rag", squad["f1"], mine["f1"]),
        ("gold in answer", squad["by_type"]["answerable"]["gold_in_answer"], mine["gold_in_answer"]),
        ("verbatim citations", squad["verbatim_rate"], mine["verbatim_rate"]),
        ("latency p50 (s)", squad["latency_ms"]["total"]["p50"] / 1000, mine["latency_ms"]["total"]["p50"] / 1000),
    ]
    if docugami is not None and docugami.get("adapter") is not None:
        theirs = docugami["adapter"]
        rows += [
            ("Docugami doc recall@k", docugami["doc_recall_at_k"], theirs["doc_recall_at_k"]),
            ("Docugami cites gold PDF", docugami["cites_gold_pdf"], theirs["cites_gold_pdf"]),
            ("Docugami refusal", docugami["refusal_rate"], theirs["refusal_rate"]),
        ]
    lines = [
        f"base vs adapter {mine['name']} v{mine['version']} (abstention: {mine['abstention']}), same questions, same run",
        f"{'figure':<30}{'base':>10}{'adapter':>10}",
    ]
    lines += [f"  {name:<28}{_fmt(base):>10}{_fmt(adapted):>10}" for name, base, adapted in rows]
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
    "⁴ share of answerable questions whose first cited sentence contains a gold answer (a refusal misses).",
]


def format_report(result: dict[str, Any]) -> str:
    """The figures as a fixed-width terminal report."""
    k = result["settings"]["top_k"]
    squad, docugami, machine = result["squad"], result["docugami"], result["machine"]
    lines = [
        f"question-answering benchmark: top_k={k}, compose={result['settings']['compose']}, "
        f"model={result['settings']['model_path']}, {result['settings']['threads']} threads"
        + (f", SQuAD article {squad['article']}" if squad.get("article") else ""),
        "",
        *_squad_lines(squad, k),
        "",
        *_latency_lines("SQuAD latency (ms)", squad),
        f"  direct mode (no retrieval): p50 {squad['direct_latency_ms']['p50']:.0f} ms, "
        f"p95 {squad['direct_latency_ms']['p95']:.0f} ms",
    ]
    if docugami is not None:
        lines += ["", *_docugami_lines(docugami, k), "", *_latency_lines("Docugami latency (ms)", docugami)]
    if squad.get("adapter") is not None:
        lines += ["", *_side_by_side_lines(squad, docugami)]
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
