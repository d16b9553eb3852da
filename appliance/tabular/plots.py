"""Which pictures to draw for a model or its decisions; the drawing is in backends/shap_plots.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appliance.tabular.registry import ModelVersion


def decision_plots(result: dict[str, Any], version: ModelVersion, folder: Path) -> list[Path]:
    """A waterfall PNG per decision of a `predict` result, named by its row."""
    from appliance.backends.shap_plots import waterfall_png

    written = []
    for p in result["predictions"]:
        names = list(p["shap"])
        written.append(
            waterfall_png(
                folder / f"{version.name}-v{version.version}-row-{p['row']}.png",
                names,
                [p["shap"][n] for n in names],
                p["base_value"],
                [p["inputs"][n] for n in names],
                f"{version.name} v{version.version}, row {p['row']}: {p['prediction']}",
            )
        )
    return written


def importance_plot(version: ModelVersion, folder: Path) -> Path:
    """The global importance of a model as a bar chart."""
    from appliance.backends.shap_plots import importance_png

    return importance_png(
        folder / f"{version.name}-v{version.version}-importance.png",
        version.metrics["importance"],
        f"{version.name} v{version.version}: global importance",
    )
