"""Pictures for reviewers, drawn by shap's own plotting on matplotlib's Agg backend (no display, no
fonts fetched): a waterfall per decision, a bar chart of global importance per model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import shap


def waterfall_png(
    path: Path,
    names: Sequence[str],
    shap_values: Sequence[float],
    base_value: float,
    shown_values: Sequence[str],
    title: str,
) -> Path:
    """One decision: from the base value to the model's raw output, feature by feature."""
    explanation = shap.Explanation(
        values=np.asarray(shap_values, dtype=np.float64),
        base_values=float(base_value),
        data=np.asarray(shown_values, dtype=object),
        feature_names=list(names),
    )
    shap.plots.waterfall(explanation, max_display=12, show=False)
    return _save(path, title)


def importance_png(path: Path, importance: Mapping[str, float], title: str) -> Path:
    """Mean |SHAP| per feature, largest on top."""
    ordered = sorted(importance.items(), key=lambda item: item[1])
    figure, axes = plt.subplots(figsize=(8, 0.35 * len(ordered) + 1.5))
    axes.barh([name for name, _ in ordered], [value for _, value in ordered], color="#1f77b4")
    axes.set_xlabel("mean |SHAP value| (raw output units)")
    return _save(path, title, figure)


def _save(path: Path, title: str, figure: object = None) -> Path:
    figure = figure or plt.gcf()
    figure.suptitle(title)  # type: ignore[attr-defined]
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(figure)  # type: ignore[arg-type]
    return path
