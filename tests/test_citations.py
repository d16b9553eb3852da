"""Quote verification: exact or whitespace/case-normalised, mapped to exact document offsets."""

from __future__ import annotations

from appliance.answer.citations import candidate_sentences, locate_quote
from appliance.store.catalog import ChunkHit

DOCUMENT = "Intro line.\n\nClaims must be filed   within 30 days.\nHotel stays are capped at EUR 180 per night."


def chunk_of(start: int, end: int) -> ChunkHit:
    return ChunkHit(
        "d1-c0", 1, "/docs/policy.txt", "default", 1, "/docs/policy.txt", None, start, end, DOCUMENT[start:end]
    )


def test_exact_quote_maps_to_document_offsets() -> None:
    chunk = chunk_of(13, len(DOCUMENT))
    found = locate_quote("Hotel stays are capped at EUR 180 per night.", chunk)
    assert (
        found is not None
        and DOCUMENT[found.start : found.end] == found.text == "Hotel stays are capped at EUR 180 per night."
    )


def test_whitespace_and_case_differences_are_tolerated_but_offsets_stay_verbatim() -> None:
    chunk = chunk_of(13, len(DOCUMENT))
    found = locate_quote("claims must be filed within 30 DAYS", chunk)
    assert found is not None
    assert found.text == "Claims must be filed   within 30 days"
    assert DOCUMENT[found.start : found.end] == found.text


def test_a_quote_that_is_not_in_the_chunk_is_rejected() -> None:
    chunk = chunk_of(13, len(DOCUMENT))
    assert locate_quote("Claims must be filed within 60 days", chunk) is None
    assert locate_quote("Intro line.", chunk) is None  # in the document, but not in this chunk
    assert locate_quote("   ", chunk) is None


def test_candidate_sentences_are_document_spans() -> None:
    chunk = chunk_of(0, len(DOCUMENT))
    candidates = candidate_sentences([chunk, chunk])
    assert [c.text for c in candidates] == [
        "Claims must be filed   within 30 days.",
        "Hotel stays are capped at EUR 180 per night.",
    ]
    assert all(DOCUMENT[c.start : c.end] == c.text for c in candidates)


def test_candidate_sentences_of_a_chunk_deep_in_the_document_keep_document_offsets() -> None:
    """A chunk that starts past 0: every evidence span is an offset into the document, not the chunk."""
    chunk = chunk_of(13, len(DOCUMENT))
    candidates = candidate_sentences([chunk])
    assert [c.start for c in candidates] == [DOCUMENT.index("Claims"), DOCUMENT.index("Hotel")]
    assert all(DOCUMENT[c.start : c.end] == c.text for c in candidates)
