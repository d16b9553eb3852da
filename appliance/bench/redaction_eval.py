"""Scores redaction against labelled PII data (presidio-research JSON), per entity type of our policy.

Pure counting: it takes texts, gold spans and predicted spans and returns numbers and tables.
The detectors run in `appliance/bench/redact.py`; nothing here imports an NLP library.

Two views of recall are kept side by side:
- typed: a gold span is found when a predicted span of the same type overlaps it;
- any-overlap: it is found when any redacted span overlaps it (the privacy view: did it leave the
  document in clear text?).
Overlap means at least one shared character; offsets are half-open [start, end).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from appliance.ports import DetectedEntity

KEPT = "kept by policy"
NOT_IN_POLICY = "not in policy"
UNMAPPED = "unmapped"

# How each label of presidio_synth_dataset_v2.json is judged against our entity policy.
# A policy type name: the label is scored as that type (recall, precision, F2).
# KEPT: facts people ask about (places, organisations, ordinary dates); never a miss, and a redaction
#   on one is over-redaction (a policy-typed prediction on one also counts against precision).
# NOT_IN_POLICY: labelled by the data set, neither redacted nor deliberately kept by us; same rule.
# A label missing here (another data set) is reported as UNMAPPED with the kept labels, never dropped.
LABEL_MAPPING: Mapping[str, str] = MappingProxyType(
    {
        "PERSON": "PERSON",
        "STREET_ADDRESS": "STREET_ADDRESS",  # our address recognizer's type
        "EMAIL_ADDRESS": "EMAIL_ADDRESS",
        "PHONE_NUMBER": "PHONE_NUMBER",
        "CREDIT_CARD": "CREDIT_CARD",
        "US_SSN": "US_SSN",
        "IBAN_CODE": "IBAN_CODE",
        "IP_ADDRESS": "IP_ADDRESS",
        "US_DRIVER_LICENSE": "US_DRIVER_LICENSE",
        "GPE": KEPT,
        "ORGANIZATION": KEPT,
        "DATE_TIME": KEPT,  # ordinary dates are kept; dates of birth are a separate type
        "TITLE": NOT_IN_POLICY,
        "AGE": NOT_IN_POLICY,
        "NRP": NOT_IN_POLICY,
        "ZIP_CODE": NOT_IN_POLICY,
        "DOMAIN_NAME": NOT_IN_POLICY,
    }
)
_ROLES = (KEPT, NOT_IN_POLICY, UNMAPPED)
# The scored types, in table order.
POLICY_TYPES: tuple[str, ...] = tuple(dict.fromkeys(v for v in LABEL_MAPPING.values() if v not in _ROLES))


@dataclass(frozen=True)
class Target:
    """What a policy type must reach: any-overlap recall and typed precision."""

    recall: float
    precision: float = 0.85


TARGETS: Mapping[str, Target] = MappingProxyType(
    {
        "EMAIL_ADDRESS": Target(0.95),
        "PHONE_NUMBER": Target(0.95),
        "CREDIT_CARD": Target(0.95),
        "US_SSN": Target(0.95),
        "IBAN_CODE": Target(0.95),
        "IP_ADDRESS": Target(0.95),
        "PERSON": Target(0.90),
    }
)

# Rows of the published table that name a different type than ours.
_PUBLISHED_NAMES: Mapping[str, str | None] = MappingProxyType(
    {
        "LOCATION (address/GPE)": "STREET_ADDRESS",
        "URL (domain)": None,
    }
)


@dataclass(frozen=True)
class GoldSpan:
    """One labelled span of a sample, with the data set's own label."""

    label: str
    start: int
    end: int


@dataclass(frozen=True)
class Sample:
    """A text and its labelled spans."""

    text: str
    spans: tuple[GoldSpan, ...]


def load_dataset(path: Path | str) -> list[Sample]:
    """Samples of a presidio-research JSON file, with offsets checked so a bad file fails loudly."""
    path = Path(path)
    records = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON list of samples")
    samples = []
    for index, record in enumerate(records):
        text = record["full_text"]
        spans = []
        for span in record.get("spans") or []:
            start, end = int(span["start_position"]), int(span["end_position"])
            if not 0 <= start < end <= len(text):
                raise ValueError(f"{path}: sample {index}: span [{start}, {end}) outside its text")
            value = span.get("entity_value")
            if value is not None and text[start:end] != value:
                raise ValueError(f"{path}: sample {index}: text[{start}:{end}] is not {value!r}")
            spans.append(GoldSpan(span["entity_type"], start, end))
        samples.append(Sample(text, tuple(spans)))
    return samples


def label_role(label: str) -> str:
    """Our policy type for a data-set label, or KEPT / NOT_IN_POLICY / UNMAPPED."""
    return LABEL_MAPPING.get(label, UNMAPPED)


def overlaps(predicted: DetectedEntity, gold: GoldSpan) -> bool:
    """True when the two half-open spans share at least one character."""
    return min(predicted.end, gold.end) - max(predicted.start, gold.start) >= 1


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class EntityScores:
    """Counts for one policy type (or all of them, micro-averaged); rates derive from them."""

    entity: str
    gold: int = 0
    samples: int = 0
    found_typed: int = 0
    found_any: int = 0
    predicted: int = 0
    correct: int = 0

    @property
    def recall_typed(self) -> float | None:
        return _ratio(self.found_typed, self.gold)

    @property
    def recall_any(self) -> float | None:
        return _ratio(self.found_any, self.gold)

    @property
    def precision(self) -> float | None:
        return _ratio(self.correct, self.predicted)

    @property
    def f2(self) -> float | None:
        """F-beta with beta 2 over typed precision and typed recall (recall weighs more, as Presidio reports)."""
        p, r = self.precision, self.recall_typed
        if p is None or r is None:
            return None
        return 5 * p * r / (4 * p + r) if p + r else 0.0


@dataclass
class OverRedaction:
    """A label we do not redact: how many of its gold spans got redacted anyway (lower is better)."""

    label: str
    role: str
    gold: int = 0
    redacted: int = 0

    @property
    def share(self) -> float | None:
        return _ratio(self.redacted, self.gold)


@dataclass
class Scores:
    """Everything one detector scored on one data set."""

    samples: int
    redacted_types: frozenset[str]
    entities: dict[str, EntityScores]
    overall: EntityScores
    others: dict[str, OverRedaction]
    # Redacted predictions of a type outside the scored mapping (no gold type to be right about).
    unscored_predictions: dict[str, int] = field(default_factory=dict)


def score(
    samples: Sequence[Sample], predictions: Sequence[Sequence[DetectedEntity]], redacted_types: Collection[str]
) -> Scores:
    """Per-type and micro recall/precision, plus over-redaction of the labels we keep; only redacted types count."""
    if len(samples) != len(predictions):
        raise ValueError(f"{len(predictions)} prediction lists for {len(samples)} samples")
    redacted = frozenset(redacted_types)
    entities = {t: EntityScores(t) for t in POLICY_TYPES}
    others: dict[str, OverRedaction] = {}
    unscored: Counter[str] = Counter()
    for sample, predicted in zip(samples, predictions, strict=True):
        spans = [p for p in predicted if p.entity_type in redacted]
        present: set[str] = set()
        for gold in sample.spans:
            role = label_role(gold.label)
            hit = [p for p in spans if overlaps(p, gold)]
            if role in entities:
                counts = entities[role]
                present.add(role)
                counts.gold += 1
                counts.found_any += bool(hit)
                counts.found_typed += any(p.entity_type == role for p in hit)
            else:
                other = others.setdefault(gold.label, OverRedaction(gold.label, role))
                other.gold += 1
                other.redacted += bool(hit)
        for role in present:
            entities[role].samples += 1
        for p in spans:
            if p.entity_type not in entities:
                unscored[p.entity_type] += 1
                continue
            counts = entities[p.entity_type]
            counts.predicted += 1
            counts.correct += any(label_role(g.label) == p.entity_type and overlaps(p, g) for g in sample.spans)
    overall = EntityScores(
        "overall",
        gold=sum(e.gold for e in entities.values()),
        samples=sum(1 for s in samples if any(label_role(g.label) in entities for g in s.spans)),
        found_typed=sum(e.found_typed for e in entities.values()),
        found_any=sum(e.found_any for e in entities.values()),
        predicted=sum(e.predicted for e in entities.values()),
        correct=sum(e.correct for e in entities.values()),
    )
    ordered_others = dict(sorted(others.items(), key=lambda kv: (_ROLES.index(kv[1].role), -kv[1].gold, kv[0])))
    return Scores(len(samples), redacted, entities, overall, ordered_others, dict(sorted(unscored.items())))


def meets_target(scores: EntityScores) -> bool | None:
    """Any-overlap recall and typed precision against TARGETS; None where there is no target or no data."""
    target = TARGETS.get(scores.entity)
    recall, precision = scores.recall_any, scores.precision
    if target is None or recall is None:
        return None
    return recall >= target.recall and precision is not None and precision >= target.precision


def parse_published(path: Path | str) -> dict[str, tuple[float, float]]:
    """(precision, recall) per type from the first table of presidio_published_results.md; {} if the file is absent."""
    path = Path(path)
    if not path.is_file():
        return {}
    published: dict[str, tuple[float, float]] = {}
    in_table = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.lstrip().startswith("|"):
            if in_table:
                break  # only the first table: later ones describe other configurations
            continue
        in_table = True
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not all(re.fullmatch(r"\d+(\.\d+)?", c) for c in cells[1:3]):
            continue  # header, separator, or a row without numbers
        name = _PUBLISHED_NAMES.get(cells[0], cells[0])
        if name is not None:
            published[name] = (float(cells[1]), float(cells[2]))
    return published


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "NO")


def _target_text(entity: str) -> str:
    target = TARGETS.get(entity)
    return "-" if target is None else f"R>={target.recall:.2f} P>={target.precision:.2f}"


def format_table(
    ours: Scores,
    baseline: Scores,
    published: Mapping[str, tuple[float, float]],
    ours_name: str = "ours",
    baseline_name: str = "plain Presidio",
) -> str:
    """Fixed-width per-entity comparison of ours, the baseline and Presidio's published numbers, for a terminal."""
    if ours.samples != baseline.samples:
        raise ValueError(f"ours scored {ours.samples} samples, the baseline {baseline.samples}")
    group = 21
    lines = [
        f"Redaction quality on {ours.samples} samples (gold n and samples: spans and samples labelled with the type)",
        "",
        f"{'':<18}{'':>6}{'':>8} | {ours_name[:group]:^{group}} | {baseline_name[:group]:^{group}} | "
        f"{'published':^13} |",
        f"{'entity':<18}{'n':>6}{'samples':>8} | {'P':>5} {'R typed':>7} {'R any':>7} | {'P':>5} {'R typed':>7} "
        f"{'R any':>7} | {'P':>6} {'R':>6} | {'target':<15} {'meets':>5}",
    ]
    lines.append("-" * len(lines[-1]))
    rows = [(t, ours.entities[t], baseline.entities[t]) for t in POLICY_TYPES]
    rows.append(("overall (micro)", ours.overall, baseline.overall))
    for name, mine, base in rows:
        pub = published.get(name)
        pub_p, pub_r = pub if pub else (None, None)
        if name == "overall (micro)":
            lines.append("-" * len(lines[3]))
        lines.append(
            f"{name:<18}{mine.gold:>6}{mine.samples:>8} | "
            f"{_num(mine.precision):>5} {_num(mine.recall_typed):>7} {_num(mine.recall_any):>7} | "
            f"{_num(base.precision):>5} {_num(base.recall_typed):>7} {_num(base.recall_any):>7} | "
            f"{_num(pub_p):>6} {_num(pub_r):>6} | {_target_text(name):<15} {_yes_no(meets_target(mine)):>5}"
        )
    lines += [
        "",
        "meets: judged on ANY-OVERLAP recall (privacy view: was the span redacted at all, whatever the type)",
        "  and TYPED precision; typed recall is shown alongside. '-' = no target or no data.",
        "P: a predicted span of a policy type is correct if it overlaps a gold span of that type by >= 1 character;",
        "  predicted types outside the policy mapping (e.g. plain Presidio's LOCATION, DATE_TIME) are not counted,",
        "  so a detector without a STREET_ADDRESS type scores 0 recall there.",
        "published: presidio-research notebook 4 (defaults, en_core_web_lg, threshold 0.4); its LOCATION row",
        "  (address + GPE together) is shown on STREET_ADDRESS.",
        "Small n (under 30 spans) moves recall by several points per span.",
    ]
    for name, scores in ((ours_name, ours), (baseline_name, baseline)):
        if scores.unscored_predictions:
            counts = ", ".join(f"{t} {n}" for t, n in scores.unscored_predictions.items())
            lines.append(f"Redacted spans of types without gold labels ({name}): {counts}")
    lines += ["", _format_others(ours, baseline, ours_name, baseline_name)]
    return "\n".join(lines)


def _format_others(ours: Scores, baseline: Scores, ours_name: str, baseline_name: str) -> str:
    labels = list(dict.fromkeys([*ours.others, *baseline.others]))
    width = max(len(ours_name), len(baseline_name), 8)
    lines = [
        "Kept by policy / not in policy: share of gold spans redacted anyway (over-redaction, lower is better)",
        f"{'label':<14}{'role':<16}{'n':>6}  {ours_name:>{width}}  {baseline_name:>{width}}",
    ]
    lines.append("-" * len(lines[-1]))
    for label in labels:
        mine = ours.others.get(label)
        base = baseline.others.get(label)
        first = mine or baseline.others[label]
        lines.append(
            f"{label:<14}{first.role:<16}{first.gold:>6}  {_num(mine.share if mine else None):>{width}}  "
            f"{_num(base.share if base else None):>{width}}"
        )
    return "\n".join(lines)


def _entity_json(scores: EntityScores) -> dict[str, Any]:
    return {
        "gold": scores.gold,
        "samples": scores.samples,
        "found_typed": scores.found_typed,
        "found_any": scores.found_any,
        "predicted": scores.predicted,
        "correct": scores.correct,
        "precision": scores.precision,
        "recall_typed": scores.recall_typed,
        "recall_any": scores.recall_any,
        "f2": scores.f2,
        "meets_target": meets_target(scores),
    }


def scores_to_json(scores: Scores) -> dict[str, Any]:
    """One detector's numbers as plain JSON types."""
    return {
        "samples": scores.samples,
        "redacted_types": sorted(scores.redacted_types),
        "entities": {name: _entity_json(e) for name, e in scores.entities.items()},
        "overall": _entity_json(scores.overall),
        "kept_or_not_in_policy": {
            label: {"role": o.role, "gold": o.gold, "redacted": o.redacted, "share_redacted": o.share}
            for label, o in scores.others.items()
        },
        "unscored_predictions": dict(scores.unscored_predictions),
    }


def to_json(ours: Scores, baseline: Scores, published: Mapping[str, tuple[float, float]]) -> dict[str, Any]:
    """The numbers of format_table as a dict, for --json output and for comparing runs."""
    return {
        "ours": scores_to_json(ours),
        "baseline": scores_to_json(baseline),
        "published": {name: {"precision": p, "recall": r} for name, (p, r) in published.items()},
        "targets": {name: {"recall_any": t.recall, "precision": t.precision} for name, t in TARGETS.items()},
        "label_mapping": dict(LABEL_MAPPING),
    }
