"""The ingestion-speed benchmark: our pipeline, a naive baseline and the stage limit, on one corpus.

- pipeline: `ingest_paths` as operators run it (whole documents batched through spaCy with
  the parser pruned, embeddings batched).
- naive baseline: the same recognizers run one chunk at a time, embeddings computed one chunk
  at a time.
- pipeline, no propagation: the same without known values (the redactor before they existed); the
  pipeline run starts with the collection's vault holding 10,000 made-up values, so the difference
  is what propagation costs at that size.
- stage limit: spaCy's pass alone plus the embedding pass alone over the same text; no
  pipeline can beat their sum on these two cores, so "share of the limit" says how much
  the rest (loading, recognizers, pseudonyms, indexing) costs.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from appliance.actors import Actor
from appliance.app import Appliance
from appliance.build import Models, build
from appliance.ports import DetectedEntity, Embedder, EntityDetector
from appliance.redaction.redactor import split_blocks
from appliance.settings import Settings

Progress = Callable[[str], None]


class OneAtATimeDetector:
    """The naive baseline's detector: one text per call."""

    def __init__(self, detector: EntityDetector) -> None:
        self._detector = detector
        self.policy_id = detector.policy_id

    def detect(self, texts: Sequence[str]) -> list[list[DetectedEntity]]:
        return [self._detector.detect([text])[0] for text in texts]

    def warm_up(self) -> None:
        self._detector.warm_up()


class OneAtATimeEmbedder:
    """The naive baseline's embedder: one chunk per call."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self.model_id = embedder.model_id
        self.dimension = embedder.dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._embedder.embed([text])[0] for text in texts]

    def warm_up(self) -> None:
        self._embedder.warm_up()


def seed_known_values(app: Appliance, collection: str, count: int) -> dict[str, int]:
    """Fill a collection's vault with `count` made-up people, e-mail addresses and phone numbers (Faker, seeded)."""
    from faker import Faker

    fake = Faker(["en_US", "en_GB", "de_DE", "fr_FR", "pl_PL"])
    fake.seed_instance(12)
    people = count * 6 // 10
    makers = {
        "PERSON": (people, fake.name),
        "EMAIL_ADDRESS": ((count - people) // 2, fake.email),
        "PHONE_NUMBER": (count - people - (count - people) // 2, fake.phone_number),
    }
    seeded: dict[str, int] = {}
    for entity_type, (n, make) in makers.items():
        values = list(dict.fromkeys(f"{make()} " for _ in range(n * 2)))  # unique spellings
        values = [v.strip() for v in values[:n]]
        app.redactor.pseudonymizer.placeholders(collection, entity_type, values)
        seeded[entity_type] = len(values)
    return seeded


def _run_pipeline(
    settings: Settings, models: Models, paths: Sequence[Path], naive: bool, known_values: int = 0
) -> dict[str, Any]:
    from ingestion.pipeline import ingest_paths

    with build(settings, models) as app:
        seeded = seed_known_values(app, "bench", known_values) if known_values else {}
        if naive:
            redactor = app.redactor.with_detector(OneAtATimeDetector(models.detector), settings.ingest.chunk_chars)
            app = dataclasses.replace(app, redactor=redactor, embedder=OneAtATimeEmbedder(models.embedder))
        started = time.perf_counter()
        report = ingest_paths(app, paths, collection="bench", actor=Actor("bench:ingest", "operator"))
        seconds = time.perf_counter() - started
        chunks = [c.text for d in app.catalog.list_active() for c in app.catalog.chunks(d.row_id)]
    return {
        "seconds": seconds,
        "documents": len(report.ingested),
        "failed": report.failed,
        "chunks": len(chunks),
        "characters": sum(len(c) for c in chunks),
        "stages": {k: round(v, 3) for k, v in report.stage_seconds.items()},
        "known_values_seeded": seeded,
        "chunk_texts": chunks,
    }


def _stage_limit(
    settings: Settings, models: Models, paths: Sequence[Path], chunk_texts: Sequence[str]
) -> dict[str, float]:
    """spaCy alone over the redaction blocks, then the embedder alone over the chunks."""
    from ingestion.discovery import discover
    from ingestion.loaders import loader_for
    from ingestion.loaders.base import LoadNotes
    from ingestion.source import load_limits

    blocks: list[str] = []
    for candidate in discover(paths)[0]:
        try:
            segments = loader_for(candidate.path).load(candidate.path, load_limits(settings.ingest), LoadNotes())
            blocks.extend(b for s in segments for b in split_blocks(s.text, 4000))
        except Exception:  # noqa: BLE001 - a file the pipeline refused is not part of the corpus
            continue
    ner_only = getattr(models.detector, "ner_only", None)
    started = time.perf_counter()
    if ner_only is not None:
        ner_only(blocks)
    ner_s = time.perf_counter() - started
    started = time.perf_counter()
    models.embedder.embed(list(chunk_texts))
    embed_s = time.perf_counter() - started
    return {"ner_s": round(ner_s, 3), "embed_s": round(embed_s, 3), "limit_s": round(ner_s + embed_s, 3)}


def run_ingest_bench(
    settings: Settings,
    models: Models,
    paths: Sequence[Path],
    progress: Progress | None = None,
    known_values: int = 10_000,
) -> dict[str, Any]:
    """Time pipeline (vault seeded with `known_values`), pipeline without propagation, naive baseline, stage limit."""
    say = progress or (lambda _line: None)
    models.warm_up()
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    without = settings.redaction.model_copy(update={"propagate_known_values": False})
    runs = (
        ("pipeline", False, known_values, settings.redaction),
        ("no_propagation", False, 0, without),
        ("naive", True, 0, without),
    )
    for name, naive, seeded, redaction in runs:
        say(f"running the {name.replace('_', ' ')} ...")
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-", dir=settings.tmp_dir) as home:
            run_settings = settings.model_copy(update={"home": Path(home), "redaction": redaction})
            results[name] = _run_pipeline(run_settings, models, paths, naive, seeded)
    say("measuring the stage limit ...")
    limit = _stage_limit(settings, models, paths, results["pipeline"]["chunk_texts"])
    for run in results.values():
        run.pop("chunk_texts")
        run["chunks_per_s"] = round(run["chunks"] / run["seconds"], 2) if run["seconds"] else 0.0
        run["seconds"] = round(run["seconds"], 3)
    pipeline, naive_run, plain = results["pipeline"], results["naive"], results["no_propagation"]
    propagation_s = pipeline["stages"].get("known_values", 0.0) + pipeline["stages"].get("re_redact", 0.0)
    summary = {
        "propagation_seconds": round(propagation_s, 3),
        "propagation_share": round(propagation_s / plain["seconds"], 4) if plain["seconds"] else 0.0,
        "slowdown_vs_no_propagation": round(pipeline["seconds"] / plain["seconds"] - 1, 4) if plain["seconds"] else 0.0,
        "speedup_vs_naive": round(naive_run["seconds"] / pipeline["seconds"], 2),
        "share_of_stage_limit": round(limit["limit_s"] / pipeline["seconds"], 3),
        "share_of_stage_limit_without_load": round(
            limit["limit_s"] / (pipeline["seconds"] - pipeline["stages"].get("load", 0.0)), 3
        ),
    }
    return {
        "pipeline": pipeline,
        "no_propagation": plain,
        "naive": naive_run,
        "stage_limit": limit,
        "summary": summary,
    }


def format_report(result: dict[str, Any]) -> str:
    """The figures as a terminal table."""
    p, n, limit, summary = result["pipeline"], result["naive"], result["stage_limit"], result["summary"]
    plain = result["no_propagation"]
    seeded = sum(p["known_values_seeded"].values())
    lines = [
        f"corpus: {p['documents']} documents, {p['chunks']} chunks, {p['characters']:,} characters",
        f"{'run':<26}{'seconds':>10}{'chunks/s':>10}   stages (s)",
        f"{'pipeline':<26}{p['seconds']:>10.1f}{p['chunks_per_s']:>10.2f}   {_stages(p['stages'])}",
        f"{'pipeline, no propagation':<26}{plain['seconds']:>10.1f}{plain['chunks_per_s']:>10.2f}   {_stages(plain['stages'])}",
        f"{'naive (1 chunk/call)':<26}{n['seconds']:>10.1f}{n['chunks_per_s']:>10.2f}   {_stages(n['stages'])}",
        f"known-value propagation with {seeded:,} values in the vault: {summary['propagation_seconds']:.2f} s "
        f"= {summary['propagation_share']:.1%} of the run without it (target under 10%); whole run "
        f"{summary['slowdown_vs_no_propagation']:+.1%}",
        f"stage limit: spaCy pass {limit['ner_s']:.1f} s + embedding pass {limit['embed_s']:.1f} s = {limit['limit_s']:.1f} s",
        f"speed-up vs naive: {summary['speedup_vs_naive']:.2f}x (target 3x)",
        f"pipeline reaches {summary['share_of_stage_limit']:.0%} of the stage limit "
        f"({summary['share_of_stage_limit_without_load']:.0%} leaving out file loading; target 80%)",
    ]
    return "\n".join(lines)


def _stages(stages: dict[str, float]) -> str:
    order = ("load", "redact", "known_values", "chunk", "embed", "index", "re_redact")
    return "  ".join(f"{k} {stages[k]:.1f}" for k in order if k in stages)
