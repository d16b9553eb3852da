"""The small interfaces the core talks to; `appliance/backends/` implements them.

Keeping the heavy libraries behind these lets the core be imported (and unit-tested)
without torch, spaCy or Chroma.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

MetadataValue = str | int | float | bool


@dataclass(frozen=True)
class DetectedEntity:
    """A span of personal data found in a text: [start, end) with its type and confidence."""

    entity_type: str
    start: int
    end: int
    score: float


class EntityDetector(Protocol):
    """Finds personal data; the core decides what to do with it (pseudonyms, counts)."""

    @property
    def policy_id(self) -> str:
        """Identity of the recognizers and their configuration, hashed into the policy."""
        ...

    def detect(self, texts: Sequence[str]) -> list[list[DetectedEntity]]:
        """Entities in each text, for the policy's entity types at its threshold."""
        ...

    def warm_up(self) -> None:
        """Load whatever loads lazily, now."""
        ...


class Embedder(Protocol):
    """Turns chunk texts into vectors."""

    @property
    def model_id(self) -> str:
        """Name and weights hash of the model, recorded on every chunk."""
        ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One normalised vector per text, in order."""
        ...

    def warm_up(self) -> None:
        """Load whatever loads lazily, now."""
        ...


@dataclass(frozen=True)
class VectorHit:
    """One nearest-neighbour result."""

    chunk_id: str
    distance: float
    metadata: Mapping[str, MetadataValue]


class VectorStore(Protocol):
    """Persistent nearest-neighbour index of chunk vectors with metadata."""

    def upsert(
        self,
        ids: Sequence[str],
        embeddings: Sequence[Sequence[float]],
        metadatas: Sequence[Mapping[str, MetadataValue]],
    ) -> None: ...

    def delete_document_rows(self, document_rows: Sequence[int]) -> None:
        """Remove every vector whose `document_row` metadata is in the list."""
        ...

    def embeddings(self, ids: Sequence[str]) -> dict[str, list[float]]:
        """The stored vectors of these ids (those that exist)."""
        ...

    def document_rows(self) -> set[int]:
        """Every `document_row` that has at least one vector (for recovery and checks)."""
        ...

    def count(self) -> int: ...

    def query(self, embedding: Sequence[float], top_k: int, collections: Sequence[str]) -> list[VectorHit]: ...


@dataclass(frozen=True)
class GenerationResult:
    """One finished generation with the counts and time the audit log and benchmarks record."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    # True when the reply was cut short by the caller's time limit (deadline_seconds).
    timed_out: bool = False


class Generator(Protocol):
    """A local chat model: answers from messages, optionally constrained to a JSON schema."""

    @property
    def model_id(self) -> str:
        """File name and weights hash of the model, shown with every answer."""
        ...

    @property
    def model_sha256(self) -> str:
        """The sha256 of the model file, recorded in the audit log with every answer."""
        ...

    def chat(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        json_schema: Mapping[str, Any] | None = None,
        on_token: Callable[[str], None] | None = None,
        deadline_seconds: float | None = None,
        adapter: Path | None = None,
    ) -> GenerationResult:
        """The assistant's reply; `json_schema` constrains it, `on_token` receives it piece by piece.

        With `deadline_seconds`, generation stops at the first token after that much time
        (the prompt itself is always evaluated whole) and the result says `timed_out`. With
        `adapter`, that GGUF LoRA adapter is applied to the base for this reply only.
        """
        ...

    def warm_up(self) -> None:
        """Load whatever loads lazily, now."""
        ...

    def check_adapter(self, path: Path) -> None:
        """Raise ValueError with the reason when the LoRA adapter at `path` does not apply to this model."""
        ...


@dataclass(frozen=True)
class TreeExplanation:
    """A tree model's raw outputs and exact SHAP values for a batch of rows (rows x features)."""

    raw: list[float]
    contributions: list[list[float]]
    base_values: list[float]
    # A multi-class model: every class's raw output per row; the fields above are then those of each
    # row's predicted (highest) class.
    class_raw: list[list[float]] = field(default_factory=list)


class TreeLearner(Protocol):
    """Gradient-boosted trees that are explained exactly (TreeSHAP); a model is a text, never a pickle."""

    @property
    def identity(self) -> dict[str, str]:
        """The library and its version, and how explanations are computed, recorded with each model."""
        ...

    def train(
        self,
        features: Sequence[Sequence[float]],
        target: Sequence[float],
        *,
        categorical: Sequence[int],
        objective: str,
        params: Mapping[str, Any],
    ) -> str:
        """Train and return the model as text (NaN is a missing value; categorical columns hold codes)."""
        ...

    def explain(self, model_text: str, features: Sequence[Sequence[float]]) -> TreeExplanation:
        """Raw outputs (log-odds for a classifier) and exact SHAP values in that same space."""
        ...

    def raw_outputs(self, model_text: str, features: Sequence[Sequence[float]]) -> list[float]:
        """Raw outputs alone (a counterfactual search asks for many)."""
        ...


@dataclass(frozen=True)
class LoraParams:
    """How to train one LoRA adapter (from `finetune` settings and flags)."""

    rank: int
    alpha: int
    target_modules: tuple[str, ...]
    epochs: int
    learning_rate: float
    batch_size: int
    max_steps: int  # 0: as many as the epochs give
    max_tokens: int
    checkpoint_every: int
    seed: int
    threads: int


@dataclass(frozen=True)
class TrainingStep:
    """Progress of a training run, reported after every step."""

    step: int
    total_steps: int
    loss: float
    seconds: float  # since this run (or its resumption) started


@dataclass(frozen=True)
class TrainedAdapter:
    """What a finished run produced: a GGUF LoRA adapter file for the quantized base, and how it went."""

    path: Path
    losses: list[float]  # one per step, from the first step of the whole run
    steps: int
    tokens: int  # answer tokens the loss was computed on, over the whole run
    seconds: float
    device: str
    resumed_from: int  # the step a resumed run started from (0: from scratch)


class LoraTrainer(Protocol):
    """LoRA fine-tuning of the configured GGUF base, exported as a GGUF adapter llama.cpp applies to it."""

    def train(
        self,
        base_gguf: Path,
        conversations: Sequence[Sequence[Mapping[str, str]]],
        params: LoraParams,
        run_dir: Path,
        *,
        resume: bool,
        progress: Callable[[TrainingStep], None] | None = None,
    ) -> TrainedAdapter:
        """Train on `conversations` (loss on each last, assistant, message only); checkpoints under `run_dir`."""
        ...
