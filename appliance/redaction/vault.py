"""The sealed vault as the redactor uses it: each collection's known values and ignore list, in memory.

The catalog keeps every replaced value sealed (AES-GCM) under its keyed digest, and counts
the vault's changes per collection (its generation). This process unseals the values only
into an in-memory matcher (known_values.py), and rebuilds or extends that matcher whenever
the generation it was built at is no longer the catalog's, so a value learned by any process
(the service, a worker, a command) reaches every other one at its next use.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from appliance.redaction.known_values import KnownValue, KnownValueMatcher
from appliance.redaction.pseudonyms import Pseudonymizer
from appliance.store.catalog import Catalog


def unseal(key: bytes, sealed: bytes) -> str:
    """Decrypt a vault entry (nonce || ciphertext), in memory only."""
    return AESGCM(key).decrypt(sealed[:12], sealed[12:], None).decode("utf-8")


@dataclass
class _Cached:
    generation: int
    ignored: set[str]
    matcher: KnownValueMatcher = field(default_factory=KnownValueMatcher)


class Vault:
    """Known values per collection as matchers, kept in step with the catalog's vault generation."""

    def __init__(
        self, catalog: Catalog, pseudonymizer: Pseudonymizer, seal_key: bytes, propagated_types: Collection[str]
    ) -> None:
        self._catalog = catalog
        self._pseudonymizer = pseudonymizer
        self._seal_key = seal_key
        self.propagated_types = frozenset(propagated_types)
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def generation(self, collection: str) -> int:
        return self._catalog.vault_generation(collection)

    def matcher(self, collection: str) -> tuple[KnownValueMatcher, int]:
        """The collection's matcher and the generation it reflects, refreshed if the vault moved."""
        with self._lock:
            generation = self._catalog.vault_generation(collection)
            cached = self._cache.get(collection)
            if cached is not None and cached.generation == generation:
                return cached.matcher, generation
            ignored = self._catalog.ignored_digests(collection)
            if cached is None or cached.ignored != ignored:
                cached = _Cached(0, ignored)
            cached.matcher.add(self._values(collection, cached.generation, ignored))
            cached.generation = generation
            self._cache[collection] = cached
            return cached.matcher, generation

    def matcher_since(self, collection: str, generation: int) -> KnownValueMatcher:
        """A matcher of only the values learned after `generation` (the retroactive pass's)."""
        matcher = KnownValueMatcher()
        matcher.add(self._values(collection, generation, self._catalog.ignored_digests(collection)))
        return matcher

    def sealed_originals(self, collection: str) -> list[KnownValue]:
        """Every value the collection's vault holds, of every type, unsealed in memory only.

        For the evaluation gate's privacy probe, which looks for them in a model's output and
        never prints or stores them.
        """
        return [
            KnownValue(entity_type, f"<{entity_type}_{number}>", unseal(self._seal_key, sealed))
            for entity_type, number, sealed, _generation in self._catalog.sealed_values(collection)
        ]

    def is_ignored(self, collection: str, value: str) -> bool:
        """Whether an operator took this value off the collection's redaction."""
        cached = self._cache.get(collection)
        ignored = cached.ignored if cached is not None else self._catalog.ignored_digests(collection)
        return bool(ignored) and self._pseudonymizer.ignore_digest(collection, value) in ignored

    def _values(self, collection: str, after: int, ignored: set[str]) -> Iterable[KnownValue]:
        for entity_type, number, sealed, _generation in self._catalog.sealed_values(collection, after):
            if entity_type not in self.propagated_types:
                continue
            value = unseal(self._seal_key, sealed)
            if ignored and self._pseudonymizer.ignore_digest(collection, value) in ignored:
                continue
            yield KnownValue(entity_type, f"<{entity_type}_{number}>", value)
