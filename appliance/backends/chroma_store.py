"""Chroma as the VectorStore port: a persistent local index, or a Chroma server, fed our own embeddings.

Chroma's server checks no credentials itself (chroma issue #4965) and anyone who reaches it reads
every collection: it binds to loopback or a private interface, and remote appliances reach it through
a TLS proxy that checks a token (deploy/nginx-chroma.conf), whose header and CA the client sends and trusts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from appliance.ports import MetadataValue, VectorHit

_PAGE = 1000
_OVERFETCH = 2  # unfiltered neighbours fetched per wanted hit before falling back to the filtered search


def collection_name(model_id: str) -> str:
    """One Chroma collection per embedding model; names allow only [a-zA-Z0-9._-]."""
    return "chunks-" + re.sub(r"[^a-zA-Z0-9._-]", "-", model_id)[:480]


def local_client(path: Path) -> Any:
    """An embedded Chroma store in `path` (one owning process: the store lock)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(
        path=str(path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    )


def server_client(url: str, token: str | None, ca_file: Path | None) -> Any:
    """A client of the Chroma server at `url` (http or https), with the proxy's token and our CA."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    parts = urlsplit(url)
    secure = parts.scheme == "https"
    settings = ChromaSettings(
        anonymized_telemetry=False,
        allow_reset=False,
        chroma_server_ssl_verify=str(ca_file) if (secure and ca_file) else None,
    )
    try:
        return chromadb.HttpClient(
            host=parts.hostname or "",
            port=parts.port or (443 if secure else 80),
            ssl=secure,
            headers={"X-Chroma-Token": token} if token else None,
            settings=settings,
        )
    except Exception as error:  # noqa: BLE001 - chromadb's own message hides the reason (TLS, 401...)
        raise ChromaServerUnavailable(f"the Chroma server at {url} cannot be used: {_reason(error)}") from None


class ChromaServerUnavailable(RuntimeError):
    """The configured Chroma server refused us or cannot be reached (message names it and why)."""


def _reason(error: BaseException) -> str:
    """The innermost cause's message (an SSL verification failure, an HTTP 401), else the error's own."""
    seen: list[str] = [str(error)]
    cause = error.__cause__ or error.__context__
    while cause is not None and len(seen) < 8:
        seen.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__ or cause.__context__
    return seen[-1][:300]


class ChromaVectorStore:
    """Vectors with metadata; the appliance collection is a metadata field filtered on every query."""

    def __init__(self, client: Any, model_id: str, namespace: str = "") -> None:
        self._client = client
        # embedding_function=None: Chroma's default would download an ONNX model.
        self._collection: Any = self._client.get_or_create_collection(
            name=f"{namespace}-{collection_name(model_id)}" if namespace else collection_name(model_id),
            embedding_function=None,
            metadata={"hnsw:space": "cosine", "embedding_model": model_id},
        )

    def upsert(
        self,
        ids: Sequence[str],
        embeddings: Sequence[Sequence[float]],
        metadatas: Sequence[Mapping[str, MetadataValue]],
    ) -> None:
        # Chunk texts stay in the catalog only: a copy in Chroma's own SQLite would be one more place a
        # value must be purged from (appliance redact add), and nothing reads it from there.
        for start in range(0, len(ids), _PAGE):
            end = start + _PAGE
            self._collection.upsert(
                ids=list(ids[start:end]),
                embeddings=[list(e) for e in embeddings[start:end]],
                metadatas=[dict(m) for m in metadatas[start:end]],
            )

    def delete_document_rows(self, document_rows: Sequence[int]) -> None:
        for start in range(0, len(document_rows), _PAGE):
            rows = [int(r) for r in document_rows[start : start + _PAGE]]
            self._collection.delete(where={"document_row": {"$in": rows}})

    def embeddings(self, ids: Sequence[str]) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        ids = list(dict.fromkeys(ids))  # Chroma refuses a get naming one id twice (DuplicateIDError)
        for start in range(0, len(ids), _PAGE):
            batch = self._collection.get(ids=list(ids[start : start + _PAGE]), include=["embeddings"])
            vectors = batch.get("embeddings")  # a numpy array: no truth value
            for chunk_id, vector in zip(batch.get("ids") or [], [] if vectors is None else vectors, strict=True):
                found[str(chunk_id)] = [float(x) for x in vector]
        return found

    def document_rows(self) -> set[int]:
        rows: set[int] = set()
        offset = 0
        while True:
            batch = self._collection.get(include=["metadatas"], limit=_PAGE, offset=offset)
            metadatas = batch.get("metadatas") or []
            rows.update(int(m["document_row"]) for m in metadatas if m and "document_row" in m)
            if len(metadatas) < _PAGE:
                return rows
            offset += _PAGE

    def count(self) -> int:
        return int(self._collection.count())

    def query(self, embedding: Sequence[float], top_k: int, collections: Sequence[str]) -> list[VectorHit]:
        """The top_k nearest vectors in the given collections, never one from another collection."""
        if not collections:
            return []
        # Chroma's metadata-filtered search costs about 30 ms at 10,000 vectors on 2 cores, the plain HNSW
        # search about 2 ms. When the plain search's 2 x top_k neighbours hold top_k in the allowed
        # collections, those are the filtered answer; otherwise (a small collection) ask with the filter.
        allowed = set(collections)
        nearest = self._query(embedding, top_k * _OVERFETCH, None)
        kept = [hit for hit in nearest if hit.metadata.get("collection") in allowed]
        if len(kept) >= top_k:
            return kept[:top_k]
        return self._query(embedding, top_k, {"collection": {"$in": list(collections)}})

    def _query(self, embedding: Sequence[float], n: int, where: dict[str, Any] | None) -> list[VectorHit]:
        result = self._collection.query(
            query_embeddings=[list(embedding)], n_results=n, where=where, include=["metadatas", "distances"]
        )
        ids = (result.get("ids") or [[]])[0]
        distances = (result.get("distances") or [[]])[0]
        metadatas = (result.get("metadatas") or [[]])[0]
        return [
            VectorHit(chunk_id, float(distance), dict(meta or {}))
            for chunk_id, distance, meta in zip(ids, distances, metadatas, strict=True)
        ]
