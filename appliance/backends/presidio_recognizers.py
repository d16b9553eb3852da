"""Recognizers we add to Presidio for policy entities it has no recognizer for."""

from __future__ import annotations

import re

from presidio_analyzer import AnalysisExplanation, EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

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

_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|"
    r"Close|Crescent|Square|Sq|Parkway|Pkwy|Highway|Hwy)"
)
STREET_ADDRESS_REGEX = (
    rf"\b\d{{1,5}}[A-Za-z]?\s+(?:[A-Z][A-Za-z'\-]+\s+){{1,4}}{_STREET_SUFFIX}\b\.?"
    r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Flat)\.?\s*#?\w+)?"
)


class SpanRecognizer(EntityRecognizer):
    """Base for our code recognizers: results carry what Presidio's context enhancer needs."""

    def load(self) -> None:
        """Nothing to load by default."""

    def result(self, entity_type: str, start: int, end: int, score: float) -> RecognizerResult:
        """A result Presidio can boost with context words and explain."""
        return RecognizerResult(
            entity_type,
            start,
            end,
            score,
            analysis_explanation=AnalysisExplanation(recognizer=self.name, original_score=score),
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )


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
    """House number, capitalised street name and a street suffix ("42 Elm Street, Apt 3")."""
    return PatternRecognizer(
        supported_entity="STREET_ADDRESS",
        name="StreetAddressRecognizer",
        patterns=[Pattern("street_address", STREET_ADDRESS_REGEX, 0.6)],
        context=["address", "lives", "resides", "street", "home"],
    )


_PHONE = re.compile(
    r"(?<![\w+.\-/])(?P<number>(?:\+|00)?\d{1,4}[\s.\-]?(?:\(\d{1,5}\)[\s.\-]?)?\d{1,5}(?:[\s.\-]\d{1,5}){0,4}"
    r"|\(\d{1,5}\)[\s.\-]?\d{2,5}(?:[\s.\-]\d{1,5}){0,3})(?![\w.\-/]\d)"
)
_ISO_DATE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")
PHONE_CONTEXT = [
    "phone",
    "telephone",
    "tel",
    "mobile",
    "cell",
    "call",
    "fax",
    "contact",
    "number",
    "reach",
    "dial",
    "whatsapp",
    "ext",
]


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
            context=PHONE_CONTEXT,
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
            marked = number.startswith(("+", "00", "(")) or "(" in number
            score = 0.6 if marked else (0.3 if len([g for g in groups if g]) >= 2 else 0.15)
            start = match.start("number")
            results.append(self.result("PHONE_NUMBER", start, start + len(number), score))
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
