"""The tabular benchmark runs on the real libraries and reports every figure the issue asks for."""

from __future__ import annotations

import pytest

from appliance.bench.tabular import GERMAN, _folds, format_report, run_tabular_bench
from tests.conftest import EVAL


def test_folds_are_stratified_and_cover_every_row_once() -> None:
    target = [1.0] * 70 + [0.0] * 30
    folds = _folds(target, 5, seed=7)
    assert sorted(i for fold in folds for i in fold) == list(range(100))
    assert all(sum(target[i] for i in fold) == 14 for fold in folds)


def test_bench_tabular_measures_against_its_baselines(settings, models) -> None:  # type: ignore[no-untyped-def]
    if not (EVAL / GERMAN).is_file():
        pytest.skip("../shared/eval/tabular is not present")
    result = run_tabular_bench(
        settings, models, eval_dir=EVAL, synthetic_rows=2000, explain_rows=200, kernel_rows=2, folds=2, decisions=3
    )
    german = result["german_credit"]
    assert german["protected_included"]["features"] == german["protected_excluded"]["features"] + 3
    assert 0.6 < german["protected_excluded"]["roc_auc_mean"] < 1
    explain = result["explain"]
    assert explain["rows"] == 200 and explain["speedup_vs_kernel"] > 1
    assert result["additivity_max_error"] <= 1e-6
    assert result["decision"]["decisions"] == 3 and result["decision"]["p50_ms"] > 0
    report = format_report(result)
    assert "shap KernelExplainer" in report and "protected attributes excluded" in report
