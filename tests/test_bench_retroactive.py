"""The retroactive-redaction benchmark runs on real parts and finds what the naive search finds."""

from __future__ import annotations

import pytest

from appliance.bench.retroactive import format_report, rare_name_pairs, run_retroactive_bench
from tests.conftest import EVAL


def test_rare_name_pairs_are_capitalised_pairs_seen_in_few_chunks() -> None:
    texts = [
        "Jane Austen wrote.",
        "Jane Austen again.",
        "Board Meeting",
        "Board Meeting",
        "Board Meeting",
        "Board Meeting",
    ]
    assert rare_name_pairs(texts, 5) == ["Jane Austen"]


@pytest.mark.slow
def test_bench_retroactive_finds_every_value_and_leaves_none(settings, models) -> None:  # type: ignore[no-untyped-def]
    if not (EVAL / "qa").exists():
        pytest.skip("../shared/eval/qa is not present")
    result = run_retroactive_bench(settings, models, eval_dir=EVAL, chunks=400, values=10)
    assert result["chunks"] == 400 and result["values"] == 10
    assert result["pass"]["documents_re_redacted"] == result["naive"]["documents_found"] > 0
    assert result["values_left_in_store"] == 0
    assert 0 < result["pass"]["chunks_embedded"] <= result["pass"]["chunks_re_redacted"]
    assert "naive (one regex per spelling)" in format_report(result)
