"""The one sentence splitter: chunking packs its sentences, answer candidates are its sentences.

Both sides must cut the stored text at the same places, or a quote the model recalls from a
candidate could straddle a boundary that chunking never saw.

A sentence ends at . ! ? followed by whitespace, unless the word before the stop is an
abbreviation or an initial ("2:30 p.m. Eastern", "J. Smith") or the next word starts in lower case.
A blank line always ends one. A single line break ends one only where the layout says so (the next
line is a list item, heading, table row, quote or `Label: value`; the line is a heading or table row, or ends in a
colon; or it looks like a title). Otherwise it is a wrapped line (a PDF's text layer, a wrapped
Markdown list item, an HTML source line) and the sentence goes on, so a quote is never cut mid-way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# A gap that may end a sentence: a stop (plus closing quotes/brackets) and whitespace, or a line break.
_GAP = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)\]]*\s+|[ \t]*\n\s*")
_CLOSERS = "\"'\u201d\u2019)]"
_BLOCK_START = re.compile(r"(?:[-*+\u2022\u25aa\u2013]\s|\d{1,3}[.)]\s|[a-z][.)]\s|#|\||>)")
_BLOCK_LINE = re.compile(r"\s*(?:#|\|)")
_LABEL = re.compile(r"[^\W_][\w ./()&-]{0,40}:\s")  # "Policy number: ...", a table row "name: x; amount: y"
_INITIALS = re.compile(r"(?:[A-Za-z]\.)+")
_LIST_NUMBER = re.compile(r"[-*+\u2022]?\s*(?:\d{1,3}|[a-zA-Z]|[ivxIVX]{1,5})[.)]")  # "1." opens an item
ABBREVIATIONS = frozenset(
    "a.m. p.m. e.g. i.e. etc. vs. approx. incl. excl. cf. al. "
    "mr. mrs. ms. dr. prof. sr. jr. st. inc. ltd. co. corp. plc. llc. dept. "
    "no. nos. art. sec. para. fig. vol. pp. p. ch. ref. est. max. min. "
    "jan. feb. mar. apr. jun. jul. aug. sep. sept. oct. nov. dec.".split()
)
_LONG_LINE = 40  # characters: a line this long that breaks mid-sentence is wrapped, not a title


def sentence_spans(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Spans of sentences inside text[start:end], without surrounding whitespace."""
    cursor = start
    for match in _GAP.finditer(text, start, end):
        space = match.start() + len(match.group()) - len(match.group().lstrip(_CLOSERS))
        if _ends_sentence(text, start, end, match.start(), space, match.end()):
            yield from trimmed(text, cursor, space)
            cursor = match.end()
    yield from trimmed(text, cursor, end)


def _ends_sentence(text: str, start: int, end: int, stop: int, space: int, after: int) -> bool:
    """Whether the gap text[space:after] (after a stop or a line break at `stop`) ends a sentence."""
    newlines = text.count("\n", space, after)
    if newlines >= 2 or after >= end:
        return True
    line = text[max(start, text.rfind("\n", start, stop) + 1) : space].rstrip()
    following = text[after : min(end, _line_end(text, after))]
    if newlines and (_BLOCK_START.match(following) or _BLOCK_LINE.match(line) or _LABEL.match(following)):
        return True
    punctuated = space > stop or (stop > start and text[stop - 1] in ".!?")
    if punctuated:
        return not (_abbreviated(line) or following[:1].islower())
    if not line or line.endswith((":", "|")):
        return True
    first = following[:1]
    if first.islower() or first.isdigit() or first in "(&%$\u20ac\u00a3":
        return False
    return not (line[-1] in ",;-\u2013\u2014(/" or (line[-1].isalnum() and not _title_like(line)))


def _line_end(text: str, position: int) -> int:
    found = text.find("\n", position)
    return len(text) if found < 0 else found


def _abbreviated(line: str) -> bool:
    """The word before the stop is an abbreviation or initials, so the stop does not end the sentence."""
    words = line.rstrip(_CLOSERS).split()
    if not words or _LIST_NUMBER.fullmatch(line.strip()):
        return bool(words)
    word = words[-1].lstrip("(\"'\u201c\u2018[")
    return word.lower() in ABBREVIATIONS or (_INITIALS.fullmatch(word) is not None and len(word) <= 8)


def _title_like(line: str) -> bool:
    """A short line of capitalised words (a heading in a PDF's text layer), not a wrapped sentence."""
    words = [w for w in line.split() if w[:1].isalpha()]
    if len(line) >= _LONG_LINE or not words:
        return len(line) < _LONG_LINE
    return all(w[0].isupper() for w in words if len(w) > 3)


def trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """The span [start, end) without leading and trailing whitespace, if anything is left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield start, end
