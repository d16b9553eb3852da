"""`appliance tabular train`: a table in, a registered, explained, audited model out.

The split and the trees are seeded, so the same table and settings give the same model bytes.
The registered model is the one trained on the training split, so the held-out metrics it carries
are its own.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.actors import Actor
from appliance.app import Appliance
from appliance.audit import events as audit_events
from appliance.file_digest import file_sha256
from appliance.ports import TreeLearner
from appliance.redaction.structured_fields import FieldClassifier
from appliance.settings import TabularSettings
from appliance.tabular.explain import check_additivity, disparity, global_importance, sigmoid
from appliance.tabular.metrics import classification_metrics, multiclass_metrics, regression_metrics
from appliance.tabular.registry import ModelRegistry, ModelVersion, check_name
from appliance.tabular.schema import Detect, Schema, infer_schema, protected_attribute
from appliance.tabular.table import Table, read_table


@dataclass(frozen=True)
class TrainRequest:
    path: Path
    name: str
    target: str
    key: str | None = None
    favourable: str | None = None
    allow_protected: Sequence[str] = ()
    actionable: Sequence[str] | None = None  # None: the settings' list


def train(
    app: Appliance, learner: TreeLearner, registry: ModelRegistry, request: TrainRequest, actor: Actor
) -> ModelVersion:
    """Read, infer the schema, train on a seeded split, check the explanations, register, audit."""
    check_name(request.name)
    settings = app.settings.tabular
    table = read_table(request.path, settings.max_rows)
    schema = infer_schema(
        table,
        target=request.target,
        key=request.key,
        favourable=request.favourable,
        fields=FieldClassifier(app.settings.redaction.field_labels, app.settings.redaction.redacted_types),
        detect=detector_of(app),
        protected=settings.protected_attributes,
        allow_protected=request.allow_protected,
        actionable=settings.actionable if request.actionable is None else request.actionable,
    )
    inputs = schema.encode_rows(table)
    target = _target(table, schema)
    train_rows, held_out = split(target, schema.task, settings.held_out_fraction, settings.seed)
    params = tree_params(settings)
    objective = schema.task
    if schema.task == "multiclass":
        params["num_class"] = len(schema.classes)
    started = time.perf_counter()
    model_text = learner.train(
        [inputs[i] for i in train_rows],
        [target[i] for i in train_rows],
        categorical=schema.categorical_indices,
        objective=objective,
        params=params,
    )
    seconds = time.perf_counter() - started
    explanation = learner.explain(model_text, [inputs[i] for i in held_out])
    additivity = check_additivity(explanation)
    truth = [target[i] for i in held_out]
    if schema.task == "binary":
        probability = [sigmoid(r) for r in explanation.raw]
        metrics: dict[str, Any] = classification_metrics([int(t) for t in truth], probability)
        report = _disparity(table, schema, held_out, [p >= 0.5 for p in probability], settings.protected_attributes)
    elif schema.task == "multiclass":
        metrics = multiclass_metrics([int(t) for t in truth], explanation.class_raw)
        report = []
    else:
        metrics = regression_metrics(truth, explanation.raw)
        report = []
    metrics.update(
        held_out_rows=len(held_out),
        training_rows=len(train_rows),
        training_seconds=round(seconds, 3),
        additivity_max_error=additivity,
        importance=global_importance(schema, explanation),
    )
    version = registry.add(
        ModelVersion(
            name=request.name,
            version=0,
            sha256="",
            file="",
            schema=schema.to_json(),
            metrics=metrics,
            data_sha256=file_sha256(request.path),
            rows=len(table.rows),
            params={**params, "objective": objective},
            explainer=learner.identity,
            trained_by=actor.name,
            trained_ms=int(time.time() * 1000),
            favourable=schema.classes[1] if schema.task == "binary" else None,
            disparity=report,
        ),
        model_text,
    )
    app.audit.record(actor, audit_events.TABULAR_TRAIN, subject=version.name, details=train_details(version))
    return version


def tree_params(settings: TabularSettings) -> dict[str, Any]:
    """The trees' parameters from the settings (seeded: the same table gives the same model bytes)."""
    return {
        "trees": settings.trees,
        "learning_rate": settings.learning_rate,
        "num_leaves": settings.leaves,
        "min_data_in_leaf": settings.min_rows_per_leaf,
        "seed": settings.seed,
    }


def detector_of(app: Appliance) -> Detect:
    """The redactor's detector as the schema asks for it: each found entity's type and the share it covers."""

    def detect(texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        found = app.redactor.spans(texts)
        return [
            [(e.entity_type, (e.end - e.start) / max(1, len(text))) for e in spans]
            for text, spans in zip(texts, found, strict=True)
        ]

    return detect


def split(target: Sequence[float], task: str, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """A seeded split of row indices; stratified by class for a classifier."""
    rng = random.Random(seed)
    strata: dict[float, list[int]] = {}
    for index, value in enumerate(target):
        strata.setdefault(value if task != "regression" else 0.0, []).append(index)
    train_rows: list[int] = []
    held_out: list[int] = []
    for _, rows in sorted(strata.items()):
        rng.shuffle(rows)
        cut = max(1, round(len(rows) * fraction))
        held_out += rows[:cut]
        train_rows += rows[cut:]
    return sorted(train_rows), sorted(held_out)


def train_details(version: ModelVersion) -> dict[str, Any]:
    """The training event: what was learnt from what, how well, and what was left out (names only)."""
    schema = version.parsed_schema
    return {
        "version": version.version,
        "sha256": version.sha256,
        "data_sha256": version.data_sha256,
        "rows": version.rows,
        "task": schema.task,
        "target": schema.target,
        "favourable": version.favourable,
        "features": [f.name for f in schema.features],
        "excluded": [{"column": e.name, "reason": e.reason} for e in schema.excluded],
        "metrics": {k: v for k, v in version.metrics.items() if k != "importance"},
        "disparity": version.disparity,
        "explainer": version.explainer,
    }


def _target(table: Table, schema: Schema) -> list[float]:
    values = table.column(schema.target)
    if schema.task == "binary":
        return [1.0 if v == schema.classes[1] else 0.0 for v in values]
    if schema.task == "multiclass":
        return [float(schema.classes.index(v)) for v in values]
    return [float(v) for v in values]


def _disparity(
    table: Table,
    schema: Schema,
    held_out: Sequence[int],
    favourable: Sequence[bool],
    protected: dict[str, list[str]],
) -> list[dict[str, Any]]:
    """For each protected column of the table: the model's favourable rate per group on held-out rows."""
    reports = []
    for name in table.columns:
        attribute = protected_attribute(name, protected)
        if attribute is None or name == schema.target:
            continue
        values = [table.rows[i][table.columns.index(name)] for i in held_out]
        groups = _groups(values)
        reports.append({"column": name, "attribute": attribute, "groups": disparity(groups, favourable)})
    return reports


def _groups(values: list[str]) -> list[str]:
    """Numbers fall in quartile bands (an age becomes '26-33'); other values are their own group."""
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        return values
    edges = statistics.quantiles(numbers, n=4)
    bands = [sum(1 for e in edges if n > e) for n in numbers]
    low: dict[int, float] = {}
    high: dict[int, float] = {}
    for band, n in zip(bands, numbers, strict=True):
        low[band], high[band] = min(low.get(band, n), n), max(high.get(band, n), n)
    return [f"{low[b]:g}-{high[b]:g}" for b in bands]
