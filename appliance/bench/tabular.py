"""`appliance bench tabular`: the tabular side-models measured against their baselines in one run.

- German credit (real): 5-fold cross-validated ROC AUC with the protected attributes excluded, and with
  them allowed in, and the disparity of the excluded model.
- A synthetic table of N rows (seeded): training time.
- Explanations for 1,000 rows of a 200-tree model: the exact tree path (one batched call) against a
  naive loop (one call per row) and shap's model-agnostic KernelExplainer (sampled, on fewer rows).
- One decision end to end (read, validate, predict, explain, reasons, audit) p50 and p95; the
  counterfactual search alone p50; the largest additivity error seen.
"""

from __future__ import annotations

import csv
import dataclasses
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from appliance.actors import Actor
from appliance.bench.stats import percentile
from appliance.build import Models, build, tree_learner
from appliance.ports import TreeLearner
from appliance.redaction.structured_fields import FieldClassifier
from appliance.settings import Settings
from appliance.tabular.counterfactual import counterfactual
from appliance.tabular.explain import check_additivity, sigmoid
from appliance.tabular.metrics import roc_auc
from appliance.tabular.predict import predict
from appliance.tabular.registry import ModelRegistry
from appliance.tabular.schema import Schema, infer_schema
from appliance.tabular.table import read_table
from appliance.tabular.training import TrainRequest, detector_of, train, tree_params

Progress = Callable[[str], None]
ACTOR = Actor("bench:tabular", "operator")
GERMAN = Path("tabular") / "german_credit.csv"


def run_tabular_bench(
    settings: Settings,
    models: Models,
    *,
    eval_dir: Path,
    synthetic_rows: int = 100_000,
    explain_rows: int = 1_000,
    kernel_rows: int = 10,
    folds: int = 5,
    decisions: int = 50,
    progress: Progress | None = None,
) -> dict[str, Any]:
    say = progress or (lambda _line: None)
    learner = tree_learner(settings)
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-tabular-", dir=settings.tmp_dir) as folder:
        run_settings = settings.model_copy(update={"home": Path(folder)})
        with build(run_settings, models) as app:
            say("German credit: cross-validation ...")
            german = _cross_validate(app, learner, eval_dir / GERMAN, folds)
            say(f"synthetic table: {synthetic_rows:,} rows ...")
            table = _synthetic(Path(folder) / "synthetic.csv", synthetic_rows)
            registry = ModelRegistry(run_settings.tabular_dir)
            started = time.perf_counter()
            version = train(
                app, learner, registry, TrainRequest(table, "synthetic", "outcome", favourable="yes"), ACTOR
            )
            training_seconds = time.perf_counter() - started
            model_text = registry.load(version)
            schema = version.parsed_schema
            inputs = _encoded(table, schema, explain_rows)
            say(f"explanations: {explain_rows} rows x {settings.tabular.trees} trees ...")
            explain = _explanations(learner, model_text, inputs, kernel_rows)
            say(f"one decision end to end, {decisions} times ...")
            decision = _decisions(app, learner, registry, schema, model_text, table, inputs, decisions)
    return {
        "german_credit": german,
        "synthetic": {**version.metrics, "rows": synthetic_rows, "train_command_seconds": round(training_seconds, 2)},
        "explain": explain,
        "decision": decision,
        "trees": settings.tabular.trees,
        "additivity_max_error": max(explain["additivity_max_error"], version.metrics["additivity_max_error"]),
    }


def _cross_validate(app: Any, learner: TreeLearner, path: Path, folds: int) -> dict[str, Any]:
    table = read_table(path, app.settings.tabular.max_rows)
    settings = app.settings.tabular
    results: dict[str, Any] = {"rows": len(table.rows)}
    protected = [c for c in table.columns if c in ("personal_status_and_sex", "age_in_years", "foreign_worker")]
    for label, allowed in (("protected_excluded", ()), ("protected_included", tuple(protected))):
        schema = infer_schema(
            table,
            target="creditability",
            key=None,
            favourable="good",
            fields=FieldClassifier(app.settings.redaction.field_labels, app.settings.redaction.redacted_types),
            detect=detector_of(app),
            protected=settings.protected_attributes,
            allow_protected=allowed,
        )
        inputs = schema.encode_rows(table)
        target = [1.0 if v == "good" else 0.0 for v in table.column("creditability")]
        aucs = []
        for fold in _folds(target, folds, settings.seed):
            train_rows = [i for i in range(len(target)) if i not in fold]
            model = learner.train(
                [inputs[i] for i in train_rows],
                [target[i] for i in train_rows],
                categorical=schema.categorical_indices,
                objective="binary",
                params=tree_params(settings),
            )
            raw = learner.raw_outputs(model, [inputs[i] for i in sorted(fold)])
            aucs.append(roc_auc([int(target[i]) for i in sorted(fold)], raw))
        results[label] = {
            "features": len(schema.features),
            "roc_auc_mean": round(sum(aucs) / len(aucs), 4),
            "roc_auc_folds": [round(a, 4) for a in aucs],
        }
    return results


def _folds(target: Sequence[float], folds: int, seed: int) -> list[set[int]]:
    """Stratified folds: each class's rows shuffled with the seed and dealt out in turn."""
    rng = random.Random(seed)
    dealt: list[set[int]] = [set() for _ in range(folds)]
    position = 0
    for value in sorted(set(target)):
        rows = [i for i, t in enumerate(target) if t == value]
        rng.shuffle(rows)
        for row in rows:
            dealt[position % folds].add(row)
            position += 1
    return dealt


def _synthetic(path: Path, rows: int) -> Path:
    """A seeded table: six numbers, two categories, a yes/no outcome from a noisy logistic rule."""
    rng = random.Random(11)
    regions = ["north", "south", "east", "west", "centre"]
    products = ["loan", "card", "mortgage", "overdraft"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["amount", "duration", "income", "debts", "tenure", "accounts", "region", "product", "outcome"])
        for _ in range(rows):
            amount, duration = rng.randint(250, 20_000), rng.randint(4, 72)
            income, debts = rng.randint(800, 12_000), rng.randint(0, 6)
            tenure, accounts = rng.randint(0, 40), rng.randint(1, 5)
            region, product = rng.choice(regions), rng.choice(products)
            score = 1.5 - amount / 8000 - duration / 40 + income / 4000 - 0.4 * debts + tenure / 20
            score += {"mortgage": 0.5, "overdraft": -0.5}.get(product, 0.0) + rng.gauss(0, 1)
            writer.writerow(
                [amount, duration, income, debts, tenure, accounts, region, product, "yes" if score > 0 else "no"]
            )
    return path


def _encoded(table: Path, schema: Schema, rows: int) -> list[list[float]]:
    return schema.encode_rows(read_table(table, rows, head=rows))


def _explanations(learner: TreeLearner, model_text: str, inputs: list[list[float]], kernel_rows: int) -> dict[str, Any]:
    from appliance.backends.shap_kernel import kernel_explain

    learner.explain(model_text, inputs[:10])  # the booster is parsed once, outside the timings
    started = time.perf_counter()
    batched = learner.explain(model_text, inputs)
    exact_seconds = time.perf_counter() - started
    naive_rows = min(len(inputs), 200)
    started = time.perf_counter()
    for row in inputs[:naive_rows]:
        learner.explain(model_text, [row])
    naive_seconds = time.perf_counter() - started
    background = inputs[:: max(1, len(inputs) // 50)][:50]
    started = time.perf_counter()
    kernel_explain(lambda m: learner.raw_outputs(model_text, m), background, inputs[:kernel_rows], samples=500)
    kernel_seconds = time.perf_counter() - started
    exact_rate = len(inputs) / exact_seconds
    return {
        "rows": len(inputs),
        "exact_seconds": round(exact_seconds, 4),
        "exact_rows_per_second": round(exact_rate),
        "naive_rows_per_second": round(naive_rows / naive_seconds),
        "kernel_rows_per_second": round(kernel_rows / kernel_seconds, 2),
        "kernel_rows": kernel_rows,
        "speedup_vs_naive": round(exact_rate / (naive_rows / naive_seconds), 1),
        "speedup_vs_kernel": round(exact_rate / (kernel_rows / kernel_seconds)),
        "additivity_max_error": check_additivity(batched),
    }


def _decisions(
    app: Any,
    learner: TreeLearner,
    registry: ModelRegistry,
    schema: Schema,
    model_text: str,
    table: Path,
    inputs: list[list[float]],
    count: int,
) -> dict[str, Any]:
    read = read_table(table, count, head=count)
    one_row = table.with_name("one.csv")
    seconds = []
    for cells in read.rows[:count]:
        with one_row.open("w", newline="") as handle:
            csv.writer(handle).writerows([read.columns, cells])
        started = time.perf_counter()
        predict(app, learner, registry, "synthetic", one_row, ACTOR)
        seconds.append((time.perf_counter() - started) * 1000)
    with_actions = dataclasses.replace(schema, actionable=["amount", "duration"])
    raw = learner.raw_outputs(model_text, inputs)
    declined = [row for row, r in zip(inputs, raw, strict=True) if sigmoid(r) < 0.5][:count]
    searches = []
    found = 0
    for row in declined:
        started = time.perf_counter()
        found += counterfactual(with_actions, learner, model_text, row, favourable=False) is not None
        searches.append((time.perf_counter() - started) * 1000)
    return {
        "decisions": len(seconds),
        "p50_ms": round(percentile(seconds, 50), 2),
        "p95_ms": round(percentile(seconds, 95), 2),
        "counterfactual_p50_ms": round(percentile(searches, 50), 2),
        "counterfactual_p95_ms": round(percentile(searches, 95), 2),
        "counterfactuals_found": f"{found} of {len(declined)}",
    }


def format_report(result: dict[str, Any]) -> str:
    german, explain, decision, synthetic = (
        result["german_credit"],
        result["explain"],
        result["decision"],
        result["synthetic"],
    )
    excluded, included = german["protected_excluded"], german["protected_included"]
    lines = [
        f"German credit ({german['rows']} rows), {len(excluded['roc_auc_folds'])}-fold cross-validated ROC AUC:",
        f"  protected attributes excluded ({excluded['features']} features): {excluded['roc_auc_mean']:.4f}"
        f"  (target >= 0.77; folds {excluded['roc_auc_folds']})",
        f"  protected attributes included ({included['features']} features): {included['roc_auc_mean']:.4f}",
        f"synthetic table: {synthetic['rows']:,} rows; the trees fit in {synthetic['training_seconds']:.2f} s on "
        f"{synthetic['training_rows']:,} rows, the whole train (read, schema, split, fit, explain, register, audit) "
        f"{synthetic['train_command_seconds']:.2f} s; held-out ROC AUC {synthetic['roc_auc']:.4f}",
        f"explanations, {explain['rows']} rows x {result['trees']} trees:",
        f"  {'exact tree path (batched)':<34}{explain['exact_rows_per_second']:>12,} rows/s  ({explain['exact_seconds']:.3f} s; target under 1 s)",
        f"  {'naive loop (one call per row)':<34}{explain['naive_rows_per_second']:>12,} rows/s  ({explain['speedup_vs_naive']}x slower)",
        f"  {'shap KernelExplainer (500 samples)':<34}{explain['kernel_rows_per_second']:>12,} rows/s  "
        f"({explain['speedup_vs_kernel']:,}x slower; target >= 100x; {explain['kernel_rows']} rows timed)",
        f"one decision end to end (read, validate, predict, explain, reasons, audit): p50 {decision['p50_ms']:.1f} ms, "
        f"p95 {decision['p95_ms']:.1f} ms (target p50 under 20 ms)",
        f"counterfactual search alone: p50 {decision['counterfactual_p50_ms']:.1f} ms, p95 {decision['counterfactual_p95_ms']:.1f} ms "
        f"(target p50 under 200 ms), found for {decision['counterfactuals_found']} declined rows",
        f"largest additivity error: {result['additivity_max_error']:.2e} (target <= 1e-6)",
    ]
    return "\n".join(lines)
