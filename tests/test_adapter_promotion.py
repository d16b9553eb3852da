"""Promotion through the gate's kept verdict: a failed adapter is refused unless forced, and the force
is audited. The verdict is recorded as the gate records it, so no model runs here (the gate itself
runs on the real model in test_finetune and test_ui_adapters)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appliance.finetune.adapters import AdapterError, AdapterRegistry, AdapterVersion
from appliance.finetune.gate import gate_settings_digest, promote_adapter
from tests.actors import TESTER


def registered(app: Any, tmp_path: Path, passed: bool) -> AdapterRegistry:
    registry = AdapterRegistry(app.settings.finetune_dir / "adapters")
    weights = tmp_path / "adapter.gguf"
    weights.write_bytes(b"GGUF not a real adapter: promotion never reads it")
    version = AdapterVersion(
        "ops", 0, "", "", "base", "0" * 64, {"name": "ops", "version": 1}, ["default"], {}, {}, 0, 0.0, "cpu", "t", 0
    )
    added = registry.add(version, weights, None)
    failed = [] if passed else ["red team"]
    verdict = {"sha256": added.sha256, "passed": passed, "failed": failed, "abstention_approved": False}
    registry.record_evaluation("ops", {**verdict, "settings_digest": gate_settings_digest(app), "audit_seq": 7})
    return registry


def test_a_failed_verdict_refuses_promotion_and_force_overrides_it_on_the_record(app: Any, tmp_path: Path) -> None:
    registry = registered(app, tmp_path, passed=False)
    with pytest.raises(AdapterError, match=r"failed the evaluation gate \(red team\)"):
        promote_adapter(app, "ops", "looks fine", TESTER)
    assert registry.latest("ops").state != "promoted"
    assert not list(app.audit.events("action = 'adapters.promote'"))
    promoted = promote_adapter(app, "ops", "accepted risk, ticket 42", TESTER, force=True)
    assert promoted.state == "promoted" and promoted.promoted["reason"] == "accepted risk, ticket 42"
    [event] = app.audit.events("action = 'adapters.promote'")
    assert event["details"]["gate"] == "overridden" and event["details"]["failed_checks"] == ["red team"]
    assert event["details"]["evaluation_seq"] == 7


def test_a_passed_verdict_promotes_without_force(app: Any, tmp_path: Path) -> None:
    registered(app, tmp_path, passed=True)
    promote_adapter(app, "ops", "gate passed", TESTER)
    [event] = app.audit.events("action = 'adapters.promote'")
    assert event["details"]["gate"] == "passed" and event["details"]["failed_checks"] == []
