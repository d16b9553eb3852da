"""Held-out metrics, in plain Python so the core needs no scikit-learn: ROC AUC, accuracy, F1 and the
Brier score (calibration) for a two-class model; RMSE, MAE and R2 for a regression."""

from __future__ import annotations

import math
from collections.abc import Sequence


def classification_metrics(truth: Sequence[int], probability: Sequence[float]) -> dict[str, float]:
    """`truth` is 1 for the favourable class; `probability` is the model's probability of it."""
    predicted = [1 if p >= 0.5 else 0 for p in probability]
    hits = sum(1 for t, p in zip(truth, predicted, strict=True) if t == p)
    true_positive = sum(1 for t, p in zip(truth, predicted, strict=True) if t == p == 1)
    precision = true_positive / max(1, sum(predicted))
    recall = true_positive / max(1, sum(truth))
    return {
        "roc_auc": round(roc_auc(truth, probability), 4),
        "accuracy": round(hits / len(truth), 4),
        "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
        "brier": round(sum((p - t) ** 2 for t, p in zip(truth, probability, strict=True)) / len(truth), 4),
    }


def roc_auc(truth: Sequence[int], score: Sequence[float]) -> float:
    """The probability that a random positive scores above a random negative (ties count half)."""
    order = sorted(range(len(score)), key=lambda i: score[i])
    ranks = [0.0] * len(score)
    i = 0
    while i < len(order):  # average ranks over ties
        j = i
        while j + 1 < len(order) and score[order[j + 1]] == score[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    positives = sum(truth)
    negatives = len(truth) - positives
    if not positives or not negatives:
        return math.nan
    rank_sum = sum(r for r, t in zip(ranks, truth, strict=True) if t == 1)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def regression_metrics(truth: Sequence[float], predicted: Sequence[float]) -> dict[str, float]:
    errors = [p - t for t, p in zip(truth, predicted, strict=True)]
    mean = sum(truth) / len(truth)
    total = sum((t - mean) ** 2 for t in truth)
    squared = sum(e * e for e in errors)
    return {
        "rmse": round(math.sqrt(squared / len(errors)), 4),
        "mae": round(sum(abs(e) for e in errors) / len(errors), 4),
        "r2": round(1 - squared / total, 4) if total else math.nan,
    }


def multiclass_metrics(truth: Sequence[int], class_raw: Sequence[Sequence[float]]) -> dict[str, float]:
    """Accuracy, macro-averaged F1 and the mean log loss, from each class's raw output (softmax)."""
    probabilities = [softmax(row) for row in class_raw]
    predicted = [max(range(len(p)), key=p.__getitem__) for p in probabilities]
    classes = range(len(class_raw[0]))
    f1s = []
    for k in classes:
        hits = sum(1 for t, p in zip(truth, predicted, strict=True) if t == p == k)
        precision, recall = hits / max(1, predicted.count(k)), hits / max(1, list(truth).count(k))
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return {
        "accuracy": round(sum(1 for t, p in zip(truth, predicted, strict=True) if t == p) / len(truth), 4),
        "f1_macro": round(sum(f1s) / len(f1s), 4),
        "log_loss": round(
            -sum(math.log(max(p[t], 1e-15)) for t, p in zip(truth, probabilities, strict=True)) / len(truth), 4
        ),
    }


def softmax(raw: Sequence[float]) -> list[float]:
    top = max(raw)
    exps = [math.exp(r - top) for r in raw]
    total = sum(exps)
    return [e / total for e in exps]
