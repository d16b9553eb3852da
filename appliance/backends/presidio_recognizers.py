"""Recognizers we add to Presidio for policy entities it has no recognizer for."""

from __future__ import annotations

import re
from types import MappingProxyType

from presidio_analyzer import AnalysisExplanation, EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from appliance.settings import CustomRecognizerSettings

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_DATE = (
    r"(?:\d{4}-\d{2}-\d{2}"
    r"|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}}"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})"
)
_DOB = re.compile(
    rf"(?i)\b(?:date\s+of\s+birth|d\.?o\.?b\.?|born(?:\s+on)?|birth\s*date|birthday)\s*[:\-]?\s*(?P<date>{_DATE})"
)


def _street_suffixes() -> str:
    """USPS street suffixes (Faker ships the Publication 28 list) plus common abbreviations."""
    from faker.providers.address.en_US import Provider

    words = set(Provider.street_suffixes) | {
        "St",
        "Ave",
        "Rd",
        "Blvd",
        "Ln",
        "Dr",
        "Ct",
        "Pl",
        "Ter",
        "Close",
        "Cres",
        "Sq",
        "Pkwy",
        "Hwy",
        "Cir",
        "Jct",
        "Rte",
    }
    return "(?:" + "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True)) + ")"


STREET_SUFFIX_PATTERN = _street_suffixes()
_STREET_SUFFIX = STREET_SUFFIX_PATTERN
# Continental street words: a suffix morpheme ("Bundesstrasse 31", "Puruntie 82") or a leading word ("Rua do Arenque 1634").
_STREET_MORPHEME = (
    r"(?:stra(?:ss|ß)e|str\.|gasse|weg|allee|platz|damm|vej|vägen|gatan|gata|veien|vei|tie|katu|kuja|tänav|iela|"
    r"gatvė|ulica|utca|út|straat|laan|gracht|plein|dreef|steeg|vænget|gade|torget|torg)"
)
_STREET_LEAD = r"(?:Rue|Rua|Via|Viale|Calle|Avenida|Avenue|Piazza|Plaza|Paseo|Carrer|Corso|Travessa|Largo|Ulica|Ul\.)"
STREET_ADDRESS_PATTERNS: tuple[tuple[str, str, float], ...] = (
    (
        "house_number_street_suffix",
        rf"\b\d{{1,5}}[A-Za-z]?(?:[\s,]+\d{{1,5}})?\s+(?:[A-Z][\w'\-]+\s+){{1,4}}{_STREET_SUFFIX}\b\.?"
        r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Flat)\.?\s*#?\w+)?",
        0.6,
    ),
    ("street_morpheme_number", rf"\b[A-ZÀ-Ý][\w\-]*{_STREET_MORPHEME}\s+\d{{1,5}}[a-zA-Z]?\b", 0.5),
    ("lead_word_street_number", rf"\b{_STREET_LEAD}\s+(?:[\w'\-]+\s+){{1,5}}\d{{1,5}}[a-zA-Z]?\b", 0.5),
    ("unit", r"\b(?:Apt|Apartment|Suite|Ste)\.?\s*#?\d{1,5}[A-Za-z]?\b", 0.5),
    ("military_box", r"\b(?:PSC|Unit|USNS|USS|USNV|USCGC)\s+\d{3,5},?\s+Box\s+\d{3,5}\b", 0.6),
    ("military_post", r"\b(?:APO|FPO|DPO)\s+(?:AA|AE|AP)\s+\d{5}\b", 0.6),
    ("po_box", r"\b(?:P\.?\s?O\.?\s+Box|Post\s+Office\s+Box)\s+\d{1,6}\b", 0.6),
)
STREET_ADDRESS_REGEX = STREET_ADDRESS_PATTERNS[0][1]


class SpanRecognizer(EntityRecognizer):
    """Base for our code recognizers: results carry what Presidio's context enhancer needs."""

    def load(self) -> None:
        """Nothing to load by default."""

    def result(self, entity_type: str, start: int, end: int, score: float, boosted: bool = False) -> RecognizerResult:
        """A result Presidio can boost with context words and explain."""
        name = str(getattr(self, "name", type(self).__name__))
        return RecognizerResult(
            entity_type,
            start,
            end,
            score,
            analysis_explanation=AnalysisExplanation(recognizer=name, original_score=score),
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY: boosted,
            },
        )


def has_context(text: str, start: int, end: int, words: re.Pattern[str], before: int = 32, after: int = 16) -> bool:
    """Whether a context word stands in, just before or just after a span.

    Presidio's own enhancer only looks at non-stop-word lemmas, and "call", "me" or
    "on" are spaCy stop words; this looks at the raw text instead.
    """
    return bool(words.search(text, max(0, start - before), min(len(text), end + after)))


class DateOfBirthRecognizer(SpanRecognizer):
    """A date is a date of birth only next to words that say so ("born", "DOB")."""

    def __init__(self) -> None:
        super().__init__(supported_entities=["DATE_OF_BIRTH"], name="DateOfBirthRecognizer", supported_language="en")

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Spans of the date part of every date-of-birth phrase."""
        return [RecognizerResult("DATE_OF_BIRTH", m.start("date"), m.end("date"), 0.85) for m in _DOB.finditer(text)]


def street_address_recognizer() -> PatternRecognizer:
    """Street addresses: "42 Elm Street, Apt 3", "Bundesstrasse 31", "Rua do Arenque 1634", "PO Box 12"."""
    return PatternRecognizer(
        supported_entity="STREET_ADDRESS",
        name="StreetAddressRecognizer",
        patterns=[Pattern(name, regex, score) for name, regex, score in STREET_ADDRESS_PATTERNS],
        context=["address", "lives", "resides", "street", "home"],
        global_regex_flags=re.MULTILINE,  # Presidio's default IGNORECASE would make "to Harbor" a street name
    )


_PHONE = re.compile(
    r"(?<![\w+.\-/])(?P<number>(?:\+|00)?\d{1,4}[ \t.\-]?(?:\(\d{1,5}\)[ \t.\-]?)?\d{1,5}(?:[ \t.\-]\d{1,5}){0,4}"
    r"|\(\d{1,5}\)[ \t.\-]?\d{2,5}(?:[ \t.\-]\d{1,5}){0,3})(?![\w.\-/]\d)"
)
_ISO_DATE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")
PHONE_CONTEXT = re.compile(
    r"(?i)\b(?:phone|telephone|tel|mobile|cell|call|fax|contact|reach|dial|whatsapp|text|sms|messages?|"
    r"office|home|work|ext|extension|landline|hotline|switchboard|answer|answering|ring|rang|reached)\b"
)


class InternationalPhoneRecognizer(SpanRecognizer):
    """Phone numbers in national and international layouts the default recognizer misses.

    A digit run with 7 to 15 digits in groups; a leading + or an area code in brackets
    marks it as a phone by itself, a bare digit group needs a context word ("phone").
    Dates and decimal amounts are never phones.
    """

    def __init__(self) -> None:
        super().__init__(
            supported_entities=["PHONE_NUMBER"],
            name="InternationalPhoneRecognizer",
            supported_language="en",
        )

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Phone-shaped digit runs, scored by how phone-like their layout is."""
        results = []
        for match in _PHONE.finditer(text):
            number = match.group("number").rstrip(" .-")
            digits = sum(c.isdigit() for c in number)
            if not 7 <= digits <= 15 or _ISO_DATE.match(number):
                continue
            groups = re.split(r"[\s.\-()]+", number.strip("+()"))
            if "." in number and len([g for g in groups if g]) == 2:
                continue  # 1234.56 is an amount
            marked = number.startswith(("+", "(")) or "(" in number
            start = match.start("number")
            end = start + len(number)
            if marked:
                score = 0.6
            elif has_context(text, start, end, PHONE_CONTEXT):
                score = 0.65
            else:
                score = 0.3 if len([g for g in groups if g]) >= 2 else 0.15
            results.append(self.result("PHONE_NUMBER", start, end, score, boosted=True))
        return results


_CARD = re.compile(r"(?<![\d\-])(?P<card>[2-6]\d{3}(?:[ \-]?\d{2,4}){2,4}(?:[ \-]?\d{1,3})?)(?![\d\-])")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number carries."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


class CardNumberRecognizer(SpanRecognizer):
    """Payment cards of 12 to 19 digits, with or without separators, Luhn-checked."""

    def __init__(self) -> None:
        super().__init__(
            supported_entities=["CREDIT_CARD"],
            name="CardNumberRecognizer",
            supported_language="en",
            context=["card", "credit", "debit", "visa", "mastercard", "amex", "maestro", "pan", "payment"],
        )

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Luhn-valid 12-19 digit runs starting with a card network's leading digit."""
        results = []
        for match in _CARD.finditer(text):
            digits = re.sub(r"\D", "", match.group("card"))
            if 12 <= len(digits) <= 19 and luhn_valid(digits):
                results.append(self.result("CREDIT_CARD", match.start("card"), match.end("card"), 0.8))
        return results


def mod97_valid(digits: str) -> bool:
    """ISO 7064 mod 97-10, the checksum of IBANs and several national identifiers."""
    return len(digits) > 2 and int(digits) % 97 == 1


_VALIDATORS = MappingProxyType({"none": lambda digits: True, "luhn": luhn_valid, "mod97": mod97_valid})


class ConfiguredRecognizer(SpanRecognizer):
    """A recognizer defined in settings: pattern, context words, optional checksum."""

    def __init__(self, config: CustomRecognizerSettings) -> None:
        self._pattern = re.compile(config.pattern)
        words = "|".join(re.escape(w) for w in config.context) or r"(?!)"
        self._context = re.compile(rf"(?i)\b(?:{words})")
        self._config = config
        super().__init__(
            supported_entities=[config.entity_type], name=f"Configured_{config.entity_type}", supported_language="en"
        )

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Matches that pass the checksum, and have context nearby when the settings require it."""
        results = []
        check = _VALIDATORS[self._config.validator]
        for match in self._pattern.finditer(text):
            digits = re.sub(r"\D", "", match.group(0))
            if self._config.validator != "none" and (not digits or not check(digits)):
                continue
            near = has_context(text, match.start(), match.end(), self._context)
            if self._config.context_required and not near:
                continue
            score = self._config.score if near or not self._config.context_required else self._config.score / 2
            results.append(self.result(self._config.entity_type, match.start(), match.end(), score, boosted=True))
        return results
