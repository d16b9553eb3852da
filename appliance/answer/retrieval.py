"""Hybrid retrieval: dense (vectors) and lexical (BM25 over the full-text index), fused by reciprocal rank.

Dense search finds paraphrases; BM25 finds exact terms, numbers and pseudonyms such as
<PERSON_3> that embeddings blur. Both only ever see active document versions in the
collections the caller may read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from appliance.ports import Embedder, VectorStore
from appliance.store.catalog import Catalog, ChunkHit

RRF_K = 60  # the constant from Cormack et al. (2009); damps the weight of the very top ranks
CANDIDATES_PER_RESULT = 4  # each ranker returns top_k * this before fusion

_PLACEHOLDER = re.compile(r"<([A-Z][A-Z_]*?)_(\d+)>")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Words that carry no evidence of their own; a BM25 query of them only adds noise.
STOP_WORDS = frozenset(
    "a an and are as at be by can could did do does for from had has have how i if in is it its of on or our "
    "should so than that the their them then there these they this to was we were what when where which who "
    "whom whose why will with would you your about after before into over under up out not no yes".split()
)

Mode = Literal["hybrid", "dense", "lexical"]


@dataclass(frozen=True)
class Retrieved:
    """A retrieved chunk with its fused score and where each ranker placed it (None: not found by it)."""

    chunk: ChunkHit
    score: float
    dense_rank: int | None
    lexical_rank: int | None


def search_terms(question: str) -> list[str]:
    """The lexical query's terms: pseudonyms as phrases ('<PERSON_3>' -> 'PERSON 3'), then content words."""
    terms = [f"{kind} {number}" for kind, number in _PLACEHOLDER.findall(question)]
    rest = _PLACEHOLDER.sub(" ", question)
    seen = set()
    for word in _WORD.findall(rest.lower()):
        if word not in STOP_WORDS and word not in seen and (len(word) > 1 or word.isdigit()):
            seen.add(word)
            terms.append(word)
    return terms


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> dict[str, float]:
    """Sum of 1 / (k + rank) over the rankings each id appears in (rank from 1)."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return scores


def retrieve(
    question: str,
    *,
    catalog: Catalog,
    vectors: VectorStore,
    embedder: Embedder,
    collections: Sequence[str],
    top_k: int,
    mode: Mode = "hybrid",
    doc_ids: Sequence[str] | None = None,
    query_vector: Sequence[float] | None = None,
) -> list[Retrieved]:
    """The top_k chunks for an already-redacted question, best first (pass its vector if already embedded)."""
    if not collections or top_k <= 0:
        return []
    wanted = top_k * CANDIDATES_PER_RESULT * (4 if doc_ids else 1)
    dense: list[str] = []
    lexical: list[str] = []
    if mode in ("hybrid", "dense"):
        vector = query_vector if query_vector is not None else embedder.embed([question])[0]
        dense = [hit.chunk_id for hit in vectors.query(vector, wanted, collections)]
    if mode in ("hybrid", "lexical"):
        lexical = [chunk_id for chunk_id, _ in catalog.search_text(search_terms(question), collections, wanted)]
    hits = catalog.active_chunks(list(dict.fromkeys([*dense, *lexical])))
    if doc_ids is not None:
        allowed = set(doc_ids)
        hits = {cid: hit for cid, hit in hits.items() if hit.doc_id in allowed}
    dense = [c for c in dense if c in hits]
    lexical = [c for c in lexical if c in hits]
    fused = reciprocal_rank_fusion([r for r in (dense, lexical) if r])
    best = sorted(fused, key=lambda cid: -fused[cid])[:top_k]
    dense_rank = {cid: i for i, cid in enumerate(dense, start=1)}
    lexical_rank = {cid: i for i, cid in enumerate(lexical, start=1)}
    return [Retrieved(hits[cid], fused[cid], dense_rank.get(cid), lexical_rank.get(cid)) for cid in best]
