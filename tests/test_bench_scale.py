"""`appliance bench scale` on a tiny stream: real inference servers, real front-ends, every figure present."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.bench.scale import format_report, run_scale_bench


@pytest.mark.slow
def test_the_scale_benchmark_answers_every_question_on_each_layout_and_loses_no_audit_event(
    settings: Any, models: Any
) -> None:
    result = run_scale_bench(settings, models, users=2, per_user=1)
    for layout, front_ends in (("embedded", 1), ("one_server", 2), ("two_servers", 2)):
        row = result[layout]
        assert row["front_ends"] == front_ends
        assert row["answered"] == row["questions"] == 2 and row["errors"] == [], row
        assert row["lost_audit_events"] == 0 and row["answers_per_s"] > 0
    assert result["two_servers_vs_one"] is not None
    report = format_report(result)
    assert "2 front-ends, 2 inference servers" in report and "two inference servers vs one: x" in report
