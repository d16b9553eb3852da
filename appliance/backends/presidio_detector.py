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
# Our own recognizers: their source is part of the policy's identity.
_RECOGNIZER_SOURCES = [Path(__file__).with_name(n) for n in ("presidio_recognizers.py", "name_recognizer.py")]


def spacy_nlp_engine(spacy_model: str) -> Any:
    """Presidio's spaCy engine on an installed model package (never downloaded)."""
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": spacy_model}]}
    )
    return provider.create_engine()


def _distribution_version(module: str) -> str:
    names = packages_distributions().get(module, [])
    return version(names[0]) if names else "unknown"


class PresidioDetector:
    """Batch analysis with the embedded spaCy model; no network, no model download."""

    def __init__(self, settings: RedactionSettings, spacy_model: str, batch_size: int = 32) -> None:
        if importlib.util.find_spec(spacy_model) is None:
            # Presidio would otherwise try to download the model.
            raise RuntimeError(f"spaCy model {spacy_model!r} is not installed; run `make install`")
        self._spacy_model = spacy_model
        self._entities = settings.redacted_types
        self._custom = list(settings.custom_recognizers)
        self._threshold = settings.score_threshold
        self._batch_size = batch_size
        self._batch: Any = None
        self._loading = threading.Lock()
        description = {
            "detector": "presidio",
            "presidio": version("presidio-analyzer"),
            "spacy": version("spacy"),
            "spacy_model": spacy_model,
            "spacy_model_version": _distribution_version(spacy_model),
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
        found = self._engine().analyze_iterator(
            [texts[i] for i in todo],
            language="en",
            batch_size=self._batch_size,
            entities=self._entities,
            score_threshold=self._threshold,
        )
        from appliance.backends.name_recognizer import is_label_word, names_an_organisation_or_street

        for index, entities in zip(todo, found, strict=True):
            text = texts[index]
            results[index] = [
                DetectedEntity(e.entity_type, e.start, e.end, float(e.score))
                for e in entities
                if not (
                    e.entity_type == "PERSON"
                    and (names_an_organisation_or_street(text, e.end) or is_label_word(text, e.start, e.end))
                )
            ]
        return results

    def warm_up(self) -> None:
        """Load the engine now (for servers and benchmarks that should not pay it on first use)."""
        self._engine()

    def ner_only(self, texts: Sequence[str]) -> None:
        """spaCy's pass alone over the texts, as the detector runs it: the benchmark's stage limit."""
        nlp = self._engine().analyzer_engine.nlp_engine.nlp["en"]
        for _ in nlp.pipe(list(texts), batch_size=self._batch_size):
            pass
