"""Which pictures to draw for a model or its decisions; the drawing is in backends/charts.py.

A decision's waterfall is drawn from what was recorded (its audit event's SHAP values, base value
and inputs), never re-computed, so the picture in a web page or an export bundle shows exactly the
signed record.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from appliance.audit import events as audit_events
from appliance.file_modes import write_atomically
from appliance.tabular.registry import ModelVersion


def decision_png(model: str, version: int, row: int | str, decision: Mapping[str, Any]) -> bytes:
    """The waterfall of one decision: a `predict` result's entry or a recorded event's details."""
    from appliance.backends.charts import waterfall_png

    names = list(decision["shap"])
    return waterfall_png(
        names,
        [float(decision["shap"][n]) for n in names],
        float(decision["base_value"]),
        [str(decision["inputs"][n]) for n in names],
        f"{model} v{version}, {row}: {decision['prediction']}",
    )


def recorded_decision_png(event: Mapping[str, Any]) -> bytes:
    """The waterfall of a recorded decision (a `tabular.predict` audit event)."""
    details = event["details"]
    return decision_png(event["subject"], int(details["version"]), f"decision {event['seq']}", details)


def decision_attachments(event: Mapping[str, Any]) -> list[tuple[str, bytes]]:
    """The files an audit export carries beside an event: a decision's waterfall, nothing for others."""
    if event["action"] != audit_events.TABULAR_PREDICT:
        return []
    return [("waterfall.png", recorded_decision_png(event))]


def model_importance_png(version: ModelVersion) -> bytes:
    """The global importance of a model as a bar chart."""
    from appliance.backends.charts import importance_png

    return importance_png(version.metrics["importance"], f"{version.name} v{version.version}: global importance")


def decision_plots(result: dict[str, Any], version: ModelVersion, folder: Path) -> list[Path]:
    """A waterfall PNG per decision of a `predict` result, named by its row."""
    return [
        write_atomically(
            folder / f"{version.name}-v{version.version}-row-{p['row']}.png",
            decision_png(version.name, version.version, f"row {p['row']}", p),
        )
        for p in result["predictions"]
    ]


def importance_plot(version: ModelVersion, folder: Path) -> Path:
    """The global importance of a model as a bar chart PNG in `folder`."""
    return write_atomically(folder / f"{version.name}-v{version.version}-importance.png", model_importance_png(version))
