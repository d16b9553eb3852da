"""Redaction before persistence: detected personal data becomes consistent pseudonyms.

The detector (Presidio, behind a port) only finds spans; this module decides how
overlapping spans merge, which placeholder each gets, and keeps per-type counts
(never the values).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from appliance.ports import DetectedEntity, EntityDetector
from appliance.records import Section
from appliance.redaction.known_values import KnownMatch
from appliance.redaction.pseudonyms import Pseudonymizer
from appliance.redaction.structured_fields import FieldClassifier

if TYPE_CHECKING:  # vault.py reads the catalog
    from appliance.redaction.vault import Vault

SEGMENT_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class TextPart:
    """A piece of source text with its place (page number or label)."""

    text: str
    page: int | None = None
    label: str | None = None


@dataclass
class RedactedText:
    """The stored (redacted) text of a document, its sections, and redaction counts."""

    text: str
    sections: list[Section]
    counts: Counter[str] = field(default_factory=Counter)
    vault_generation: int = 0  # the collection's vault generation the text was redacted with
    known_value_seconds: float = 0.0  # time spent refreshing and matching known values


def split_blocks(text: str, max_chars: int) -> list[str]:
    """Cut text into contiguous blocks of at most max_chars, preferring line then word breaks."""
    blocks: list[str] = []
    start = 0
    while len(text) - start > max_chars:
        window_end = start + max_chars
        cut = text.rfind("\n", start + max_chars // 2, window_end)
        if cut < 0:
            cut = text.rfind(" ", start + max_chars // 2, window_end)
        cut = window_end if cut < 0 else cut + 1
        blocks.append(text[start:cut])
        start = cut
    blocks.append(text[start:])
    return blocks


# Types whose recognizers validate what they find (checksums, strict syntax) name a merged
# span before types found by pattern shape or by the language model.
VALIDATED_TYPES = ("EMAIL_ADDRESS", "IBAN_CODE", "CREDIT_CARD", "US_SSN", "IP_ADDRESS", "CRYPTO", "DATE_OF_BIRTH")


def _lead_rank(entity: DetectedEntity) -> tuple[int, int, float]:
    validated = (
        len(VALIDATED_TYPES) - VALIDATED_TYPES.index(entity.entity_type) if entity.entity_type in VALIDATED_TYPES else 0
    )
    return validated, entity.end - entity.start, entity.score


def merge_spans(entities: Iterable[DetectedEntity]) -> list[DetectedEntity]:
    """Union overlapping spans so no fragment of a value survives.

    A validated type (a Luhn-checked card, an IP address) names the merged span; among
    the others the longest member does.
    """
    ordered = sorted(entities, key=lambda e: (e.start, -e.end))
    merged: list[tuple[int, int, DetectedEntity]] = []
    for entity in ordered:
        if entity.end <= entity.start:
            continue
        if merged and entity.start < merged[-1][1]:
            start, end, lead = merged[-1]
            if _lead_rank(entity) > _lead_rank(lead):
                lead = entity
            merged[-1] = (start, max(end, entity.end), lead)
        else:
            merged.append((entity.start, entity.end, entity))
    return [DetectedEntity(lead.entity_type, start, end, lead.score) for start, end, lead in merged]


class MergedDetector:
    """A detector as the redactor sees it: overlapping spans merged (for benchmarks)."""

    def __init__(self, detector: EntityDetector) -> None:
        self._detector = detector
        self.policy_id = detector.policy_id

    def detect(self, texts: Sequence[str]) -> list[list[DetectedEntity]]:
        return [merge_spans(found) for found in self._detector.detect(texts)]

    def warm_up(self) -> None:
        self._detector.warm_up()


Placeholders = dict[tuple[int, int], str]


def with_known_values(
    spans: list[DetectedEntity], known: list[KnownMatch]
) -> tuple[list[DetectedEntity], Placeholders]:
    """Detected spans merged with known-value matches; a span that is exactly a match keeps the match's placeholder."""
    if not known:
        return spans, {}
    merged = merge_spans([*spans, *(DetectedEntity(k.entity_type, k.start, k.end, 1.0) for k in known)])
    by_span = {(k.start, k.end): k.placeholder for k in known}
    return merged, {(m.start, m.end): by_span[(m.start, m.end)] for m in merged if (m.start, m.end) in by_span}


class Redactor:
    """Applies the entity policy to text: detect, add table/form fields, merge, add known values, replace.

    With a vault, every value the collection already knows is replaced wherever it appears
    (known_values.py), and values an operator put on the ignore list are left alone.
    """

    def __init__(
        self,
        detector: EntityDetector,
        pseudonymizer: Pseudonymizer,
        policy_hash: str,
        fields: FieldClassifier | None = None,
        block_chars: int = 4000,
        vault: Vault | None = None,
    ) -> None:
        self._detector = detector
        self.pseudonymizer = pseudonymizer
        self.policy_hash = policy_hash
        self._fields = fields
        self._block_chars = block_chars
        self.vault = vault

    @property
    def detector(self) -> EntityDetector:
        """The loaded detector (shared with homes built from the same models)."""
        return self._detector

    def with_detector(self, detector: EntityDetector, block_chars: int) -> Redactor:
        """The same policy, pseudonyms, field rules and vault over another detector (the benchmark's baseline)."""
        return Redactor(detector, self.pseudonymizer, self.policy_hash, self._fields, block_chars, self.vault)

    def spans(self, texts: Sequence[str]) -> list[list[DetectedEntity]]:
        """Merged spans to redact per text; field labels and column votes span all the texts."""
        found = self._detector.detect(texts)
        if self._fields is not None:
            extra = self._fields.entities(texts, found)
            found = [[*a, *b] for a, b in zip(found, extra, strict=True)]
        return [merge_spans(f) for f in found]

    def redact_texts(self, texts: Sequence[str], collection: str) -> tuple[list[str], Counter[str]]:
        """Redact texts of one document (or one question) in one detector batch."""
        out, counts, _generation, _seconds = self._redact(texts, collection)
        return out, counts

    def redact_parts(self, parts: Iterable[TextPart], collection: str) -> RedactedText:
        """Redact a document's parts together and join them into its stored text with sections.

        The whole document goes through the detector in one batch: spaCy batches well, and a
        column's values vote on its type across every row of the table.
        """
        kept = [part for part in parts if part.text.strip()]
        blocks_per_part = [split_blocks(part.text, self._block_chars) for part in kept]
        flat = [block for blocks in blocks_per_part for block in blocks]
        redacted_flat, counts, generation, known_seconds = self._redact(flat, collection)
        pieces: list[str] = []
        sections: list[Section] = []
        offset = 0
        cursor = 0
        for part, blocks in zip(kept, blocks_per_part, strict=True):
            redacted = "".join(redacted_flat[cursor : cursor + len(blocks)]).strip("\n")
            cursor += len(blocks)
            if not redacted.strip():
                continue
            if pieces:
                pieces.append(SEGMENT_SEPARATOR)
                offset += len(SEGMENT_SEPARATOR)
            pieces.append(redacted)
            sections.append(Section(offset, offset + len(redacted), part.page, part.label))
            offset += len(redacted)
        return RedactedText("".join(pieces), sections, counts, generation, known_seconds)

    def redact_question(self, question: str, collection: str) -> tuple[str, Counter[str]]:
        """A question redacted like the documents of `collection`, so pseudonyms match.

        A value no stored document mentions becomes a bare <TYPE>: questions never add to
        the pseudonym map.
        """
        [out], counts, _generation, _seconds = self._redact([question], collection, lookup_only=True)
        return out, counts

    def _redact(
        self, texts: Sequence[str], collection: str, lookup_only: bool = False
    ) -> tuple[list[str], Counter[str], int, float]:
        """Detect, learn the new values, add every known value's occurrences, replace.

        Known values are matched before and after this text's own values are learned, so a
        name a table row gave away is also replaced in the prose beside it, and a spelling of
        a known value ("Doe, Jane") takes that value's placeholder instead of a new one.
        """
        detected = self.spans(texts)
        counts: Counter[str] = Counter()
        if self.vault is None:
            out = [
                self._replace(t, s, {}, collection, counts, lookup_only) for t, s in zip(texts, detected, strict=True)
            ]
            return out, counts, 0, 0.0
        started = time.perf_counter()
        detected = [
            [s for s in spans if not self.vault.is_ignored(collection, t[s.start : s.end])]
            for t, spans in zip(texts, detected, strict=True)
        ]
        matcher, generation = self.vault.matcher(collection)
        if not lookup_only:
            for text, spans in zip(texts, detected, strict=True):
                merged, placeholders = with_known_values(spans, matcher.find(text))
                for span in merged:
                    if (span.start, span.end) not in placeholders:
                        self.pseudonymizer.placeholder(collection, span.entity_type, text[span.start : span.end])
            matcher, generation = self.vault.matcher(collection)
        merged_texts = [
            with_known_values(spans, matcher.find(text)) for text, spans in zip(texts, detected, strict=True)
        ]
        seconds = time.perf_counter() - started
        out = [
            self._replace(text, merged, placeholders, collection, counts, lookup_only)
            for text, (merged, placeholders) in zip(texts, merged_texts, strict=True)
        ]
        return out, counts, generation, seconds

    def _replace(
        self,
        text: str,
        spans: list[DetectedEntity],
        placeholders: Placeholders,
        collection: str,
        counts: Counter[str],
        lookup_only: bool = False,
    ) -> str:
        out: list[str] = []
        cursor = 0
        for span in spans:
            out.append(text[cursor : span.start])
            value = text[span.start : span.end]
            known = placeholders.get((span.start, span.end))
            if known is not None:
                out.append(known)
            elif lookup_only:
                out.append(self.pseudonymizer.existing_placeholder(collection, span.entity_type, value))
            else:
                out.append(self.pseudonymizer.placeholder(collection, span.entity_type, value))
            counts[span.entity_type] += 1
            cursor = span.end
        out.append(text[cursor:])
        return "".join(out)
