"""The redaction-quality benchmark: our detector and a baseline on the same labelled PII, scored and timed.

Detectors come in through the EntityDetector port, so this module stays free of Presidio and spaCy;
the caller builds them (ours from settings, the baseline from `backends/presidio_defaults.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from appliance.bench.redaction_eval import (
    KEPT,
    Sample,
    Scores,
    format_table,
    load_dataset,
    parse_published,
    score,
    scores_to_json,
    to_json,
)
from appliance.ports import DetectedEntity, EntityDetector
from appliance.redaction.known_values import KnownValue, KnownValueMatcher
from appliance.redaction.redactor import merge_spans

Progress = Callable[[str], None]


def _run(
    name: str, detector: EntityDetector, samples: Sequence[Sample], batch_size: int, progress: Progress | None
) -> tuple[list[list[DetectedEntity]], dict[str, float]]:
    """Predictions for every sample in batches, with load time kept apart from analysis time."""
    started = time.perf_counter()
    detector.warm_up()
    load_s = time.perf_counter() - started
    predictions: list[list[DetectedEntity]] = []
    started = time.perf_counter()
    for first in range(0, len(samples), batch_size):
        batch = [s.text for s in samples[first : first + batch_size]]
        found = detector.detect(batch)
        if len(found) != len(batch):
            raise RuntimeError(f"{name} detector returned {len(found)} results for {len(batch)} texts")
        predictions.extend(found)
        if progress is not None:
            progress(f"{name}: {len(predictions)}/{len(samples)} samples")
    seconds = time.perf_counter() - started
    timing = {
        "load_s": round(load_s, 3),
        "seconds": round(seconds, 3),
        "samples_per_s": round(len(samples) / seconds, 2) if seconds > 0 else 0.0,
    }
    return predictions, timing


def _format_timing(timing: dict[str, Any], ours_name: str, baseline_name: str) -> str:
    lines = [f"Timing ({timing['samples']} samples, batches of {timing['batch_size']}; load time not included)"]
    for key, name in (("ours", ours_name), ("baseline", baseline_name)):
        t = timing[key]
        lines.append(
            f"  {name:<16} {t['seconds']:>8.1f} s  {t['samples_per_s']:>7.1f} samples/s  (load {t['load_s']:.1f} s)"
        )
    return "\n".join(lines)


def with_known_values(
    samples: Sequence[Sample], predictions: Sequence[Sequence[DetectedEntity]], propagated_types: Collection[str]
) -> list[list[DetectedEntity]]:
    """Predictions as if every sample were in one collection: each value found anywhere is redacted everywhere."""
    matcher = KnownValueMatcher()
    matcher.add(
        KnownValue(p.entity_type, f"<{p.entity_type}_{n}>", sample.text[p.start : p.end])
        for n, (sample, found) in enumerate(zip(samples, predictions, strict=True))
        for p in found
        if p.entity_type in propagated_types
    )
    return [
        merge_spans([*found, *(DetectedEntity(m.entity_type, m.start, m.end, 1.0) for m in matcher.find(sample.text))])
        for sample, found in zip(samples, predictions, strict=True)
    ]


def format_propagation(alone: Scores, together: Scores) -> str:
    """Recall, precision and over-redaction of our detector alone and with known values across the set."""
    lines = [
        "Known values across the whole set (all samples in one collection, every value found anywhere redacted",
        "everywhere; the table above scores each sample on its own, as before):",
        f"{'':<26}{'P':>7}{'R typed':>9}{'R any':>8}   over-redaction: share of kept gold spans redacted",
    ]
    kept = [label for label, o in alone.others.items() if o.role == KEPT]
    lines[-1] += "  (" + ", ".join(kept) + ")"
    for name, scores in (("ours, each sample alone", alone), ("ours + known values", together)):
        o = scores.overall
        shares = "  ".join(f"{scores.others[k].share or 0:.3f}" for k in kept)
        lines.append(
            f"{name:<26}{o.precision or 0:>7.3f}{o.recall_typed or 0:>9.3f}{o.recall_any or 0:>8.3f}   {shares}"
        )
    return "\n".join(lines)


def run_redaction_bench(
    detector: EntityDetector,
    baseline: EntityDetector,
    data_path: Path | str,
    published_path: Path | str | None,
    limit: int | None = None,
    progress: Progress | None = None,
    *,
    redacted_types: Collection[str],
    batch_size: int = 64,
    ours_name: str = "ours",
    baseline_name: str = "plain Presidio",
    propagated_types: Collection[str] = (),
) -> dict[str, Any]:
    """Scores and timings of both detectors on the first `limit` samples, with the printable table.

    `redacted_types` is the policy's redact list; it applies to both, so the baseline's PERSON,
    PHONE_NUMBER, ... count and its LOCATION or DATE_TIME predictions do not.
    """
    samples = load_dataset(data_path)
    if limit is not None:
        samples = samples[:limit]
    published = parse_published(published_path) if published_path is not None else {}
    ours_predictions, ours_timing = _run(ours_name, detector, samples, batch_size, progress)
    base_predictions, base_timing = _run(baseline_name, baseline, samples, batch_size, progress)
    ours = score(samples, ours_predictions, redacted_types)
    base = score(samples, base_predictions, redacted_types)
    timing: dict[str, Any] = {
        "samples": len(samples),
        "batch_size": batch_size,
        "ours": ours_timing,
        "baseline": base_timing,
    }
    table = format_table(ours, base, published, ours_name, baseline_name)
    result = to_json(ours, base, published)
    result["timing"] = timing
    result["table"] = table + "\n\n" + _format_timing(timing, ours_name, baseline_name)
    if propagated_types:
        together = score(samples, with_known_values(samples, ours_predictions, propagated_types), redacted_types)
        result["ours_with_known_values"] = scores_to_json(together)
        result["table"] += "\n\n" + format_propagation(ours, together)
    return result
