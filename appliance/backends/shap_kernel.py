"""shap's model-agnostic KernelExplainer over a tree model's raw output: the slow baseline that
`bench tabular` measures the exact tree path against (it samples coalitions; it is never exact)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import shap


def kernel_explain(
    raw_outputs: Callable[[list[list[float]]], list[float]],
    background: Sequence[Sequence[float]],
    rows: Sequence[Sequence[float]],
    samples: int,
) -> list[list[float]]:
    """Approximate SHAP values of `rows` with `samples` coalitions each, against `background`."""
    explainer = shap.KernelExplainer(
        lambda matrix: np.asarray(raw_outputs(np.asarray(matrix).tolist())), np.asarray(background, dtype=np.float64)
    )
    values = explainer.shap_values(np.asarray(rows, dtype=np.float64), nsamples=samples, silent=True)
    return np.asarray(values).tolist()  # type: ignore[no-any-return]
