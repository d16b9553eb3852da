"""Redaction logic at our own seam (a fake detector): merging, pseudonyms, counts, sections."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from appliance.ports import DetectedEntity
from appliance.redaction.keys import load_or_create_key
from appliance.redaction.pseudonyms import Pseudonymizer, normalise
from appliance.redaction.redactor import Redactor, TextPart, merge_spans, split_blocks
from appliance.store.catalog import Catalog


class WordDetector:
    """Finds fixed words; stands in for Presidio only to test our own logic."""

    policy_id = "test"

    def __init__(self, words: dict[str, str]) -> None:
        self.words = words

    def warm_up(self) -> None: ...

    def detect(self, texts: Sequence[str]) -> list[list[DetectedEntity]]:
        found = []
        for text in texts:
            spans = []
            for word, kind in self.words.items():
                start = text.find(word)
                while start >= 0:
                    spans.append(DetectedEntity(kind, start, start + len(word), 0.9))
                    start = text.find(word, start + 1)
            found.append(spans)
        return found


def _redactor(tmp_path: Path, words: dict[str, str]) -> Redactor:
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    pseudonymizer = Pseudonymizer(
        load_or_create_key(tmp_path / "keys" / "h.key"), load_or_create_key(tmp_path / "keys" / "s.key"), catalog
    )
    return Redactor(WordDetector(words), pseudonymizer, "policy", block_chars=50)


def test_overlapping_spans_merge_into_their_union() -> None:
    merged = merge_spans(
        [
            DetectedEntity("PERSON", 0, 10, 0.8),
            DetectedEntity("EMAIL_ADDRESS", 5, 30, 0.9),
            DetectedEntity("PHONE_NUMBER", 40, 50, 0.5),
        ]
    )
    assert merged == [DetectedEntity("EMAIL_ADDRESS", 0, 30, 0.9), DetectedEntity("PHONE_NUMBER", 40, 50, 0.5)]


def test_same_value_same_placeholder_within_a_collection_not_across(tmp_path: Path) -> None:
    redactor = _redactor(tmp_path, {"Jane Roe": "PERSON", "Bob Stone": "PERSON"})
    out, counts = redactor.redact_texts(["Jane Roe met Bob Stone.", "Later Jane Roe left."], "alpha")
    assert out == ["<PERSON_1> met <PERSON_2>.", "Later <PERSON_1> left."]
    assert counts == {"PERSON": 3}
    other, _ = redactor.redact_texts(["Bob Stone only."], "beta")
    assert other == ["<PERSON_1> only."]


def test_parts_become_sections_with_pages_and_blocks_rejoin(tmp_path: Path) -> None:
    redactor = _redactor(tmp_path, {"Jane Roe": "PERSON"})
    long_page = "Line with nothing.\n" * 10 + "Jane Roe signed.\n"
    result = redactor.redact_parts([TextPart(long_page, page=1), TextPart("  ", page=2), TextPart("End.", page=3)], "c")
    assert "Jane Roe" not in result.text
    assert [(s.page, result.text[s.start : s.end][-4:]) for s in result.sections] == [(1, "ned."), (3, "End.")]
    assert result.counts == {"PERSON": 1}


def test_split_blocks_is_lossless() -> None:
    text = ("alpha beta\n" * 30) + "x" * 130
    blocks = split_blocks(text, 40)
    assert "".join(blocks) == text
    assert all(len(b) <= 40 for b in blocks)


def test_pseudonym_digest_is_keyed_not_a_bare_hash(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "h.key"
    key = load_or_create_key(key_file)
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert load_or_create_key(key_file) == key
    pseudonymizer = Pseudonymizer(key, load_or_create_key(tmp_path / "keys" / "s.key"), Catalog(tmp_path / "c.db"))
    digest = pseudonymizer.digest("c", "PERSON", "Jane Roe")
    assert digest != hashlib.sha256(b"Jane Roe").hexdigest()
    assert digest != hashlib.sha256(b"c\x1fPERSON\x1fjane roe").hexdigest()
    other = Pseudonymizer(load_or_create_key(tmp_path / "k2"), key, Catalog(tmp_path / "d.db"))
    assert other.digest("c", "PERSON", "Jane Roe") != digest


def test_normalisation_treats_spellings_of_one_value_alike() -> None:
    assert normalise("PHONE_NUMBER", "(212) 555-0199") == normalise("PHONE_NUMBER", "212.555.0199")
    assert normalise("PERSON", "Jane  ROE") == normalise("PERSON", "jane roe")
    assert normalise("IBAN_CODE", "GB82 WEST 1234") == "GB82WEST1234"


def test_sealed_values_are_not_plaintext(tmp_path: Path) -> None:
    catalog_file = tmp_path / "catalog.sqlite3"
    redactor = _redactor(tmp_path, {"Jane Roe": "PERSON"})
    redactor.redact_texts(["Jane Roe"], "c")
    assert b"Jane Roe" not in catalog_file.read_bytes()
    wal = catalog_file.with_name(catalog_file.name + "-wal")
    assert not wal.exists() or b"Jane Roe" not in wal.read_bytes()


def test_the_digest_is_keyed_on_the_normalised_value_and_on_the_collection(tmp_path: Path) -> None:
    """Spellings of one value share a digest (so a pseudonym); the same value in two collections does not."""
    import hmac

    hmac_key = load_or_create_key(tmp_path / "keys" / "h.key")
    pseudonyms = Pseudonymizer(hmac_key, load_or_create_key(tmp_path / "keys" / "s.key"), Catalog(tmp_path / "c.db"))
    assert pseudonyms.digest("a", "PERSON", " Jane\n  DOE") == pseudonyms.digest("a", "PERSON", "jane doe")
    assert pseudonyms.digest("a", "PHONE_NUMBER", "(617) 555-0148") == pseudonyms.digest(
        "a", "PHONE_NUMBER", "617.555.0148"
    )
    assert pseudonyms.digest("a", "PERSON", "jane doe") != pseudonyms.digest("b", "PERSON", "jane doe")
    expected = hmac.new(hmac_key, b"a\x1fPERSON\x1fjane doe", hashlib.sha256).hexdigest()
    assert pseudonyms.digest("a", "PERSON", "Jane Doe") == expected
    assert pseudonyms.placeholder("a", "PERSON", "JANE  Doe") == pseudonyms.placeholder("a", "PERSON", "jane doe")
