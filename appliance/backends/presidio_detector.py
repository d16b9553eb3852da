"""Presidio + spaCy as the EntityDetector port: finds the policy's entity types."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from importlib.metadata import version

from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import NlpEngineProvider

from appliance.backends.presidio_recognizers import (
    STREET_ADDRESS_REGEX,
    DateOfBirthRecognizer,
    street_address_recognizer,
)
from appliance.ports import DetectedEntity
from appliance.settings import RedactionSettings

class PresidioDetector:
    """Batch analysis with the embedded spaCy model; no network, no model download."""

    def __init__(self, settings: RedactionSettings, spacy_model: str, batch_size: int = 32) -> None:
        import spacy.util

        if not spacy.util.is_package(spacy_model):
            # Presidio would otherwise try to download the model.
            raise RuntimeError(f"spaCy model {spacy_model!r} is not installed; run `make install`")
        provider = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": spacy_model}],
            }
        )
        nlp_engine = provider.create_engine()
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp_engine)
        registry.add_recognizer(DateOfBirthRecognizer())
        registry.add_recognizer(street_address_recognizer())
        self._analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])
        self._batch = BatchAnalyzerEngine(analyzer_engine=self._analyzer)
        self._entities = list(settings.redact_entities)
        self._threshold = settings.score_threshold
        self._batch_size = batch_size
        self._policy_id = self._identity(spacy_model)

    def _identity(self, spacy_model: str) -> str:
        description = {
            "detector": "presidio",
            "presidio": version("presidio-analyzer"),
            "spacy_model": spacy_model,
            "spacy_model_version": _package_version(spacy_model),
            "recognizers": sorted(r.name for r in self._analyzer.registry.recognizers),
            "street_address_regex": STREET_ADDRESS_REGEX,
        }
        return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()

    @property
    def policy_id(self) -> str:
        return self._policy_id

    def detect(self, texts: Sequence[str]) -> list[list[DetectedEntity]]:
        """Entities per text; empty texts are skipped without calling spaCy."""
        results: list[list[DetectedEntity]] = [[] for _ in texts]
        todo = [i for i, t in enumerate(texts) if t.strip()]
        if not todo:
            return results
        found = self._batch.analyze_iterator(
            [texts[i] for i in todo],
            language="en",
            batch_size=self._batch_size,
            entities=self._entities,
            score_threshold=self._threshold,
        )
        for index, entities in zip(todo, found, strict=True):
            results[index] = [DetectedEntity(e.entity_type, e.start, e.end, float(e.score)) for e in entities]
        return results


def _package_version(spacy_model: str) -> str:
    import spacy.util

    try:
        return str(spacy.util.get_package_version(spacy_model))
    except Exception:  # noqa: BLE001 - identity only; absence is handled at load
        return "unknown"
