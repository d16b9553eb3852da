"""LightGBM behind the TreeLearner port: its model is a text file that loads without running code,
it splits categorical columns natively, and it computes exact TreeSHAP in C++ (`pred_contrib`).

Explanations are checked against the model's own raw margin (`raw_score=True`), not against a
re-built copy of its trees, by the caller (appliance/tabular/explain.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightgbm
import numpy as np

from appliance.ports import TreeExplanation


class LightGBMLearner:
    def __init__(self, threads: int) -> None:
        self._threads = threads
        self._boosters: dict[int, Any] = {}

    @property
    def identity(self) -> dict[str, str]:
        return {
            "library": f"lightgbm {lightgbm.__version__}",
            "explainer": "lightgbm pred_contrib (exact TreeSHAP, interventional on the tree paths)",
            "output_space": "raw margin",
        }

    def train(
        self,
        features: Sequence[Sequence[float]],
        target: Sequence[float],
        *,
        categorical: Sequence[int],
        objective: str,
        params: Mapping[str, Any],
    ) -> str:
        matrix = np.asarray(features, dtype=np.float64)
        options = {
            "objective": objective,
            "num_threads": self._threads,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
            **{k: v for k, v in params.items() if k != "trees"},
        }
        data = lightgbm.Dataset(
            matrix,
            label=np.asarray(target, dtype=np.float64),
            categorical_feature=list(categorical),
            free_raw_data=True,
        )
        booster = lightgbm.train(options, data, num_boost_round=int(params["trees"]))
        return str(booster.model_to_string())

    def explain(self, model_text: str, features: Sequence[Sequence[float]]) -> TreeExplanation:
        booster = self._booster(model_text)
        matrix = np.asarray(features, dtype=np.float64)
        raw = booster.predict(matrix, raw_score=True, num_threads=self._threads)
        contributions = booster.predict(matrix, pred_contrib=True, num_threads=self._threads)
        classes = booster.num_model_per_iteration()
        if classes > 1:  # one block of (features + 1) contributions per class
            chosen = np.argmax(raw, axis=1)
            blocks = np.asarray(contributions).reshape(len(matrix), classes, -1)
            picked = blocks[np.arange(len(matrix)), chosen]
            return TreeExplanation(
                raw=[float(r[c]) for r, c in zip(raw, chosen, strict=True)],
                contributions=[[float(v) for v in row[:-1]] for row in picked],
                base_values=[float(row[-1]) for row in picked],
                class_raw=[[float(v) for v in r] for r in raw],
            )
        return TreeExplanation(
            raw=[float(v) for v in raw],
            contributions=[[float(v) for v in row[:-1]] for row in contributions],
            base_values=[float(row[-1]) for row in contributions],
        )

    def raw_outputs(self, model_text: str, features: Sequence[Sequence[float]]) -> list[float]:
        matrix = np.asarray(features, dtype=np.float64)
        raw = self._booster(model_text).predict(matrix, raw_score=True, num_threads=self._threads)
        return [float(v) for v in (raw.max(axis=1) if raw.ndim > 1 else raw)]

    def _booster(self, model_text: str) -> Any:
        key = hash(model_text)
        if key not in self._boosters:
            self._boosters[key] = lightgbm.Booster(model_str=model_text)
        return self._boosters[key]
