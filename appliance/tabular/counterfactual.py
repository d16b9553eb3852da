"""Counterfactuals: the smallest change to the actionable features that flips a two-class decision.

"A credit amount of 4,000 instead of 7,500 would have been approved": what the CJEU asked of a
credit-scoring firm (C-203/22, Dun & Bradstreet Austria, 2025). A bounded search over the model:
every single change first (numbers on a grid across their training range, every other category),
then pairs of the cheapest; the cost of a change is its share of the feature's range (a category
counts as a whole range). None when nothing within those bounds flips the decision.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from appliance.ports import TreeLearner
from appliance.tabular.schema import Feature, Schema

GRID = 64  # values per numeric feature
PAIR_CANDIDATES = 6  # cheapest single changes per feature tried in pairs

Change = tuple[int, float, float]  # feature index, new value, cost


def counterfactual(
    schema: Schema, learner: TreeLearner, model_text: str, inputs: Sequence[float], favourable: bool
) -> dict[str, Any] | None:
    """The cheapest change (one feature, else two) that flips the decision; None if there is none in bounds."""
    indices = [i for i, f in enumerate(schema.features) if f.name in schema.actionable]
    if schema.task != "binary" or not indices:
        return None
    singles = sorted((c for i in indices for c in _changes(schema.features[i], i, inputs[i])), key=lambda c: c[2])
    found = _cheapest_flip(learner, model_text, inputs, [(c,) for c in singles], favourable)
    if found is None and len(indices) > 1:
        best = {i: [c for c in singles if c[0] == i][:PAIR_CANDIDATES] for i in indices}
        pairs = [(a, b) for i, j in itertools.combinations(indices, 2) for a in best[i] for b in best[j]]
        found = _cheapest_flip(
            learner, model_text, inputs, sorted(pairs, key=lambda p: sum(c[2] for c in p)), favourable
        )
    if found is None:
        return None
    return {
        "changes": {
            schema.features[i].name: {
                "from": schema.features[i].decode(inputs[i]),
                "to": schema.features[i].decode(value),
            }
            for i, value, _ in found
        },
        "prediction": schema.classes[0] if favourable else schema.classes[1],
    }


def _changes(feature: Feature, index: int, current: float) -> list[Change]:
    if feature.kind == "categorical":
        return [(index, float(k), 1.0) for k in range(len(feature.categories)) if float(k) != current]
    low, high = feature.low or 0.0, feature.high or 0.0
    if high <= low or current != current:  # a constant feature, or a missing value
        return []
    whole = all(float(v).is_integer() for v in (low, high, current))
    values = {
        round(low + (high - low) * k / (GRID - 1)) if whole else low + (high - low) * k / (GRID - 1)
        for k in range(GRID)
    }
    return [(index, float(v), abs(v - current) / (high - low)) for v in sorted(values) if v != current]


def _cheapest_flip(
    learner: TreeLearner,
    model_text: str,
    inputs: Sequence[float],
    candidates: Sequence[tuple[Change, ...]],
    favourable: bool,
) -> tuple[Change, ...] | None:
    """The first candidate (they come cheapest first) whose decision differs from the current one."""
    if not candidates:
        return None
    rows = []
    for changes in candidates:
        row = list(inputs)
        for index, value, _ in changes:
            row[index] = value
        rows.append(row)
    for changes, raw in zip(candidates, learner.raw_outputs(model_text, rows), strict=True):
        if (raw >= 0) != favourable:  # log-odds 0 is probability 0.5
            return changes
    return None
