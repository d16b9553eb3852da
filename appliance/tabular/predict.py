"""`appliance tabular predict`: each row validated, predicted, explained exactly, and recorded.

A row that does not fit the model's schema (a missing column, a column the training table did not
have, a value that is not a number, a
category the model never saw, a number outside the training range) gets its own error and the
batch goes on. Every decision is one audit event: the model's identity, the row key as a keyed
pseudonym (never the key itself), the feature values used (never identifiers), the prediction,
the base value, the SHAP values, the reasons and, for a decision against the favourable outcome,
the counterfactual (the smallest change to the actionable features that would have flipped it).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from appliance.actors import Actor
from appliance.app import Appliance
from appliance.audit import events as audit_events
from appliance.ports import TreeLearner
from appliance.tabular.counterfactual import counterfactual
from appliance.tabular.explain import check_additivity, decide, reasons
from appliance.tabular.narration import narrate as narrate_decision
from appliance.tabular.registry import ModelRegistry, ModelVersion
from appliance.tabular.schema import Feature, Schema
from appliance.tabular.table import Table, read_table

ROW_KEY_TYPE = "ROW_KEY"


def predict(
    app: Appliance,
    learner: TreeLearner,
    registry: ModelRegistry,
    name: str,
    path: Path,
    actor: Actor,
    *,
    narrate: bool = False,
) -> dict[str, Any]:
    """The documented JSON of `tabular predict`: predictions with explanations, and the rows that failed."""
    table = read_table(path, app.settings.tabular.max_rows)
    return predict_table(app, learner, registry, name, table, actor, narrate=narrate)


def predict_table(
    app: Appliance,
    learner: TreeLearner,
    registry: ModelRegistry,
    name: str,
    table: Table,
    actor: Actor,
    *,
    narrate: bool = False,
) -> dict[str, Any]:
    """`predict()` on a table already read (a file, or one row a person typed into a form).

    With `narrate`, the local model phrases each decision's reasons; the text is checked against
    the record and the template stands when it fails (tabular/narration.py).
    """
    version = registry.current(name)
    model_text = registry.load(version)
    schema = version.parsed_schema
    missing = [f.name for f in schema.features if f.name not in table.columns]
    known = {schema.target, schema.key, *(f.name for f in schema.features), *(e.name for e in schema.excluded)}
    unknown = [c for c in table.columns if c not in known]
    encoded: list[tuple[int, list[float]]] = []
    failed: list[dict[str, Any]] = []
    for index, row in enumerate(table.rows):
        try:
            if missing:
                raise ValueError(f"the input has no column {', '.join(map(repr, missing))}")
            if unknown:
                raise ValueError(
                    f"the input has columns the model was not trained with: {', '.join(map(repr, unknown))}"
                )
            encoded.append((index, [_checked(f, row[table.columns.index(f.name)]) for f in schema.features]))
        except ValueError as problem:
            failed.append({"row": index, "error": str(problem)})
    predictions = []
    if encoded:
        explanation = learner.explain(model_text, [inputs for _, inputs in encoded])
        check_additivity(explanation)  # raises: an explanation that does not add up is never served
        for position, (index, inputs) in enumerate(encoded):
            predictions.append(
                _decision(
                    schema,
                    index,
                    inputs,
                    explanation.raw[position],
                    explanation.base_values[position],
                    explanation.contributions[position],
                    app.settings.tabular.reasons,
                    explanation.class_raw[position] if explanation.class_raw else None,
                )
            )
            unfavourable = schema.task == "binary" and predictions[-1]["prediction"] == schema.classes[0]
            predictions[-1]["counterfactual"] = (
                counterfactual(schema, learner, model_text, inputs, favourable=False) if unfavourable else None
            )
    for prediction in predictions if narrate else []:
        prediction["narrative"] = narrate_decision(app.generator, schema, prediction)
    keys = _row_keys(app, version, table, [p["row"] for p in predictions])
    for prediction, key in zip(predictions, keys, strict=True):
        recorded = app.audit.record(
            actor, audit_events.TABULAR_PREDICT, subject=version.name, details=_event(version, prediction, key)
        )
        prediction["audit_seq"] = recorded.seq
    if predictions:
        registry.count_decisions(version, len(predictions))
    return {
        "model": version.name,
        "version": version.version,
        "sha256": version.sha256,
        "raw_output_space": {"binary": "log-odds", "multiclass": "log-odds of the predicted class (softmax)"}.get(
            schema.task, "target units"
        ),
        "favourable": version.favourable,
        "predictions": predictions,
        "failed": failed,
    }


def _checked(feature: Feature, cell: str) -> float:
    value = feature.encode(cell)
    if feature.kind == "numeric" and not math.isnan(value) and feature.low is not None and feature.high is not None:
        if not feature.low <= value <= feature.high:
            raise ValueError(
                f"{feature.name}: {value:g} is outside the training range {feature.low:g} to {feature.high:g}"
            )
    return value


def _decision(
    schema: Schema,
    row: int,
    inputs: list[float],
    raw: float,
    base: float,
    shap: list[float],
    count: int,
    class_raw: list[float] | None,
) -> dict[str, Any]:
    prediction, probability = decide(schema, raw, class_raw)
    return {
        "row": row,
        "prediction": prediction,
        "probability": probability,
        "raw_output": raw,
        "base_value": base,
        "shap": {f.name: value for f, value in zip(schema.features, shap, strict=True)},
        "reasons": reasons(schema, inputs, shap, count),
        "inputs": {f.name: f.decode(v) for f, v in zip(schema.features, inputs, strict=True)},
    }


def _row_keys(app: Appliance, version: ModelVersion, table: Table, rows: list[int]) -> list[str | None]:
    """The row key of each decided row as a keyed pseudonym (HMAC under the appliance's key, per model)."""
    key = version.parsed_schema.key
    if key is None or key not in table.columns:
        return [None] * len(rows)
    column = table.columns.index(key)
    digest = app.redactor.pseudonymizer.digest
    return [digest(f"tabular:{version.name}", ROW_KEY_TYPE, table.rows[r][column])[:24] for r in rows]


def _event(version: ModelVersion, prediction: dict[str, Any], row_key: str | None) -> dict[str, Any]:
    return {
        "version": version.version,
        "sha256": version.sha256,
        "row_key": row_key,
        "inputs": prediction["inputs"],
        "prediction": prediction["prediction"],
        "probability": prediction["probability"],
        "raw_output": prediction["raw_output"],
        "base_value": prediction["base_value"],
        "shap": prediction["shap"],
        "reasons": prediction["reasons"],
        "counterfactual": prediction["counterfactual"],
        **({"narrative": prediction["narrative"]} if "narrative" in prediction else {}),
    }
