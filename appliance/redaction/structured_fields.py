"""Table-aware detection: a column or form field that holds personal data is redacted in
every row, also where the language model misses a value.

Loaders write table rows and forms as `Label: value` fields ("Name: Jane Roe; Phone: ...",
"Attendee: ... | Email: ...", "From: ..."). A field is personal data when its label says so
(the header vocabulary) or when most values under the same label in the document were
detected as one type (the values say so).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from appliance.ports import DetectedEntity

# "Vendor name", "file name": a name label qualified by one of these is not a person.
NOT_A_PERSON_QUALIFIERS = frozenset(
    {
        "company",
        "vendor",
        "supplier",
        "organisation",
        "organization",
        "business",
        "product",
        "file",
        "branch",
        "bank",
        "department",
        "project",
        "team",
        "street",
        "city",
        "country",
        "brand",
        "trade",
        "legal",
        "entity",
        "domain",
        "host",
        "server",
        "account",
        "fund",
        "plan",
        "policy",
        "program",
        "programme",
        "document",
        "field",
        "sheet",
    }
)
EMPTY_VALUES = frozenset({"", "-", "--", "n/a", "na", "none", "null", "nan", "unknown", "tbd", "?"})

# A field: a short label, a colon, a value up to the next field separator or the end of the line.
_FIELD = re.compile(r"(?:^|(?<=; )|(?<= \| ))(?P<label>[^\n:;|]{1,40}?):[ \t]+(?P<value>[^\n;|]*[^\n;|\s])", re.M)


@dataclass(frozen=True)
class FieldValue:
    """One labelled value: where it sits (block, span) and its normalised label."""

    block: int
    label: str
    start: int
    end: int


def normalise_label(label: str) -> str:
    """'  E-Mail Address ' -> 'e-mail address'."""
    return re.sub(r"\s+", " ", label.strip().lower().strip("*#-•·"))


def parse_fields(blocks: Sequence[str]) -> list[FieldValue]:
    """Every `Label: value` field in the blocks."""
    found = []
    for index, text in enumerate(blocks):
        for match in _FIELD.finditer(text):
            label = normalise_label(match.group("label"))
            if label and len(label.split()) <= 5:
                found.append(FieldValue(index, label, match.start("value"), match.end("value")))
    return found


class FieldClassifier:
    """Decides which labels hold personal data, from the vocabulary and from the values."""

    def __init__(self, labels: Mapping[str, Sequence[str]], redacted_types: Sequence[str]) -> None:
        allowed = set(redacted_types)
        self._phrases = sorted(
            ((phrase.lower(), kind) for kind, phrases in labels.items() if kind in allowed for phrase in phrases),
            key=lambda item: -len(item[0]),
        )

    def type_of_label(self, label: str) -> str | None:
        """The entity type a label announces, if any ('customer name' -> PERSON, 'vendor name' -> None)."""
        for phrase, kind in self._phrases:
            if label == phrase or label.endswith(" " + phrase):
                qualifier = label[: -len(phrase)].split()
                if kind == "PERSON" and qualifier and qualifier[-1] in NOT_A_PERSON_QUALIFIERS:
                    return None
                return kind
        return None

    def entities(
        self, blocks: Sequence[str], detected: Sequence[Sequence[DetectedEntity]]
    ) -> list[list[DetectedEntity]]:
        """Extra spans per block for every value in a personal-data field or column."""
        fields = [f for f in parse_fields(blocks) if _meaningful(blocks[f.block][f.start : f.end])]
        column_types = self._column_types(blocks, fields, detected)
        extra: list[list[DetectedEntity]] = [[] for _ in blocks]
        for field in fields:
            kind = self.type_of_label(field.label) or column_types.get(field.label)
            if kind and _plausible(kind, blocks[field.block][field.start : field.end]):
                extra[field.block].append(DetectedEntity(kind, field.start, field.end, 0.9))
        return extra

    @staticmethod
    def _column_types(
        blocks: Sequence[str], fields: Sequence[FieldValue], detected: Sequence[Sequence[DetectedEntity]]
    ) -> dict[str, str]:
        """Labels whose values were mostly detected as one type: at least 2 values and 60% of them."""
        votes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        totals: dict[str, int] = defaultdict(int)
        for field in fields:
            totals[field.label] += 1
            size = field.end - field.start
            for entity in detected[field.block]:
                covered = min(entity.end, field.end) - max(entity.start, field.start)
                if covered > 0 and covered * 2 >= size:
                    votes[field.label][entity.entity_type] += 1
                    break
        columns = {}
        for label, by_type in votes.items():
            kind, count = max(by_type.items(), key=lambda item: item[1])
            if count >= 2 and count >= 0.6 * totals[label]:
                columns[label] = kind
        return columns


def _meaningful(value: str) -> bool:
    return value.strip().lower() not in EMPTY_VALUES and any(c.isalnum() for c in value)


def _plausible(kind: str, value: str) -> bool:
    """Cheap shape checks, so 'Phone: ask reception' is not redacted as a phone number."""
    digits = sum(c.isdigit() for c in value)
    if kind in {"PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "US_BANK_NUMBER"}:
        return digits >= 5
    if kind == "EMAIL_ADDRESS":
        return "@" in value
    if kind == "IP_ADDRESS":
        return digits >= 4 or ":" in value
    if kind == "PERSON":
        return any(c.isalpha() for c in value) and len(value) <= 120
    return True
