"""The known-value matcher at our own seam: spellings, numbers, boundaries, ordinary words, ambiguity."""

from __future__ import annotations

from pathlib import Path

from appliance.redaction.keys import load_or_create_key
from appliance.redaction.known_values import KnownValue, KnownValueMatcher, person_variants
from appliance.redaction.ordinary_words import is_ordinary_word
from appliance.redaction.pseudonyms import Pseudonymizer
from appliance.redaction.retroactive import moved_offset, replace_matches
from appliance.redaction.vault import Vault
from appliance.store.catalog import Catalog


def _matcher(*values: tuple[str, str, str]) -> KnownValueMatcher:
    matcher = KnownValueMatcher()
    matcher.add(KnownValue(kind, placeholder, value) for kind, placeholder, value in values)
    return matcher


def _found(matcher: KnownValueMatcher, text: str) -> list[tuple[str, str]]:
    return [(text[m.start : m.end], m.placeholder) for m in matcher.find(text)]


def test_a_name_is_found_in_any_case_spacing_and_common_variant() -> None:
    matcher = _matcher(("PERSON", "<PERSON_1>", "Jane Doe"))
    text = "JANE DOE wrote; Jane\n  Doe signed; Doe, Jane paid; J. Doe left; jane doe's file."
    assert _found(matcher, text) == [
        ("JANE DOE", "<PERSON_1>"),
        ("Jane\n  Doe", "<PERSON_1>"),
        ("Doe, Jane", "<PERSON_1>"),
        ("J. Doe", "<PERSON_1>"),
        ("jane doe", "<PERSON_1>"),
    ]


def test_variants_of_a_name_with_a_middle_initial() -> None:
    assert {"Jane Q. Doe", "Jane Doe", "Doe, Jane", "Doe, Jane Q.", "J. Doe", "J. Q. Doe"} <= person_variants(
        "Jane Q. Doe"
    )
    assert person_variants("Doe, Jane") >= {"Jane Doe", "J. Doe"}


def test_an_initial_without_its_dot_only_before_an_unusual_surname() -> None:
    matcher = _matcher(("PERSON", "<PERSON_1>", "Anna Smith"), ("PERSON", "<PERSON_2>", "Anna Wielgosz"))
    text = "They hired a smith. A. Smith signed; A Wielgosz too."
    assert _found(matcher, text) == [("A. Smith", "<PERSON_1>"), ("A Wielgosz", "<PERSON_2>")]


def test_only_whole_words_match() -> None:
    matcher = _matcher(("PERSON", "<PERSON_1>", "Jane Doe"))
    assert _found(matcher, "Janet Doering and MaryJane Doe") == []


def test_a_surname_alone_only_when_it_is_no_ordinary_word() -> None:
    matcher = _matcher(("PERSON", "<PERSON_1>", "Amelia Paris"), ("PERSON", "<PERSON_2>", "Tomasz Wielgosz"))
    text = "The Paris office called. Wielgosz signed. Amelia Paris approved. Will it rain in May?"
    assert _found(matcher, text) == [
        ("Wielgosz", "<PERSON_2>"),
        ("Amelia Paris", "<PERSON_1>"),
    ]


def test_ordinary_words_months_places_and_short_words() -> None:
    for word in ("Will", "May", "march", "Smith", "Paris", "Jordan", "Doe", "Lee"):
        assert is_ordinary_word(word), word
    for word in ("Wielgosz", "Okonkwo", "Karimova"):
        assert not is_ordinary_word(word), word


def test_a_one_word_or_company_like_person_is_never_propagated() -> None:
    matcher = _matcher(
        ("PERSON", "<PERSON_1>", "Will"),
        ("PERSON", "<PERSON_2>", "May"),
        ("PERSON", "<PERSON_3>", "Akureyri"),  # a town the detector took for a person
        ("PERSON", "<PERSON_4>", "Johnson Holdings"),  # a firm in a customer column
    )
    assert matcher.size == 0
    assert _found(matcher, "Will the May payment arrive?") == []


def test_numbers_are_found_whatever_their_separators() -> None:
    matcher = _matcher(("PHONE_NUMBER", "<PHONE_NUMBER_1>", "617-555-0148"), ("US_SSN", "<US_SSN_1>", "536-22-8190"))
    text = "Call (617) 555 0148 or +1 617.555.0148; SSN 536 22 8190. Not 16175550148 or 5362281901."
    assert _found(matcher, text) == [
        ("(617) 555 0148", "<PHONE_NUMBER_1>"),
        ("617.555.0148", "<PHONE_NUMBER_1>"),
        ("536 22 8190", "<US_SSN_1>"),
    ]


def test_e_mail_and_iban_spellings() -> None:
    matcher = _matcher(
        ("EMAIL_ADDRESS", "<EMAIL_ADDRESS_1>", "Jane.Doe@Example.com"),
        ("IBAN_CODE", "<IBAN_CODE_1>", "GB82WEST12345698765432"),
    )
    text = "Mail jane.doe@example.com; IBAN GB82 WEST 1234 5698 7654 32."
    assert _found(matcher, text) == [
        ("jane.doe@example.com", "<EMAIL_ADDRESS_1>"),
        ("GB82 WEST 1234 5698 7654 32", "<IBAN_CODE_1>"),
    ]


def test_a_spelling_two_people_share_names_no_one() -> None:
    matcher = _matcher(("PERSON", "<PERSON_1>", "Jane Doe"), ("PERSON", "<PERSON_2>", "John Doe"))
    assert _found(matcher, "J. Doe called Jane Doe.") == [("J. Doe", "<PERSON>"), ("Jane Doe", "<PERSON_1>")]


def test_values_learned_later_are_found_and_the_longest_match_wins() -> None:
    matcher = _matcher(("PERSON", "<PERSON_1>", "Tomasz Wielgosz"))
    matcher.add([KnownValue("PERSON", "<PERSON_2>", "Anna Wielgosz")])
    assert _found(matcher, "Anna Wielgosz and Tomasz Wielgosz; Wielgosz.") == [
        ("Anna Wielgosz", "<PERSON_2>"),
        ("Tomasz Wielgosz", "<PERSON_1>"),
        ("Wielgosz", "<PERSON>"),  # the surname alone is both people's
    ]


def test_many_values_stay_correct_past_the_small_automaton() -> None:
    matcher = KnownValueMatcher()
    for batch in range(3):
        matcher.add(
            KnownValue("EMAIL_ADDRESS", f"<EMAIL_ADDRESS_{n}>", f"user{n}@bank.example")
            for n in range(batch * 1500, (batch + 1) * 1500)
        )
    assert _found(matcher, "from user7@bank.example to user4499@bank.example") == [
        ("user7@bank.example", "<EMAIL_ADDRESS_7>"),
        ("user4499@bank.example", "<EMAIL_ADDRESS_4499>"),
    ]


def test_offsets_move_with_replacements() -> None:
    matcher = _matcher(("PERSON", "<PERSON_1>", "Tomasz Wielgosz"))
    text = "Page one.\n\nTomasz Wielgosz signed.\n\nEnd."
    new_text, moves = replace_matches(text, matcher.find(text))
    assert new_text == "Page one.\n\n<PERSON_1> signed.\n\nEnd."
    assert moved_offset(0, moves) == 0
    assert moved_offset(11, moves) == 11  # a section starting at the name starts at its placeholder
    assert new_text[moved_offset(text.index("End"), moves) :] == "End."


def _vault(path: Path, keys: Path) -> tuple[Vault, Pseudonymizer]:
    catalog = Catalog(path)
    seal_key = load_or_create_key(keys / "seal.key")
    pseudonyms = Pseudonymizer(load_or_create_key(keys / "hmac.key"), seal_key, catalog)
    return Vault(catalog, pseudonyms, seal_key, ["PERSON", "PHONE_NUMBER"]), pseudonyms


def test_every_process_sees_what_another_taught_the_vault(tmp_path: Path) -> None:
    """Two vaults over one catalog file stand for the service and a worker (separate connections)."""
    service, service_names = _vault(tmp_path / "catalog.sqlite3", tmp_path / "keys")
    worker, worker_names = _vault(tmp_path / "catalog.sqlite3", tmp_path / "keys")
    text = "Tomasz Wielgosz called from 617-555-0148."
    matcher, generation = worker.matcher("bank")
    assert matcher.find(text) == [] and generation == 0

    service_names.placeholder("bank", "PERSON", "Tomasz Wielgosz")
    service_names.placeholder("bank", "DATE_TIME", "617-555-0148")  # not a propagated type: never matched
    matcher, generation = worker.matcher("bank")
    assert generation == 2
    assert [(m.placeholder, text[m.start : m.end]) for m in matcher.find(text)] == [("<PERSON_1>", "Tomasz Wielgosz")]

    worker_names.placeholders("bank", "PHONE_NUMBER", ["617 555 0148"])
    matcher, _ = service.matcher("bank")
    assert len(matcher.find(text)) == 2
    assert service.matcher("other")[0].find(text) == []  # collections never share values

    Catalog(tmp_path / "catalog.sqlite3").add_ignored("bank", worker_names.ignore_digest("bank", "tomasz  WIELGOSZ"))
    matcher, _ = worker.matcher("bank")
    assert [m.entity_type for m in matcher.find(text)] == ["PHONE_NUMBER"]
    assert worker.is_ignored("bank", "Tomasz Wielgosz")
    assert not (tmp_path / "catalog.sqlite3").read_bytes().count(b"Wielgosz")
