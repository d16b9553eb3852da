"""Finding a collection's known personal values in text: Aho-Corasick automata built in memory.

The redactor remembers every value it replaces (the sealed vault). This module turns those
values into match keys and finds every occurrence in a text in one pass, whatever its
case or spacing:
- words (names, e-mail addresses, identifiers with letters) are matched on a lower-cased view
  of the text with runs of whitespace collapsed, at word boundaries;
- numbers (phones, cards, SSNs, account numbers) are matched on their digits alone, inside
  runs of digits and separators, so "617-555-0148" also finds "(617) 555 0148".
A person's name also yields its common variants ("Doe, Jane", "J. Doe", "Jane Q. Doe"), and
its surname alone when no dictionary lists it (ordinary_words.py). A key that two values
share ("J. Doe" for Jane and for John) is replaced by the bare type (<PERSON>), never by
the wrong person's pseudonym.

Nothing here touches the disk: the keys exist only in this process's memory.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import ahocorasick

from appliance.redaction.ordinary_words import is_ordinary_word

_WHITESPACE = str.maketrans(
    {c: " " for c in "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"}
)
_WHITESPACE.update({c: " " for c in range(0x2000, 0x200B)})
_SPACE_RUN = re.compile(" {2,}")
_NUMBER_RUN = re.compile(r"\d[\d \-.()/\u00a0]*\d")
_NUMBER_SEPARATORS = re.compile(r"[\s\-.()/+]")
_TITLES = frozenset("mr mrs ms miss mx dr prof sir dame".split())
# A "person" whose name ends like a company is a detector's mistake (a customer column holding firms).
_COMPANY_WORDS = frozenset(
    "inc inc. ltd ltd. llc plc gmbh ag sa s.a. corp corp. co co. company partners group holdings bank "
    "associates industries international services solutions systems technologies foundation trust".split()
)
MIN_DIGITS = 6
MIN_WORD_KEY = 4
# Recently learned keys live in a small automaton rebuilt on every change; the large one is rebuilt
# only when the small one outgrows this, so learning a value costs little however big the vault.
RECENT_LIMIT = 2000


@dataclass(frozen=True)
class KnownValue:
    """A value from the vault with the placeholder it is replaced by."""

    entity_type: str
    placeholder: str
    value: str


@dataclass(frozen=True)
class KnownMatch:
    """An occurrence of a known value: [start, end) in the original text."""

    start: int
    end: int
    entity_type: str
    placeholder: str


def word_form(text: str) -> str:
    """Lower case, every whitespace run one space: the form word keys and texts are compared in."""
    return _SPACE_RUN.sub(" ", text.translate(_WHITESPACE).lower()).strip()


def digit_form(value: str) -> str | None:
    """The digits of a number-shaped value (separators dropped), or None for anything else."""
    compact = _NUMBER_SEPARATORS.sub("", value)
    return compact if compact.isdigit() and len(compact) >= MIN_DIGITS else None


def person_variants(value: str) -> set[str]:
    """Spellings of a person's name: as found, first-last, "Last, First", initials, surname alone."""
    tokens = [t for t in value.replace(",", " , ").split() if t.strip(".").casefold() not in _TITLES]
    if "," in tokens:  # "Doe, Jane" -> Jane Doe
        comma = tokens.index(",")
        tokens = tokens[comma + 1 :] + tokens[:comma]
    tokens = [t for t in tokens if t != ","]
    forms = {value}
    if len(tokens) < 2:
        return forms
    first, middle, last = tokens[0], tokens[1:-1], tokens[-1]
    full = " ".join(tokens)
    forms |= {full, f"{first} {last}", f"{last}, {first}", f"{last}, {' '.join([first, *middle])}"}
    if first[0].isalpha():
        forms |= {f"{first[0]}. {last}", f"{first[0]}.{last}"}
        if not is_ordinary_word(last):  # "A Smith" would also be "a smith" in "hired a smith"
            forms.add(f"{first[0]} {last}")
        if middle:
            initials = " ".join(f"{m[0]}." for m in middle if m[0].isalpha())
            forms |= {f"{first} {initials} {last}", f"{first[0]}. {initials} {last}"}
    if last.isalpha():
        forms.add(last)
    return {" ".join(f.split()) for f in forms}


def _spreadable_name(value: str) -> bool:
    """A name of two or more words that does not end like a company.

    A one-word "person" is the detector's least reliable find (a place, a brand, a first name), so it is
    redacted where it was found but never spread; a full name still spreads its surname alone.
    """
    words = value.replace(",", " ").split()
    return len(words) >= 2 and words[-1].casefold() not in _COMPANY_WORDS


def _acceptable_word_key(key: str, entity_type: str) -> bool:
    """Keys too short or too ordinary to redact wherever they appear are left out."""
    if len(key) < MIN_WORD_KEY:
        return False
    words = [w for w in re.split(r"[\s,]+", key) if w]
    if len(words) > 1:
        return True
    word = words[0] if words else ""
    if word.isalpha():
        return not is_ordinary_word(word)
    # one token with digits or symbols (an e-mail address, an account id): long enough to be specific
    return entity_type == "EMAIL_ADDRESS" or (len(word) >= MIN_DIGITS and any(c.isdigit() for c in word))


def keys_for(value: KnownValue) -> tuple[set[str], set[str]]:
    """(word keys, digit keys) under which a value is found."""
    digits = digit_form(value.value)
    if digits is not None:
        return set(), {digits}
    if value.entity_type == "PERSON" and not _spreadable_name(value.value):
        return set(), set()
    spellings = person_variants(value.value) if value.entity_type == "PERSON" else {value.value}
    if value.entity_type == "IBAN_CODE":
        compact = re.sub(r"\s", "", value.value)
        spellings |= {compact, " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))}
    words = {word_form(s) for s in spellings}
    return {k for k in words if _acceptable_word_key(k, value.entity_type)}, set()


class _KeyIndex:
    """One Aho-Corasick automaton over keys; the payload of a key is the key itself."""

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._automaton = ahocorasick.Automaton()
        self.size = 0
        for key in keys:
            self._automaton.add_word(key, key)
            self.size += 1
        if self.size:
            self._automaton.make_automaton()

    def iter(self, text: str) -> Iterator[tuple[int, str]]:
        """(start, key) of every occurrence, overlaps included."""
        if not self.size:
            return
        for end, key in self._automaton.iter(text):
            yield end - len(key) + 1, key


class _Keys:
    """Keys in a large automaton and a small one for recent additions; each key's placeholder and type."""

    def __init__(self) -> None:
        self.target: dict[str, tuple[str, str]] = {}  # key -> (entity type, placeholder)
        self._base = _KeyIndex()
        self._recent: set[str] = set()
        self._recent_index = _KeyIndex()
        self._dirty = False

    def add(self, keys: Iterable[str], value: KnownValue) -> None:
        changed = False
        for key in keys:
            known = self.target.get(key)
            if known is None:
                self.target[key] = (value.entity_type, value.placeholder)
                self._recent.add(key)
                changed = True
            elif known[1] != value.placeholder:  # two values share this spelling: redact, name no one
                self.target[key] = (known[0], f"<{known[0]}>")
        if changed:
            self._dirty = True

    def seal(self) -> None:
        """Rebuild the automata after additions."""
        if not self._dirty:
            return
        if len(self._recent) > RECENT_LIMIT:
            self._base = _KeyIndex(self.target)
            self._recent = set()
        self._recent_index = _KeyIndex(self._recent)
        self._dirty = False

    def iter(self, text: str) -> Iterator[tuple[int, str]]:
        yield from self._base.iter(text)
        yield from self._recent_index.iter(text)


class _WordView:
    """A text lower-cased with whitespace runs collapsed, and the way back to original offsets."""

    def __init__(self, text: str) -> None:
        spaced = text.translate(_WHITESPACE)
        lowered = spaced.lower()
        if len(lowered) != len(spaced):  # a few characters lower-case to two ("İ"): keep them as they are
            lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in spaced)
        self._starts: list[int] = []  # view offset just after each collapsed run
        self._shifts: list[int] = []  # characters removed up to there
        removed = 0
        pieces: list[str] = []
        cursor = 0
        for run in _SPACE_RUN.finditer(lowered):
            pieces.append(lowered[cursor : run.start() + 1])
            removed += run.end() - run.start() - 1
            cursor = run.end()
            self._starts.append(run.end() - removed)
            self._shifts.append(removed)
        pieces.append(lowered[cursor:])
        self.text = "".join(pieces)

    def original(self, offset: int) -> int:
        index = bisect.bisect_right(self._starts, offset) - 1
        return offset + (self._shifts[index] if index >= 0 else 0)


def _at_boundary(text: str, start: int, end: int) -> bool:
    return (start == 0 or not text[start - 1].isalnum()) and (end >= len(text) or not text[end].isalnum())


class KnownValueMatcher:
    """Finds every known value of one collection in a text."""

    def __init__(self) -> None:
        self._words = _Keys()
        self._digits = _Keys()

    @property
    def size(self) -> int:
        """Number of match keys (values and their variants)."""
        return len(self._words.target) + len(self._digits.target)

    def add(self, values: Iterable[KnownValue]) -> None:
        """Learn values; the automata are rebuilt once at the end."""
        for value in values:
            words, digits = keys_for(value)
            self._words.add(words, value)
            self._digits.add(digits, value)
        self._words.seal()
        self._digits.seal()

    def find(self, text: str) -> list[KnownMatch]:
        """Non-overlapping occurrences, longest first where they overlap, in text order."""
        if not self.size or not text:
            return []
        found = list(self._find_words(text)) + list(self._find_digits(text))
        found.sort(key=lambda m: (m.start, -(m.end - m.start)))
        kept: list[KnownMatch] = []
        for match in found:
            if kept and match.start < kept[-1].end:
                continue
            kept.append(match)
        return kept

    def _find_words(self, text: str) -> Iterator[KnownMatch]:
        if not self._words.target:
            return
        view = _WordView(text)
        for start, key in self._words.iter(view.text):
            end = start + len(key)
            if not _at_boundary(view.text, start, end):
                continue
            entity_type, placeholder = self._words.target[key]
            yield KnownMatch(view.original(start), view.original(end - 1) + 1, entity_type, placeholder)

    def _find_digits(self, text: str) -> Iterator[KnownMatch]:
        if not self._digits.target:
            return
        for run in _NUMBER_RUN.finditer(text):
            positions = [run.start() + i for i, c in enumerate(run.group()) if c.isdigit()]
            digits = "".join(text[p] for p in positions)
            for start, key in self._digits.iter(digits):
                end = start + len(key)
                # the number must be whole: its first and last digits next to a separator or the run's edge
                if start > 0 and positions[start] - positions[start - 1] == 1:
                    continue
                if end < len(positions) and positions[end] - positions[end - 1] == 1:
                    continue
                entity_type, placeholder = self._digits.target[key]
                first, last = positions[start], positions[end - 1] + 1
                if first > 0 and text[first - 1] == "(" and ")" in text[first:last]:
                    first -= 1  # "(617) 555 0148": the area code's bracket goes with it
                yield KnownMatch(first, last, entity_type, placeholder)
