"""The ingestion benchmark runs on real parts and compares like with like."""

from __future__ import annotations

import pytest

from appliance.bench.ingest import format_report, run_ingest_bench
from tests.conftest import DEMO_CORPUS


@pytest.mark.slow
def test_bench_ingest_times_pipeline_naive_and_stage_limit(settings, models) -> None:  # type: ignore[no-untyped-def]
    result = run_ingest_bench(settings, models, [DEMO_CORPUS], known_values=500)
    pipeline, naive, plain = result["pipeline"], result["naive"], result["no_propagation"]
    assert pipeline["documents"] == naive["documents"] == plain["documents"] == 8
    assert sum(pipeline["known_values_seeded"].values()) == 500 and plain["known_values_seeded"] == {}
    assert pipeline["stages"]["known_values"] > 0 and "known_values" not in plain["stages"]
    assert pipeline["failed"] == naive["failed"] == []
    assert pipeline["chunks"] == naive["chunks"] > 0
    assert set(pipeline["stages"]) >= {"load", "redact", "chunk", "embed", "index"}
    assert result["stage_limit"]["embed_s"] > 0 and result["stage_limit"]["ner_s"] > 0
    assert result["summary"]["speedup_vs_naive"] > 0
    assert "speed-up vs naive" in format_report(result)
    assert "known-value propagation with 500 values" in format_report(result)
