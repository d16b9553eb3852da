"""The sentence-vector cache embeds each distinct text once and keeps at most max_items."""

from __future__ import annotations

from collections.abc import Sequence

from appliance.store.vector_cache import VectorCache


class CountingEmbedder:
    """A stand-in at our own seam: records what it was asked to embed."""

    model_id = "counting"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [[float(len(t)), 1.0] for t in texts]

    def warm_up(self) -> None:
        pass


def test_each_text_is_embedded_once_and_order_is_kept() -> None:
    embedder = CountingEmbedder()
    cache = VectorCache(embedder)  # type: ignore[arg-type]
    first = cache.embed(["aa", "b", "aa"])
    assert [list(v) for v in first] == [[2.0, 1.0], [1.0, 1.0], [2.0, 1.0]]
    second = cache.embed(["b", "cccc"])
    assert [list(v) for v in second] == [[1.0, 1.0], [4.0, 1.0]]
    assert embedder.calls == [["aa", "b"], ["cccc"]]
    assert (cache.hits, cache.misses) == (2, 3)


def test_the_least_recently_used_text_is_dropped() -> None:
    embedder = CountingEmbedder()
    cache = VectorCache(embedder, max_items=2)  # type: ignore[arg-type]
    cache.embed(["a", "b"])
    cache.embed(["a"])  # a is now the most recent
    cache.embed(["c"])  # b goes
    cache.embed(["a", "b"])
    assert embedder.calls[-1] == ["b"]
