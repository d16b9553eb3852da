"""The question-answering benchmark runs on real parts: verbatim citations, rates in range, a readable report."""

from __future__ import annotations

import pytest

from appliance.bench.ask import format_report, run_ask_bench
from appliance.bench.qa_datasets import SquadItem, load_docugami, select_balanced, select_squad
from appliance.bench.qa_scoring import best_f1, normalize_answer
from tests.conftest import EVAL

SQUAD = EVAL / "qa" / "haystack_squad2_dev_small.json"


def test_squad_normalisation_and_f1() -> None:
    assert normalize_answer("The  Duchy, of Normandy!") == "duchy of normandy"
    assert best_f1("in the 10th century", ["10th century", "France"]) == pytest.approx(0.8)
    assert best_f1("<PERSON_3> ruled", ["<PERSON_3>"]) == pytest.approx(2 / 3)


@pytest.mark.slow
def test_bench_ask_on_a_few_squad_questions(settings, models) -> None:  # type: ignore[no-untyped-def]
    if not SQUAD.is_file():
        pytest.skip(f"SQuAD sample not found at {SQUAD}")
    result = run_ask_bench(
        settings,
        models,
        squad_path=SQUAD,
        docugami_dir=None,
        limit=6,
        docugami_limit=0,
        paragraph_limit=12,  # a small haystack keeps the test short; the benchmark itself ingests all 87
        direct_limit=1,
    )
    squad = result["squad"]
    assert result["docugami"] is None
    assert squad["questions"] == 6 and squad["answerable"] == 3 and squad["unanswerable"] == 3
    assert squad["ingest"]["documents"] == squad["paragraphs"] == 12 and not squad["ingest"]["failed"]
    assert squad["citations"] > 0 and squad["verbatim_rate"] == 1.0
    rates = [squad["refusal_rate_unanswerable"], squad["false_refusal_rate"], squad["f1"], squad["f1_direct"]]
    for mode in ("hybrid", "dense", "lexical"):
        rates += list(squad["recall_at_k"][mode].values())
    assert all(r is not None and 0.0 <= r <= 1.0 for r in rates), rates
    assert squad["by_type"]["answerable"]["direct_questions"] == 1
    assert set(squad["latency_ms"]) == {"redact", "retrieve", "recall", "generate", "total"}
    assert squad["latency_ms"]["total"]["p95"] >= squad["latency_ms"]["total"]["p50"] > 0
    assert 0.0 <= squad["outside_model_share"] <= 1.0
    assert result["speed"]["decode_tokens_per_s"] > 0
    report = format_report(result)
    assert "recall@5" in report and "verbatim citations: 1.000" in report and "same redactor" in report


def test_select_squad_keeps_the_answerable_unanswerable_mix() -> None:
    items = [SquadItem(str(n), "q", () if n % 3 else ("a",), bool(n % 3), "p.txt") for n in range(12)]
    chosen = select_squad(items, 4)
    assert [i.impossible for i in chosen].count(True) == 2 and [i.impossible for i in chosen].count(False) == 2
    assert [i.qid for i in chosen] == sorted((i.qid for i in chosen), key=int)


def test_docugami_questions_cover_only_the_included_pdfs() -> None:
    folder = EVAL / "qa" / "docugami_sec10q"
    if not (folder / "qna_data.csv").is_file():
        pytest.skip(f"Docugami Q&A not found at {folder}")
    included = [p.name for p in (folder / "docs").glob("*.pdf")]
    items = load_docugami(folder / "qna_data.csv", included)
    assert items and all(i.gold_pdfs <= set(included) for i in items)
    assert not any("MSFT" in p or "INTC" in p for i in items for p in i.gold_pdfs)
    assert not any("â€" in i.question for i in items)
    chosen = select_balanced(items, 9)
    assert len(chosen) == 9 and len({i.question_type for i in chosen}) == 3
