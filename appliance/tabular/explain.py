"""Exact explanations, checked: SHAP values that add up to the model's own raw output, and the
principal reasons of a decision stated from them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from appliance.ports import TreeExplanation
from appliance.tabular.metrics import softmax
from appliance.tabular.schema import Schema

ADDITIVITY_TOLERANCE = 1e-6


class AdditivityError(Exception):
    """The explanation does not add up to the model's output: never served."""


def check_additivity(explanation: TreeExplanation) -> float:
    """The largest |base + sum(shap) - raw| over the rows; raises above the tolerance."""
    worst = 0.0
    for raw, base, row in zip(explanation.raw, explanation.base_values, explanation.contributions, strict=True):
        worst = max(worst, abs(base + math.fsum(row) - raw))
    if worst > ADDITIVITY_TOLERANCE:
        raise AdditivityError(f"SHAP values miss the model's raw output by {worst:.3g} (tolerance 1e-6)")
    return worst


def decide(schema: Schema, raw: float, class_raw: Sequence[float] | None) -> tuple[Any, float | None]:
    """The decision and its probability from the raw output: the favourable class at log-odds >= 0 (a
    two-class model), the highest softmax class (multi-class), the raw output itself (a regression)."""
    if class_raw:
        chances = softmax(class_raw)
        best = max(range(len(chances)), key=chances.__getitem__)
        return schema.classes[best], chances[best]
    if schema.task == "binary":
        probability = sigmoid(raw)
        return (schema.classes[1] if probability >= 0.5 else schema.classes[0]), probability
    return raw, None


def sigmoid(raw: float) -> float:
    return 1 / (1 + math.exp(-raw)) if raw >= 0 else math.exp(raw) / (1 + math.exp(raw))


def reasons(schema: Schema, inputs: Sequence[float], contributions: Sequence[float], count: int) -> list[str]:
    """Adverse-action style: the features that pushed most toward the unfavourable outcome (a classifier),
    or most in either direction (a regression), each with its value and contribution."""
    pairs = list(zip(schema.features, inputs, contributions, strict=True))
    if schema.task == "binary":
        chosen = sorted((p for p in pairs if p[2] < 0), key=lambda p: p[2])[:count]
        return [
            f"{feature.name} = {feature.decode(value)} lowered the log-odds of {schema.classes[1]!r} by {-shap:.3f}"
            for feature, value, shap in chosen
        ]
    if schema.task == "multiclass":
        chosen = sorted((p for p in pairs if p[2] > 0), key=lambda p: -p[2])[:count]
        return [
            f"{feature.name} = {feature.decode(value)} raised the log-odds of the predicted class by {shap:.3f}"
            for feature, value, shap in chosen
        ]
    chosen = sorted(pairs, key=lambda p: -abs(p[2]))[:count]
    return [
        f"{feature.name} = {feature.decode(value)} {'raised' if shap > 0 else 'lowered'} the prediction by {abs(shap):.3f}"
        for feature, value, shap in chosen
    ]


def global_importance(schema: Schema, explanation: TreeExplanation) -> dict[str, float]:
    """Mean |SHAP| per feature, largest first."""
    rows = explanation.contributions
    means = {feature.name: sum(abs(row[i]) for row in rows) / len(rows) for i, feature in enumerate(schema.features)}
    return {name: round(value, 6) for name, value in sorted(means.items(), key=lambda item: -item[1])}


def disparity(groups: Sequence[str], favourable: Sequence[bool], threshold: float = 0.8) -> list[dict[str, Any]]:
    """Positive-outcome rate per group and its ratio to the most favoured group, flagged below `threshold`
    (the four-fifths rule)."""
    rates: dict[str, list[int]] = {}
    for group, outcome in zip(groups, favourable, strict=True):
        counts = rates.setdefault(group, [0, 0])
        counts[0] += int(outcome)
        counts[1] += 1
    best = max(hits / total for hits, total in rates.values())
    report = []
    for group, (hits, total) in sorted(rates.items()):
        rate = hits / total
        ratio = rate / best if best else 1.0
        report.append(
            {
                "group": group,
                "rows": total,
                "favourable_rate": round(rate, 4),
                "ratio": round(ratio, 4),
                "flagged": ratio < threshold,
            }
        )
    return report
