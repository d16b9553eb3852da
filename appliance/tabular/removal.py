"""Removing a tabular model: deleted when no decision of it is on record, else retired (kept, never
used again), so that every recorded decision can still be re-computed from the model that made it."""

from __future__ import annotations

from typing import Any

from appliance.actors import Actor
from appliance.app import Appliance
from appliance.audit import events as audit_events
from appliance.tabular.registry import ModelRegistry


def remove_model(app: Appliance, registry: ModelRegistry, name: str, actor: Actor) -> dict[str, Any]:
    """Delete or retire `name` (audited); `{"model", "result": "deleted"|"retired"}`."""
    recorded = app.audit.events(
        "action = :action AND subject = :name", {"action": audit_events.TABULAR_PREDICT, "name": name}
    )
    try:
        on_record = next(recorded, None) is not None
    finally:
        recorded.close()
    outcome = registry.delete(name, decisions_on_record=on_record)
    action = audit_events.TABULAR_RETIRE if outcome == "retired" else audit_events.TABULAR_DELETE
    app.audit.record(actor, action, subject=name)
    return {"model": name, "result": outcome}
