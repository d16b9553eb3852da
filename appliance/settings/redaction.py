"""Settings of redaction: the entity policy, custom recognizers, field labels, known values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, Field, field_validator

REDACTED_BY_DEFAULT = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "US_SSN",
    "US_ITIN",
    "US_PASSPORT",
    "US_DRIVER_LICENSE",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_BANK_NUMBER",
    "IP_ADDRESS",
    "STREET_ADDRESS",
    "DATE_OF_BIRTH",
    "CRYPTO",
    "MEDICAL_LICENSE",
)
# Known values spread to every text of their collection; addresses, dates of birth and IP addresses do not,
# because their values are also places, dates and numbers people ask about.
PROPAGATED_BY_DEFAULT = (
    *(t for t in REDACTED_BY_DEFAULT if t not in {"IP_ADDRESS", "STREET_ADDRESS", "DATE_OF_BIRTH"}),
    "MEDICAL_RECORD_NUMBER",
    "EMPLOYEE_ID",
    "MEMBER_NUMBER",
)
KEPT_BY_DEFAULT = ("DATE_TIME", "LOCATION", "ORGANIZATION", "NRP", "URL")


class CustomRecognizerSettings(BaseModel):
    """A site-specific identifier: a pattern, context words, and a checksum where one applies."""

    entity_type: str = Field(description="Type name used in placeholders, e.g. MEMBER_NUMBER; always redacted.")
    pattern: str = Field(description="Regular expression matching the identifier.")
    context: list[str] = Field(default_factory=list, description="Words that, near a match, confirm it.")
    context_required: bool = Field(True, description="Redact a match only when a context word is near it.")
    validator: Literal["none", "luhn", "mod97"] = Field("none", description="Checksum the digits must pass.")
    score: float = Field(0.8, ge=0.0, le=1.0, description="Confidence given to a confirmed match.")

    @field_validator("entity_type")
    @classmethod
    def _type_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]{1,40}", value):
            raise ValueError("entity_type must be UPPER_CASE letters, digits and underscores")
        return value

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"pattern does not compile: {error}") from None
        return value


def default_custom_recognizers() -> list[CustomRecognizerSettings]:
    """Identifiers common at our customers that Presidio has no recognizer for."""
    return [
        CustomRecognizerSettings(
            entity_type="MEDICAL_RECORD_NUMBER",
            pattern=r"\b(?:MRN[-:#\s]*)?\d{6,10}\b",
            context=["mrn", "medical record", "patient id", "chart"],
        ),
        CustomRecognizerSettings(
            entity_type="EMPLOYEE_ID",
            pattern=r"\b(?:EMP|E|EID)[-#]?\d{4,8}\b",
            context=["employee", "staff id", "personnel", "emp id", "badge"],
        ),
        CustomRecognizerSettings(
            entity_type="MEMBER_NUMBER",
            pattern=r"\b[A-Z]{0,3}\d{8,16}\b",
            context=["member", "membership", "policy number", "subscriber"],
            validator="luhn",
        ),
    ]


# Table headers and form labels whose values are redacted: label words -> entity type; a label matches when it ends with one of these phrases.
DEFAULT_FIELD_LABELS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "PERSON": (
            "name",
            "full name",
            "first name",
            "last name",
            "surname",
            "given name",
            "customer",
            "client",
            "employee",
            "staff member",
            "contact",
            "contact person",
            "account manager",
            "relationship manager",
            "manager",
            "attendee",
            "applicant",
            "patient",
            "beneficiary",
            "cardholder",
            "account holder",
            "policyholder",
            "signatory",
            "approver",
            "approved by",
            "prepared by",
            "reported by",
            "submitted by",
            "author",
            "reviewer",
            "assignee",
            "representative",
            "from",
            "to",
            "cc",
            "bcc",
            "reply-to",
            "spouse",
            "next of kin",
            "guardian",
            "witness",
            "physician",
            "doctor",
            "insured",
            "claimant",
            "borrower",
            "guarantor",
            "tenant",
            "landlord",
        ),
        "EMAIL_ADDRESS": ("email", "e-mail", "email address", "e-mail address", "mail"),
        "PHONE_NUMBER": ("phone", "telephone", "tel", "mobile", "cell", "fax", "phone number", "contact number"),
        "US_SSN": ("ssn", "social security number", "social security no"),
        "US_PASSPORT": ("passport", "passport number", "passport no"),
        "US_DRIVER_LICENSE": (
            "driver's licence",
            "driver's license",
            "drivers licence",
            "drivers license",
            "driving licence",
        ),
        "CREDIT_CARD": ("card number", "credit card", "card no", "pan"),
        "IBAN_CODE": ("iban",),
        "US_BANK_NUMBER": ("account number", "account no", "bank account", "acct no"),
        "IP_ADDRESS": ("ip", "ip address"),
        "STREET_ADDRESS": ("address", "home address", "street address", "postal address", "residence"),
        "DATE_OF_BIRTH": ("date of birth", "dob", "birth date", "birthdate", "born"),
    }
)


def default_field_labels() -> dict[str, list[str]]:
    """A fresh, editable copy of the default labels for one Settings object."""
    return {kind: list(labels) for kind, labels in DEFAULT_FIELD_LABELS.items()}


class RedactionSettings(BaseModel):
    """The entity policy: what is replaced by a pseudonym before anything is stored."""

    redactor: Literal["presidio"] = Field("presidio", description="Redaction backend.")
    redact_entities: list[str] = Field(
        default_factory=lambda: list(REDACTED_BY_DEFAULT),
        description="Entity types replaced by pseudonyms such as <PERSON_3>.",
    )
    keep_entities: list[str] = Field(
        default_factory=lambda: list(KEPT_BY_DEFAULT),
        description="Entity types deliberately kept because they carry facts (dates, places, organisations).",
    )
    score_threshold: float = Field(
        0.4, ge=0.0, le=1.0, description="Minimum recognizer confidence for a span to be redacted."
    )
    custom_recognizers: list[CustomRecognizerSettings] = Field(
        default_factory=default_custom_recognizers,
        description="Site-specific identifiers (pattern, context words, checksum); their types are always redacted. In TOML: [[redaction.custom_recognizers]] tables.",
    )
    field_labels: dict[str, list[str]] = Field(
        default_factory=default_field_labels,
        description="Table headers and form labels (per entity type) whose values are redacted in every row; a label matches when it ends with one of the phrases.",
    )
    propagate_known_values: bool = Field(
        True,
        description="Replace every value a collection's vault knows wherever it appears in that collection (with name variants), and re-redact stored documents when the vault learns a value.",
    )
    propagated_types: list[str] = Field(
        default_factory=lambda: list(PROPAGATED_BY_DEFAULT),
        description="Entity types whose known values are propagated; also the types `appliance redact add|import --type` accepts. Dates and addresses are left out: their values are also facts.",
    )

    @property
    def redacted_types(self) -> list[str]:
        """The policy's types plus every custom recognizer's type."""
        return sorted({*self.redact_entities, *(c.entity_type for c in self.custom_recognizers)})

    @field_validator("redact_entities", "keep_entities", "propagated_types")
    @classmethod
    def _upper(cls, values: list[str]) -> list[str]:
        return sorted({v.strip().upper() for v in values if v.strip()})
