"""Consistent pseudonyms: the same value gets the same <TYPE_n> across a collection.

The link from value to number is a keyed HMAC (the key is a 0600 file), so the stored
digests cannot be brute-forced without the key. The original value is kept only
sealed (AES-GCM, a second key) for a later, audited, admin-only re-identification, and
for the in-memory known-value matcher (vault.py); nothing in this module can unseal it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import Sequence
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_SPACES = re.compile(r"\s+")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")
_COMPACT_TYPES = frozenset(
    {"PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "US_ITIN", "US_BANK_NUMBER", "UK_NHS"}
)


class PseudonymRepository(Protocol):
    """Persistent numbering of digests per collection and type."""

    def pseudonym_number(self, collection: str, entity_type: str, digest: str, sealed_value: bytes) -> int:
        """The number already given to `digest`, or the next free one, stored."""
        ...

    def existing_pseudonym_number(self, collection: str, entity_type: str, digest: str) -> int | None:
        """The number given to `digest`, or None; never allocates."""
        ...

    def pseudonym_numbers(self, collection: str, entity_type: str, entries: Sequence[tuple[str, bytes]]) -> list[int]:
        """Numbers of several (digest, sealed value) entries, new ones stored, at once."""
        ...


def normalise(entity_type: str, value: str) -> str:
    """The form under which two spellings of one value count as the same value."""
    text = unicodedata.normalize("NFKC", value).strip()
    if entity_type in _COMPACT_TYPES:
        return _NOT_ALNUM.sub("", text).upper()
    return _SPACES.sub(" ", text).casefold()


def seal(key: bytes, plaintext: str) -> bytes:
    """Encrypt a value for the re-identification map (nonce || ciphertext)."""
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), None)


class Pseudonymizer:
    """Turns (collection, type, value) into a stable placeholder such as <PERSON_3>."""

    def __init__(self, hmac_key: bytes, seal_key: bytes, repository: PseudonymRepository) -> None:
        self._hmac_key = hmac_key
        self._seal_key = seal_key
        self._repository = repository
        self._cache: dict[tuple[str, str, str], int] = {}

    def digest(self, collection: str, entity_type: str, value: str) -> str:
        """Keyed digest of the normalised value, scoped to one collection."""
        message = f"{collection}\x1f{entity_type}\x1f{normalise(entity_type, value)}".encode()
        return hmac.new(self._hmac_key, message, hashlib.sha256).hexdigest()

    def ignore_digest(self, collection: str, value: str) -> str:
        """Keyed digest of a value on the ignore list, whatever type the redactor gave it."""
        compact = _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", value))
        form = compact if compact.isdigit() else normalise("PERSON", value)
        message = f"{collection}\x1fignore\x1f{form}".encode()
        return hmac.new(self._hmac_key, message, hashlib.sha256).hexdigest()

    def placeholder(self, collection: str, entity_type: str, value: str) -> str:
        """The placeholder for this value, creating its number on first sight."""
        digest = self.digest(collection, entity_type, value)
        key = (collection, entity_type, digest)
        number = self._cache.get(key)
        if number is None:
            sealed = seal(self._seal_key, value)
            number = self._repository.pseudonym_number(collection, entity_type, digest, sealed)
            self._cache[key] = number
        return f"<{entity_type}_{number}>"

    def placeholders(self, collection: str, entity_type: str, values: Sequence[str]) -> list[str]:
        """Placeholders of many values of one type, new ones stored in one write (an operator's list)."""
        entries = [(self.digest(collection, entity_type, v), seal(self._seal_key, v)) for v in values]
        numbers = self._repository.pseudonym_numbers(collection, entity_type, entries)
        for (digest, _sealed), number in zip(entries, numbers, strict=True):
            self._cache[(collection, entity_type, digest)] = number
        return [f"<{entity_type}_{n}>" for n in numbers]

    def existing_placeholder(self, collection: str, entity_type: str, value: str) -> str:
        """The placeholder a stored document uses for this value, or a bare <TYPE> if none does.

        Questions use this: they must match stored pseudonyms but never add to the map.
        """
        digest = self.digest(collection, entity_type, value)
        number = self._cache.get((collection, entity_type, digest))
        if number is None:
            number = self._repository.existing_pseudonym_number(collection, entity_type, digest)
        return f"<{entity_type}_{number}>" if number is not None else f"<{entity_type}>"
