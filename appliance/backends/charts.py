"""Pictures for reviewers on matplotlib's Agg backend (no display, no fonts fetched): a waterfall per
tabular decision (shap's own plotting), a bar chart of global importance per model, the loss curve of
a fine-tuning run. Each returns PNG bytes, so the same picture can go to a file, an export bundle or
a web page."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import shap

DPI = 90


def waterfall_png(
    names: Sequence[str],
    shap_values: Sequence[float],
    base_value: float,
    shown_values: Sequence[str],
    title: str,
) -> bytes:
    """One decision: from the base value to the model's raw output, feature by feature."""
    explanation = shap.Explanation(
        values=np.asarray(shap_values, dtype=np.float64),
        base_values=float(base_value),
        data=np.asarray(shown_values, dtype=object),
        feature_names=list(names),
    )
    shap.plots.waterfall(explanation, max_display=12, show=False)
    return _png(plt.gcf(), title)


def importance_png(importance: Mapping[str, float], title: str) -> bytes:
    """Mean |SHAP| per feature, largest on top."""
    ordered = sorted(importance.items(), key=lambda item: item[1])
    figure, axes = plt.subplots(figsize=(8, 0.35 * len(ordered) + 1.5))
    axes.barh([name for name, _ in ordered], [value for _, value in ordered], color="#1f77b4")
    axes.set_xlabel("mean |SHAP value| (raw output units)")
    return _png(figure, title)


def loss_curve_png(losses: Sequence[float], title: str) -> bytes:
    """Training loss per step."""
    figure, axes = plt.subplots(figsize=(7, 3.5))
    axes.plot(range(1, len(losses) + 1), list(losses), color="#1f77b4", linewidth=1.2)
    axes.set_xlabel("step")
    axes.set_ylabel("loss on the answer tokens")
    axes.grid(alpha=0.3)
    return _png(figure, title)


def _png(figure: plt.Figure, title: str) -> bytes:
    figure.suptitle(title)
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    finally:
        plt.close(figure)
    return buffer.getvalue()
