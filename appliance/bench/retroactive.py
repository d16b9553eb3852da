"""The retroactive-redaction benchmark: 100 values learned late, searched for in 10,000 stored chunks.

The store holds the retrieval benchmark's real, sentence-sized chunks (bench_retrieval_corpus.py).
Setting it up with real embeddings would take minutes and is not what is measured, so the
store is filled with random unit vectors; the pass itself embeds the chunks it changes with
the real model, and that time is reported apart from the search. The values are names that
really occur in the text (capitalised word pairs found in one to three chunks), added to the
vault as an operator's list would be. The naive baseline searches every stored document
once per spelling (the same name variants the automaton holds) with a case-insensitive regular expression.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from appliance.actors import Actor
from appliance.bench.retrieval_corpus import collect_corpus, index_corpus
from appliance.build import Models, build
from appliance.redaction.known_values import KnownValue, keys_for
from appliance.redaction.retroactive import catch_up
from appliance.settings import Settings

Progress = Callable[[str], None]
COLLECTION = "bench-retroactive"
_NAME_PAIR = re.compile(r"\b([A-Z][a-z]{2,}) ([A-Z][a-z]{2,})\b")


class RandomUnitEmbedder:
    """Unit vectors from a seeded generator: fills the store fast; never used for the timed pass."""

    def __init__(self, model_id: str, dimension: int) -> None:
        self.model_id = model_id
        self.dimension = dimension
        self._random = np.random.default_rng(7)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self._random.normal(size=(len(texts), self.dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors.tolist()

    def warm_up(self) -> None: ...


def rare_name_pairs(texts: Sequence[str], count: int) -> list[str]:
    """Capitalised word pairs that occur in one to three chunks, in a fixed order."""
    chunks_with: Counter[str] = Counter()
    for text in texts:
        chunks_with.update({" ".join(m.groups()) for m in _NAME_PAIR.finditer(text)})
    rare = sorted(pair for pair, n in chunks_with.items() if 1 <= n <= 3)
    return rare[:: max(1, len(rare) // count)][:count]


def _naive_patterns(values: Sequence[str]) -> list[re.Pattern[str]]:
    """One case-insensitive regex per spelling the automaton holds (name variants included), at word edges."""
    spellings = sorted({key for v in values for key in keys_for(KnownValue("PERSON", "", v))[0]})
    return [
        re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, key.split())) + r"(?!\w)", re.IGNORECASE)
        for key in spellings
    ]


def _naive_find(texts: Sequence[str], values: Sequence[str]) -> tuple[float, int]:
    """Every pattern over every document: (seconds, documents with a match)."""
    started = time.perf_counter()
    patterns = _naive_patterns(values)
    hits = {i for pattern in patterns for i, text in enumerate(texts) if pattern.search(text)}
    return time.perf_counter() - started, len(hits)


def run_retroactive_bench(
    settings: Settings, models: Models, *, eval_dir: Path, chunks: int, values: int, progress: Progress | None = None
) -> dict[str, Any]:
    """Fill a temporary store, add `values` names to its vault, time the retroactive pass and the baseline."""
    say = progress or (lambda _line: None)
    started = time.perf_counter()
    documents = collect_corpus(eval_dir, chunks)
    say(f"corpus: {sum(len(d.spans) for d in documents)} chunks from {len(documents)} documents")
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-retroactive-", dir=settings.tmp_dir) as root:
        with build(settings.model_copy(update={"home": Path(root) / "home"}), models) as app:
            filler = RandomUnitEmbedder(app.embedder.model_id, app.embedder.dimension)
            corpus = index_corpus(dataclasses.replace(app, embedder=filler), documents, COLLECTION, say)
            setup_seconds = time.perf_counter() - started
            names = rare_name_pairs(corpus.texts, values)
            say(f"adding {len(names)} names to the vault and running the pass ...")
            app.redactor.pseudonymizer.placeholders(COLLECTION, "PERSON", names)
            stored = [app.catalog.document_text(d.row_id) for d in app.catalog.list_active([COLLECTION])]
            naive_seconds, naive_documents = _naive_find(stored, names)
            models.embedder.warm_up()
            report = catch_up(app, COLLECTION, Actor("bench:retroactive", "operator"))
            after = [app.catalog.document_text(d.row_id) for d in app.catalog.list_active([COLLECTION])]
            left = sum(len(p.findall(text)) for p in _naive_patterns(names) for text in after)
    return {
        "chunks": len(corpus.texts),
        "documents": len(documents),
        "characters": sum(len(d.text) for d in documents),
        "values": len(names),
        "setup_seconds": round(setup_seconds, 1),
        "pass": report.to_json() | {"documents": len(report.documents)},
        "naive": {"find_seconds": round(naive_seconds, 3), "documents_found": naive_documents},
        "values_left_in_store": left,
    }


def format_report(result: dict[str, Any]) -> str:
    """The figures as a terminal table."""
    p, n = result["pass"], result["naive"]
    speedup = n["find_seconds"] / p["find_seconds"] if p["find_seconds"] else float("inf")
    return "\n".join(
        [
            f"store: {result['chunks']:,} chunks in {result['documents']} documents, {result['characters']:,} characters "
            f"(set up in {result['setup_seconds']:.0f} s with random vectors)",
            f"values learned late: {result['values']} names, each in 1-3 chunks",
            f"{'search':<34}{'seconds':>9}{'documents found':>17}",
            f"{'retroactive pass (automaton)':<34}{p['find_seconds']:>9.3f}{p['documents_re_redacted']:>17}",
            f"{'naive (one regex per spelling)':<34}{n['find_seconds']:>9.3f}{n['documents_found']:>17}",
            f"search speed-up vs naive: {speedup:.1f}x; target: under 5 s for 10,000 chunks x 100 values",
            f"re-redacted: {p['documents_re_redacted']} documents, {p['chunks_re_redacted']:,} chunks held a value, "
            f"{p['chunks_embedded']:,} re-embedded ({p['embed_seconds']:.1f} s), whole rewrite {p['rewrite_seconds']:.1f} s",
            f"occurrences of a value left in the store: {result['values_left_in_store']}",
        ]
    )
