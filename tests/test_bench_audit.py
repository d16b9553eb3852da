"""The audit benchmark measures what it says, against its baselines, and reports the targets."""

from __future__ import annotations

import json

import pytest

from appliance.bench.audit import ASK_TARGET_MS, VERIFY_TARGET_EVENTS_PER_S, format_report, run_audit_bench
from appliance.cli.main import main


def test_bench_audit_reports_throughput_latency_verify_and_targets() -> None:
    result = run_audit_bench(events=1500, record_events=40)
    record = result["record"]
    for name in ("single_thread", "threads", "without_checkpoint", "naive_insert"):
        figures = record[name]
        assert figures["events"] >= 40 and figures["events_per_s"] > 0
        assert 0 < figures["p50_ms"] <= figures["p95_ms"]
    assert record["threads"]["threads"] == 8
    ask = result["ask_overhead"]
    assert ask["details_bytes"] > 1000  # question, answer, 5 chunk refs, 3 quotes of ~200 characters
    assert ask["target_ms"] == ASK_TARGET_MS and ask["met"] == (ask["p50_ms"] < ASK_TARGET_MS)
    verify = result["verify"]
    assert verify["events"] == 1500 and verify["naive"]["events"] == 1500 and verify["naive"]["bad"] == 0
    assert verify["events_per_s"] > 0 and verify["seconds_per_100k"] > 0 and verify["build"]["seconds"] > 0
    assert verify["target_events_per_s"] == VERIFY_TARGET_EVENTS_PER_S
    assert verify["met"] == (verify["events_per_s"] > VERIFY_TARGET_EVENTS_PER_S)
    assert result["targets_met"] == (ask["met"] and verify["met"])
    report = format_report(result)
    for phrase in (
        "record(), 8 threads",
        "naive: plain INSERT",
        "target < 2 ms",
        "per 100,000 events",
        "target > 50,000/s",
    ):
        assert phrase in report


def test_bench_audit_command_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "audit", "--events", "200", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["verify"]["events"] == 200
    assert {"record", "ask_overhead", "verify", "targets_met"} <= set(result)


def test_bench_audit_command_refuses_a_bad_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "audit", "--events", "0"]) == 2
    assert "--events must be at least 1" in capsys.readouterr().err
