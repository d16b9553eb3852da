"""Embeddings of evidence sentences, remembered in memory so a sentence is embedded once.

Ranking candidate sentences embeds every sentence of the retrieved chunks: on two cores
that was the largest cost outside the model. People ask several questions about the same
documents, and the same sentences come back; keyed by the exact text, a cached vector is
always the right one, whatever document or version the sentence sits in.
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from collections.abc import Sequence

from appliance.ports import Embedder

DEFAULT_MAX_ITEMS = 50_000  # 384 float32 per sentence: about 80 MB at most


class VectorCache:
    """An LRU of text -> embedding in front of an embedder; safe across threads."""

    def __init__(self, embedder: Embedder, max_items: int = DEFAULT_MAX_ITEMS) -> None:
        self._embedder = embedder
        self._max_items = max_items
        self._vectors: OrderedDict[str, array] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def embed(self, texts: Sequence[str]) -> list[Sequence[float]]:
        """Vectors for `texts`, embedding only those not seen before (in one batch)."""
        with self._lock:
            found = {t: self._vectors[t] for t in texts if t in self._vectors}
            for text in found:
                self._vectors.move_to_end(text)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            fresh = {t: array("f", v) for t, v in zip(missing, self._embedder.embed(missing), strict=True)}
            with self._lock:
                self._vectors.update(fresh)
                while len(self._vectors) > self._max_items:
                    self._vectors.popitem(last=False)
            found.update(fresh)
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        return [found[t] for t in texts]
