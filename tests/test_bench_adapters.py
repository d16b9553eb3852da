"""`bench adapters` on the real parts: llama.cpp switching real GGUF adapters on one base, separately
loaded models as the baseline, and a real (tiny) peft training run."""

from __future__ import annotations

import pytest

from appliance.bench.adapters import format_report, run_adapters_bench


@pytest.mark.slow
def test_bench_adapters_measures_switching_memory_and_training_against_the_naive_way(settings) -> None:  # type: ignore[no-untyped-def]
    result = run_adapters_bench(settings, adapters=4, requests=4, reloads=1, train_examples=4, answer_tokens=4)
    switch, memory = result["switch"], result["memory_mb"]
    assert switch["same_adapter_p50_ms"] > 0 and switch["reload_p50_ms"] > switch["same_adapter_p50_ms"]
    assert set(memory["shared"]) == {1, 4} == set(memory["separate"])
    assert memory["shared"][4] < memory["separate"][4]  # four models hold four copies of the weights
    assert result["throughput"]["four_adapters_per_s"] > 0
    assert result["training"]["examples"] == 4 and result["training"]["steps"] == 1
    report = format_report(result)
    assert "reload model with adapter" in report and "separate models" in report
    assert not any(settings.tmp_dir.glob("bench-*"))  # its adapters and run folder are removed
