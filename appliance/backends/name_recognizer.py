"""Names the small spaCy model misses: a gazetteer of given names and surnames, checked
against spaCy's own part-of-speech tags.

spaCy `sm` finds about two thirds of people's names; foreign names, single surnames and
names in table cells slip through. Faker ships curated given-name and surname lists for
some eighty locales (MIT licence); a capitalised proper-noun sequence that starts with a
known given name, or a known surname after a title, is a name.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import lru_cache

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from appliance.backends.presidio_recognizers import SpanRecognizer

TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam", "dame", "lady", "lord", "rev", "fr"})
# Capitalised words that are also given names or surnames but, in documents, mostly are not.
NOT_NAMES = frozenset(
    {
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "will",
        "bill",
        "mark",
        "grant",
        "hope",
        "faith",
        "joy",
        "dawn",
        "summer",
        "autumn",
        "winter",
        "spring",
        "page",
        "chase",
        "price",
        "long",
        "young",
        "king",
        "hall",
        "wood",
        "bank",
        "street",
        "park",
        "lane",
        "field",
        "hill",
        "green",
        "brown",
        "white",
        "black",
        "gray",
        "grey",
        "little",
        "rich",
        "best",
        "major",
        "story",
        "ward",
        "house",
        "case",
        "love",
        "rice",
        "fox",
        "art",
        "van",
        "de",
        "la",
        "le",
        "del",
        "da",
        "von",
        "al",
        "en",
        "an",
        "do",
        "so",
        "is",
        "in",
        "on",
        "at",
        "to",
        "by",
        "of",
        "or",
        "and",
        "the",
        "my",
        "me",
        "we",
        "us",
        "he",
        "she",
        "it",
        "his",
        "her",
        "our",
        "you",
        "ok",
        "no",
        "yes",
        "a",
        "i",
        "north",
        "south",
        "east",
        "west",
        "central",
        "new",
        "old",
        "city",
        "state",
        "county",
        "road",
        "avenue",
        "drive",
        "court",
        "square",
        "service",
        "services",
        "group",
        "office",
        "team",
        "policy",
        "account",
        "customer",
        "client",
        "manager",
        "director",
        "officer",
        "department",
        "board",
        "committee",
        "finance",
        "compliance",
        "risk",
        "legal",
        "sales",
        "support",
        "travel",
        "bay",
        "ocean",
        "river",
        "lake",
        "harbor",
        "harbour",
        "vale",
        "christian",
    }
)
# A sequence ending in one of these is an organisation or a place, not a person.
ORG_OR_PLACE_WORDS = frozenset(
    {
        "inc",
        "ltd",
        "llc",
        "plc",
        "gmbh",
        "ag",
        "sa",
        "corp",
        "corporation",
        "company",
        "co",
        "bank",
        "group",
        "holdings",
        "partners",
        "associates",
        "university",
        "college",
        "school",
        "hospital",
        "clinic",
        "foundation",
        "street",
        "st",
        "avenue",
        "ave",
        "road",
        "rd",
        "lane",
        "drive",
        "boulevard",
        "way",
        "square",
        "park",
        "city",
        "county",
        "state",
        "river",
        "lake",
        "travel",
        "airlines",
        "services",
        "systems",
        "solutions",
        "technologies",
        "consulting",
        "capital",
        "insurance",
        "trust",
        "fund",
        "agency",
        "office",
        "ministry",
        "department",
    }
)
# spaCy entity labels that mean "this word is not a person here".
OTHER_ENTITY_LABELS = frozenset(
    {"GPE", "LOC", "FAC", "ORG", "NORP", "PRODUCT", "WORK_OF_ART", "EVENT", "LAW", "LANGUAGE"}
)
_INTRODUCES_NAME = re.compile(
    r"(?i)(?:\b(?:mr|mrs|ms|miss|mx|dr|prof|sir|madam|dame|lady|lord|rev)\.?|\bmy name is|\bname is|\bnamed|\bcalled|\bi am|\bi'm|\bdear|\bhi|\bhello|\bsigned by|\bask for)[\s,:]*$"
)
_INITIAL = re.compile(r"^[A-Z]\.?$")
_WORD = re.compile(r"^[^\W\d_][^\W\d_'\-]*(?:['\-][^\W\d_]+)*$")


def _latin(name: str) -> bool:
    return bool(_WORD.match(name)) and all(ord(c) < 0x250 for c in name)


@lru_cache(maxsize=1)
def name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """Lower-cased given names and surnames from every Faker locale (Latin script only)."""
    import faker.providers.person as person_providers

    given: set[str] = set()
    surnames: set[str] = set()
    for module in pkgutil.iter_modules(person_providers.__path__):
        provider = importlib.import_module(f"{person_providers.__name__}.{module.name}").Provider
        for attribute, target in (
            ("first_names", given),
            ("first_names_male", given),
            ("first_names_female", given),
            ("first_romanized_names", given),
            ("last_names", surnames),
            ("last_romanized_names", surnames),
        ):
            values = getattr(provider, attribute, ())
            if not isinstance(values, dict | list | tuple | set | frozenset):
                continue  # some locales define these as properties
            for value in values:
                if isinstance(value, str) and len(value) > 1 and _latin(value):
                    target.add(value.lower())
    return frozenset(given - NOT_NAMES), frozenset(surnames - NOT_NAMES)


class NameGazetteerRecognizer(SpanRecognizer):
    """PERSON from name lists + spaCy tags: 'Given [Initial] Surname', 'Title Surname'."""

    def __init__(self) -> None:
        super().__init__(supported_entities=["PERSON"], name="NameGazetteerRecognizer", supported_language="en")

    def load(self) -> None:
        """Build the name sets once per process."""
        self.given, self.surnames = name_lists()

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Spans of name sequences in the spaCy tokens of `text`."""
        if nlp_artifacts is None or nlp_artifacts.tokens is None:
            return []
        tokens = list(nlp_artifacts.tokens)
        other_entities = [
            (e.start_char, e.end_char) for e in nlp_artifacts.tokens.ents if e.label_ in OTHER_ENTITY_LABELS
        ]
        results: list[RecognizerResult] = []
        i = 0
        while i < len(tokens):
            match = self._match_at(tokens, i) or self._single_name_at(text, tokens, i, other_entities)
            if match is None:
                i += 1
                continue
            end_index, score = match
            start, end = tokens[i].idx, tokens[end_index].idx + len(tokens[end_index].text)
            results.append(self.result("PERSON", start, end, score, boosted=True))
            i = end_index + 1
        return results

    def _single_name_at(
        self,
        text: str,
        tokens: list,
        i: int,
        other_entities: list[tuple[int, int]],  # type: ignore[type-arg]
    ) -> tuple[int, float] | None:
        """One capitalised word that is a name: after 'my name is', in a list of names, or a known name alone."""
        token = tokens[i]
        if not _is_capitalised(token) or token.text.lower() in NOT_NAMES:
            return None
        if _INTRODUCES_NAME.search(text, max(0, token.idx - 24), token.idx):
            run = self._capitalised_run(tokens, i)
            return (run if run is not None else i), 0.8
        word = token.text.lower()
        known = word in self.given or word in self.surnames
        if not known:
            return None
        inside_other = any(s <= token.idx < e for s, e in other_entities)
        if inside_other:
            return None  # spaCy says this word is a place, an organisation, ...
        if self._in_name_list(tokens, i):
            return i, 0.7
        # After "Label:" the field's label decides ("Nationality: French" is not a person).
        after_label = text[max(0, token.idx - 3) : token.idx].rstrip().endswith(":")
        if token.pos_ == "PROPN" and not after_label and word in self.given:
            return i, 0.5
        return None

    def _in_name_list(self, tokens: list, i: int) -> bool:  # type: ignore[type-arg]
        """'Kónya, Becker and Vasquez': a neighbour across ',' / 'and' / '&' is also a known name."""
        for step in (-2, 2):
            j = i + step
            if 0 <= j < len(tokens) and tokens[(i + j) // 2].text.lower() in {",", "and", "&", "or"}:
                neighbour = tokens[j]
                if _is_capitalised(neighbour) and (
                    neighbour.text.lower() in self.given or neighbour.text.lower() in self.surnames
                ):
                    return True
        return False

    def _match_at(self, tokens: list, i: int) -> tuple[int, float] | None:  # type: ignore[type-arg]
        first = tokens[i]
        word = first.text.rstrip(".").lower()
        if word in TITLES:
            return None  # the title stays; the name after it is matched from its own token
        if not _is_capitalised(first) or word not in self.given:
            return None
        run = self._capitalised_run(tokens, i + 1)
        if run is None:
            return None
        last = tokens[run].text.lower()
        if last in ORG_OR_PLACE_WORDS:
            return None
        if last in self.surnames:
            return run, 0.85
        if first.pos_ == "PROPN" and tokens[run].pos_ == "PROPN":
            return run, 0.6
        return None

    @staticmethod
    def _capitalised_run(tokens: list, j: int) -> int | None:  # type: ignore[type-arg]
        """Index of the last token of up to three capitalised words (initials allowed) from j."""
        last = None
        k = j
        while k < len(tokens) and k < j + 4:
            token = tokens[k]
            text = token.text
            if _INITIAL.match(text):  # a middle initial: "J", "J." or "J" then "."
                if k + 1 < len(tokens) and tokens[k + 1].text == ".":
                    k += 2
                else:
                    k += 1
                continue
            if not _is_capitalised(token) or text.lower() in NOT_NAMES:
                break
            last = k
            k += 1
        return last


def _is_capitalised(token) -> bool:  # type: ignore[no-untyped-def]
    text = token.text
    return len(text) > 1 and text[0].isupper() and not text.isupper() and _latin(text)


_ORG_WORDS = (
    r"Inc|LLC|Ltd|Limited|PLC|GmbH|AG|SA|Corp|Corporation|Company|Co|Group|Holdings|Partners|Associates|"
    r"University|College|School|Hospital|Clinic|Foundation|Orchestra|Band|Technologies|Technology|Systems|Solutions|"
    r"Consulting|Capital|Insurance|Trust|Fund|Agency|Bank|Airlines|Labs|Media|Studios|Records|Hotel|Restaurant|Club"
)


@lru_cache(maxsize=1)
def _org_or_street_after() -> re.Pattern[str]:
    from appliance.backends.presidio_recognizers import STREET_SUFFIX_PATTERN

    # Skip over the rest of a list of names first: "Davis, Reynolds and Williamson Orchestra".
    more_names = r"(?:(?:,[ \t]*|[ \t]+(?:and|&)[ \t]+)[A-Z][\w'\-]+)*"
    return re.compile(rf"{more_names}[ \t]*(?:-[ \t]*)?(?:{_ORG_WORDS}|{STREET_SUFFIX_PATTERN})\b")


def names_an_organisation_or_street(text: str, end: int) -> bool:
    """'Williamson Orchestra', 'Aunt Bertha Inc', 'Davis, Reynolds and Williamson Orchestra': not people."""
    return bool(_org_or_street_after().match(text, end))


# Words spaCy sometimes tags as a person when they are a field label ("Jane Roe; Email: ...").
LABEL_WORDS = frozenset(
    {
        "email",
        "e-mail",
        "phone",
        "mobile",
        "fax",
        "name",
        "address",
        "subject",
        "date",
        "note",
        "notes",
        "tel",
    }
)


def is_label_word(text: str, start: int, end: int) -> bool:
    """A field label, not a name: 'Email' in '...; Email: x', or 'Résidence fiscale:' opening a field.

    A capitalised speaker ('Ubul: What a wife.') stays a name: missing a name leaks, an extra
    placeholder does not.
    """
    if text[start:end].strip().lower() in LABEL_WORDS:
        return True
    opens_field = start == 0 or text[max(0, start - 2) : start] in {"; ", "| ", ". "} or text[start - 1] == "\n"
    # Names are capitalised word by word; a label such as "Résidence fiscale" is not.
    lowercase_word = any(word[:1].islower() for word in text[start:end].split())
    return opens_field and text[end : end + 1] == ":" and lowercase_word


def first_line(text: str, start: int, end: int) -> int:
    """Where a name span should end: at its first line break ('Hélène Dubois\nDate' -> 'Hélène Dubois')."""
    newline = text.find("\n", start, end)
    return end if newline < 0 else newline
