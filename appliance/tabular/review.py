"""After a decision: re-computing it from the registered model to show the record still holds, and a
person's review of it (GDPR Art. 22(3): the right to human intervention), its own audit event."""

from __future__ import annotations

from typing import Any

from appliance.actors import Actor
from appliance.app import Appliance
from appliance.audit import events as audit_events
from appliance.audit.log import AuditLog
from appliance.ports import TreeLearner
from appliance.tabular.explain import decide
from appliance.tabular.registry import ModelRegistry, ModelVersion, RegistryError

TOLERANCE = 1e-9  # floats are recorded with repr(), so a re-computation matches to the last digit


class ReviewError(Exception):
    """An event that is not a decision, or a review that cannot be recorded."""


def decision_event(audit: AuditLog, seq: int) -> dict[str, Any]:
    events = list(audit.events("seq = :seq", {"seq": seq}))
    if not events:
        raise ReviewError(f"no audit event {seq}")
    if events[0]["action"] != audit_events.TABULAR_PREDICT:
        raise ReviewError(f"audit event {seq} is {events[0]['action']!r}, not a tabular decision")
    return events[0]


def recompute(audit: AuditLog, learner: TreeLearner, registry: ModelRegistry, seq: int) -> dict[str, Any]:
    """The recorded decision beside the same decision re-computed from the registered model file."""
    event = decision_event(audit, seq)
    details = event["details"]
    version = _version(registry, event["subject"], details["sha256"])
    schema = version.parsed_schema
    inputs = [feature.encode(details["inputs"][feature.name]) for feature in schema.features]
    explanation = learner.explain(registry.load(version), [inputs])
    raw, base, shap = explanation.raw[0], explanation.base_values[0], explanation.contributions[0]
    prediction, _ = decide(schema, raw, explanation.class_raw[0] if explanation.class_raw else None)
    recorded_shap = {name: float(value) for name, value in details["shap"].items()}
    differences = [abs(float(details["raw_output"]) - raw), abs(float(details["base_value"]) - base)]
    differences += [abs(recorded_shap[f.name] - value) for f, value in zip(schema.features, shap, strict=True)]
    same_prediction = str(details["prediction"]) == str(prediction if schema.task != "regression" else repr(raw))
    return {
        "seq": seq,
        "model": version.name,
        "version": version.version,
        "sha256": version.sha256,
        "recorded": details,
        "recomputed": {"prediction": prediction, "raw_output": raw, "base_value": base},
        "max_difference": max(differences),
        "matches": same_prediction and max(differences) <= TOLERANCE,
    }


def review(app: Appliance, seq: int, *, override: str | None, reason: str, actor: Actor) -> dict[str, Any]:
    """Confirm a decision, or override it with another outcome; the reason is redacted before it is kept."""
    event = decision_event(app.audit, seq)
    if not reason.strip():
        raise ReviewError("a review needs a reason")
    outcome = event["details"]["prediction"] if override is None else override
    redacted, _ = app.redactor.redact_question(reason, f"tabular-{event['subject']}")
    details = {
        "decision_seq": seq,
        "review": "confirmed" if override is None else "overridden",
        "decision": event["details"]["prediction"],
        "outcome": outcome,
        "reason": redacted,
    }
    recorded = app.audit.record(actor, audit_events.TABULAR_REVIEW, subject=event["subject"], details=details)
    return {"seq": recorded.seq, **details}


def _version(registry: ModelRegistry, name: str, sha256: str) -> ModelVersion:
    for version in registry.versions(name):
        if version.sha256 == sha256:
            return version
    raise RegistryError(f"{name}: no registered version has the recorded sha256 {sha256[:16]}...")
