"""The naive retrieval baseline: exact cosine over every vector and a BM25 scan of every chunk, no index.

It ranks the same way `retrieval.retrieve` does (candidates per ranker, reciprocal rank fusion), so the
retrieval benchmark can set the indexed store's latency and results beside what brute force gives.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from appliance.answer.retrieval import reciprocal_rank_fusion, search_terms

BM25_K1, BM25_B = 1.2, 0.75  # FTS5's bm25() defaults
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def query_terms(question: str) -> list[tuple[str, ...]]:
    """The terms (a word, or a pseudonym's words as a phrase) the lexical query of this question holds."""
    return [tuple(_TOKEN.findall(term.lower())) for term in search_terms(question)]


def _occurrences(tokens: Sequence[str], term: tuple[str, ...]) -> int:
    """How often a term (one word or a phrase) occurs in a token list."""
    if len(term) == 1:
        return tokens.count(term[0])
    n = len(term)
    return sum(tuple(tokens[i : i + n]) == term for i in range(len(tokens) - n + 1))


def scan_bm25(question: str, texts: Sequence[str], limit: int) -> list[int]:
    """Indices of the best `limit` texts by BM25, every text tokenised again for this question."""
    terms = query_terms(question)
    if not terms or not texts:
        return []
    lengths: list[int] = []
    counts: list[Counter[tuple[str, ...]]] = []
    for text in texts:
        tokens = _TOKEN.findall(text.lower())
        lengths.append(len(tokens))
        counts.append(Counter({t: c for t in terms if (c := _occurrences(tokens, t))}))
    average = sum(lengths) / len(lengths) or 1.0
    documents = len(texts)
    idf = {}
    for term in terms:
        having = sum(1 for c in counts if term in c)
        idf[term] = max(math.log((documents - having + 0.5) / (having + 0.5)), 1e-6)
    scores: dict[int, float] = {}
    for index, (found, length) in enumerate(zip(counts, lengths, strict=True)):
        if found:
            norm = BM25_K1 * (1 - BM25_B + BM25_B * length / average)
            scores[index] = sum(idf[t] * c * (BM25_K1 + 1) / (c + norm) for t, c in found.items())
    return sorted(scores, key=lambda i: -scores[i])[:limit]


def brute_force_dense(query: np.ndarray, vectors: np.ndarray, limit: int) -> list[int]:
    """Indices of the `limit` rows with the highest cosine similarity (rows and query are unit length)."""
    if vectors.size == 0:
        return []
    scores = vectors @ query
    limit = min(limit, len(scores))
    top = np.argpartition(-scores, limit - 1)[:limit]
    return [int(i) for i in top[np.argsort(-scores[top])]]


def fuse(dense: Sequence[int], lexical: Sequence[int], top_k: int) -> list[int]:
    """The top_k row indices by reciprocal rank fusion of the two rankings, as `retrieve` fuses them."""
    fused = reciprocal_rank_fusion([[str(i) for i in r] for r in (dense, lexical) if r])
    return [int(key) for key in sorted(fused, key=lambda key: -fused[key])[:top_k]]
