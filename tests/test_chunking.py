"""Chunking: sentence boundaries, sections never crossed, overlap, exact offsets."""

from __future__ import annotations

import itertools

import pytest

from appliance.records import Section
from appliance.sentences import sentence_spans
from ingestion.chunking import chunk_sections


def _text_and_sections(pages: list[str]) -> tuple[str, list[Section]]:
    text, sections, offset = "", [], 0
    for number, page in enumerate(pages, start=1):
        if text:
            text += "\n\n"
            offset += 2
        sections.append(Section(offset, offset + len(page), number, None))
        text += page
        offset += len(page)
    return text, sections


def test_sentences_split_on_punctuation_and_lines() -> None:
    text = "First one. Second one!  Third?\nA line without stop\n\nLast"
    found = [text[s:e] for s, e in sentence_spans(text, 0, len(text))]
    assert found == ["First one.", "Second one!", "Third?", "A line without stop", "Last"]


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        (  # a PDF text layer wraps after an abbreviation
            "Wires must be received by 2:30 p.m.\nEastern on a business day. Later ones wait.",
            ["Wires must be received by 2:30 p.m.\nEastern on a business day.", "Later ones wait."],
        ),
        (  # a wrapped Markdown list item, then the next item
            "- Hotels: EUR 240 per night (London, Paris\n  and New York).\n- Meals: EUR 60 a day.",
            ["- Hotels: EUR 240 per night (London, Paris\n  and New York).", "- Meals: EUR 60 a day."],
        ),
        (  # a title line, then a paragraph wrapped mid-sentence
            "Travel Expense Policy\nClaims must reach finance within 30 days of the end of the\nTrip. Late ones fail.",
            [
                "Travel Expense Policy",
                "Claims must reach finance within 30 days of the end of the\nTrip.",
                "Late ones fail.",
            ],
        ),
        (  # headings, table rows and `Label: value` lines stay separate
            "# Rates\n| London | 240 |\n| Paris | 200 |\nname: Ann; amount: 30\nname: Bob; amount: 40",
            ["# Rates", "| London | 240 |", "| Paris | 200 |", "name: Ann; amount: 30", "name: Bob; amount: 40"],
        ),
        (  # initials, titles and Latin abbreviations do not end a sentence; a numbered item opens one
            "Ask J. Smith or Dr. Jones, e.g. by phone.\nSteps:\n1. Fill the form.\n2. Sign it.",
            ["Ask J. Smith or Dr. Jones, e.g. by phone.", "Steps:", "1. Fill the form.", "2. Sign it."],
        ),
    ],
)
def test_a_line_break_inside_a_sentence_does_not_end_it(text: str, sentences: list[str]) -> None:
    assert [text[s:e] for s, e in sentence_spans(text, 0, len(text))] == sentences


def test_chunks_are_exact_spans_within_one_page_and_respect_size() -> None:
    page = " ".join(f"Sentence number {i} says something about topic {i % 7}." for i in range(120))
    text, sections = _text_and_sections([page, page[:500]])
    chunks = chunk_sections(text, sections, chunk_chars=400, overlap_chars=80)
    assert len(chunks) > 10
    for chunk in chunks:
        section = sections[chunk.page - 1]
        assert section.start <= chunk.start < chunk.end <= section.end
        assert chunk.end - chunk.start <= 400
        body = text[chunk.start : chunk.end]
        assert body == body.strip()
        assert body.endswith(".") or chunk.end == section.end
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert {c.page for c in chunks} == {1, 2}


def test_neighbouring_chunks_overlap_by_whole_sentences() -> None:
    page = " ".join(f"Fact {i} is stated here." for i in range(60))
    text, sections = _text_and_sections([page])
    chunks = chunk_sections(text, sections, chunk_chars=300, overlap_chars=60)
    for before, after in itertools.pairwise(chunks):
        assert after.start < before.end, "expected overlap"
        assert after.start > before.start, "must move forward"
        assert text[after.start : after.start + 4] == "Fact"


def test_overlong_sentence_is_cut_at_spaces() -> None:
    page = "word " * 1000
    text, sections = _text_and_sections([page.strip()])
    chunks = chunk_sections(text, sections, chunk_chars=250, overlap_chars=0)
    assert all(c.end - c.start <= 250 for c in chunks)
    covered = "".join(text[c.start : c.end] for c in chunks).replace(" ", "")
    assert covered == text.replace(" ", "")
