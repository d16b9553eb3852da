"""Which columns of a table a model may learn from, and as what.

Personal data in tables follows the documents' policy: a column whose header announces an
identifier (the redaction policy's field labels) or whose values the redactor finds to be one is
never a feature and is never stored. Protected attributes (settings) are excluded unless the
operator opts a column in. Free text is refused as a feature. The rest is numeric or categorical.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from appliance.redaction.structured_fields import FieldClassifier, normalise_label
from appliance.tabular.table import Table

MISSING = frozenset({"", "na", "n/a", "nan", "null", "?", "(missing)"})
SAMPLE = 50  # values per column the redactor reads
IDENTIFIER_SHARE = 0.3  # of sampled values found to be personal data, for the column to be an identifier
FREE_TEXT_CHARS = 40  # mean length above which a mostly distinct text column is free text
MAX_CATEGORIES = 200
MAX_CLASSES = 20

# Finds the personal data in each text (the redactor's detector): (type, covered share of the text) per text.
Detect = Callable[[Sequence[str]], list[list[tuple[str, float]]]]


@dataclass(frozen=True)
class Feature:
    """A column the model learns from: numeric (with its training range) or categorical (its categories)."""

    name: str
    kind: str  # "numeric" | "categorical"
    categories: list[str] = field(default_factory=list)
    low: float | None = None
    high: float | None = None

    def encode(self, cell: str) -> float:
        """The model's input for a cell; NaN for a missing value. Raises ValueError for a bad one."""
        if cell.strip().lower() in MISSING:
            return math.nan
        if self.kind == "numeric":
            try:
                return float(cell)
            except ValueError:
                raise ValueError(f"{self.name}: {cell!r} is not a number") from None
        try:
            return float(self.categories.index(cell))
        except ValueError:
            raise ValueError(f"{self.name}: {cell!r} is a category the model never saw") from None

    def example(self) -> str:
        """A value inside what the model saw, to start a form with: the first category, or mid-range."""
        if self.kind == "categorical":
            return self.categories[0] if self.categories else ""
        if self.low is None or self.high is None:
            return ""
        middle = (self.low + self.high) / 2
        return f"{round(middle):d}" if float(self.low).is_integer() and float(self.high).is_integer() else f"{middle:g}"

    def decode(self, value: float) -> str:
        """A model input back as the value a person reads."""
        if math.isnan(value):
            return "(missing)"
        if self.kind == "categorical":
            return self.categories[int(value)]
        return f"{value:g}"


@dataclass(frozen=True)
class Excluded:
    """A column that is not a feature, and why (the report shows it)."""

    name: str
    reason: str  # "identifier" | "protected" | "free text" | "key" | "constant"
    detail: str


@dataclass(frozen=True)
class Schema:
    """The model's view of a table: the target, the features in order, what was left out."""

    target: str
    task: str  # "binary" | "multiclass" | "regression"
    classes: list[str]
    features: list[Feature]
    excluded: list[Excluded]
    key: str | None = None
    protected_opt_in: list[str] = field(default_factory=list)
    actionable: list[str] = field(default_factory=list)

    def encode_rows(self, table: Table) -> list[list[float]]:
        """Every row's model inputs, in feature order (ValueError for a cell that does not fit)."""
        positions = [table.columns.index(f.name) for f in self.features]
        return [[f.encode(row[p]) for f, p in zip(self.features, positions, strict=True)] for row in table.rows]

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, f in enumerate(self.features) if f.kind == "categorical"]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Schema:
        return cls(
            target=data["target"],
            task=data["task"],
            classes=list(data["classes"]),
            features=[Feature(**f) for f in data["features"]],
            excluded=[Excluded(**e) for e in data["excluded"]],
            key=data.get("key"),
            protected_opt_in=list(data.get("protected_opt_in", [])),
            actionable=list(data.get("actionable", [])),
        )


class SchemaError(Exception):
    """A table a model cannot be trained on: the message says which column and why."""


def infer_schema(
    table: Table,
    *,
    target: str,
    key: str | None,
    favourable: str | None,
    fields: FieldClassifier,
    detect: Detect,
    protected: Mapping[str, Sequence[str]],
    allow_protected: Sequence[str] = (),
    actionable: Sequence[str] = (),
) -> Schema:
    """Decide each column's part; the target decides the task (two classes: binary, numbers: regression,
    a few text classes: multiclass)."""
    for name in (target, key, *allow_protected):
        if name is not None and name not in table.columns:
            raise SchemaError(f"{table.source}: no column {name!r} (columns: {', '.join(table.columns)})")
    task, classes = _task(table, target, favourable)
    features: list[Feature] = []
    excluded: list[Excluded] = []
    for name in table.columns:
        if name in (target, key):
            if name == key:
                excluded.append(Excluded(name, "key", "the row key: kept only as a keyed pseudonym"))
            continue
        values = table.column(name)
        reason = _identifier(name, values, fields, detect)
        if reason:
            excluded.append(Excluded(name, "identifier", reason))
            continue
        attribute = protected_attribute(name, protected)
        if attribute and name not in allow_protected:
            excluded.append(Excluded(name, "protected", f"{attribute} (opt in with --allow-protected {name})"))
            continue
        feature = _feature(name, values)
        if isinstance(feature, Excluded):
            excluded.append(feature)
        else:
            features.append(feature)
    if not features:
        raise SchemaError(f"{table.source}: no column is usable as a feature")
    changeable = [f.name for f in features if f.name in actionable]
    return Schema(target, task, classes, features, excluded, key, sorted(set(allow_protected)), changeable)


def protected_attribute(name: str, protected: Mapping[str, Sequence[str]]) -> str | None:
    """The protected attribute a column's name announces ('personal_status_and_sex' -> 'sex')."""
    words = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    padded = f"_{words}_"
    for attribute, synonyms in protected.items():
        for synonym in synonyms:
            if f"_{re.sub(r'[^a-z0-9]+', '_', synonym.lower()).strip('_')}_" in padded:
                return attribute
    return None


def _task(table: Table, target: str, favourable: str | None) -> tuple[str, list[str]]:
    values = [v for v in table.column(target) if v.strip().lower() not in MISSING]
    if len(values) != len(table.rows):
        raise SchemaError(f"{table.source}: the target {target!r} is missing in {len(table.rows) - len(values)} rows")
    distinct = sorted(set(values))
    if len(distinct) == 2:
        if favourable is not None and favourable not in distinct:
            raise SchemaError(f"{table.source}: --favourable {favourable!r} is not a value of {target!r} ({distinct})")
        unfavourable = next(v for v in distinct if v != (favourable or distinct[1]))
        return "binary", [unfavourable, favourable or distinct[1]]  # class 1 is the favourable outcome
    if all(_is_number(v) for v in values):
        return "regression", []
    if favourable is not None:
        raise SchemaError(f"{table.source}: --favourable needs a two-class target; {target!r} has {len(distinct)}")
    if len(distinct) > MAX_CLASSES:
        raise SchemaError(f"{table.source}: the target {target!r} has {len(distinct)} classes (at most {MAX_CLASSES})")
    return "multiclass", distinct


def _identifier(name: str, values: list[str], fields: FieldClassifier, detect: Detect) -> str:
    label = normalise_label(name.replace("_", " "))
    kind = fields.type_of_label(label)
    if kind:
        return f"the header names a {kind}"
    sample = [v for v in dict.fromkeys(values) if v.strip().lower() not in MISSING][:SAMPLE]
    if not sample or all(_is_number(v) and len(v) < 6 for v in sample):
        return ""
    found: dict[str, int] = {}
    for spans in detect(sample):
        for entity_type, share in spans:
            if share >= 0.6:
                found[entity_type] = found.get(entity_type, 0) + 1
                break
    for entity_type, count in sorted(found.items(), key=lambda item: -item[1]):
        if count >= IDENTIFIER_SHARE * len(sample):
            return f"{count} of {len(sample)} sampled values are {entity_type}"
    return ""


def _feature(name: str, values: list[str]) -> Feature | Excluded:
    present = [v for v in values if v.strip().lower() not in MISSING]
    if len(set(present)) < 2:
        return Excluded(name, "constant", "fewer than two distinct values")
    if all(_is_number(v) for v in present):
        numbers = [float(v) for v in present]
        return Feature(name, "numeric", low=min(numbers), high=max(numbers))
    distinct = sorted(set(present))
    mean_chars = sum(len(v) for v in present) / len(present)
    if len(distinct) > MAX_CATEGORIES or (mean_chars > FREE_TEXT_CHARS and len(distinct) > 0.5 * len(present)):
        return Excluded(name, "free text", f"{len(distinct)} distinct values, {mean_chars:.0f} characters on average")
    return Feature(name, "categorical", categories=distinct)


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False
