"""Plain Presidio, as its documentation sets it up: the baseline our redaction is benchmarked against.

Default recognizer registry, every entity type, one `analyze()` call per text, with the same spaCy
model as our detector so the comparison measures the policy and recognizers, not the model.
Presidio is imported on first use, so importing this module is cheap.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from appliance.ports import DetectedEntity


class PresidioDefaultsDetector:
    """AnalyzerEngine defaults behind the EntityDetector port; no network, no model download."""

    policy_id = "presidio-defaults"

    def __init__(self, spacy_model: str, threshold: float = 0.4) -> None:
        from appliance.backends.presidio_detector import spacy_model_available

        if not spacy_model_available(spacy_model):
            # Presidio would otherwise try to download the model.
            raise RuntimeError(f"spaCy model {spacy_model!r} is not installed; run `make install`")
        self._spacy_model = spacy_model
        self._threshold = threshold
        self._analyzer: Any = None
        self._loading = threading.Lock()

    def _engine(self) -> Any:
        with self._loading:
            if self._analyzer is None:
                self._analyzer = self._load()
            return self._analyzer

    def _load(self) -> Any:
        from presidio_analyzer import AnalyzerEngine

        from appliance.backends.presidio_detector import spacy_nlp_engine

        # No registry given: AnalyzerEngine builds its default one (all predefined recognizers).
        return AnalyzerEngine(
            nlp_engine=spacy_nlp_engine(self._spacy_model),
            supported_languages=["en"],
            default_score_threshold=self._threshold,
        )

    def detect(self, texts: Sequence[str]) -> list[list[DetectedEntity]]:
        """Every entity type Presidio knows, per text; empty texts are skipped without calling spaCy."""
        analyzer = self._engine()
        results: list[list[DetectedEntity]] = []
        for text in texts:
            if not text.strip():
                results.append([])
                continue
            found = analyzer.analyze(text=text, language="en", score_threshold=self._threshold)
            results.append([DetectedEntity(e.entity_type, e.start, e.end, float(e.score)) for e in found])
        return results

    def warm_up(self) -> None:
        """Load the engine now, so a benchmark does not time the model load as analysis."""
        self._engine()
