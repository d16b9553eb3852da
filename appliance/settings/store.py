"""Settings of the stores: the vector store, the catalog, and ingestion into them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator


class StoreSettings(BaseModel):
    """The vector store and its catalog."""

    vector_store: Literal["chroma", "chroma_server"] = Field(
        "chroma",
        description="chroma: an embedded Chroma store in chroma_path (the default); chroma_server: a Chroma server at chroma_url, reached through HttpClient.",
    )
    chroma_path: Path | None = Field(None, description="Chroma folder; empty means APPLIANCE_HOME/chroma.")
    chroma_url: str = Field(
        "",
        description="With chroma_server: the server's URL, e.g. https://vectors.internal:8443 (the nginx sample in deploy/, which checks a token) or http://127.0.0.1:8000 on the same host. Chroma's server enforces no authentication itself.",
    )
    chroma_token_file: Path | None = Field(
        None,
        description="With chroma_server: a file (0600) holding the token the proxy checks, sent as the X-Chroma-Token header; empty sends none.",
    )
    chroma_ca_file: Path | None = Field(
        None,
        description="With chroma_server over https: the CA certificate(s) that signed the proxy's certificate (your internal CA); empty uses the system's.",
    )
    chroma_namespace: str = Field(
        "",
        pattern=r"^([a-z0-9][a-z0-9_-]{0,39})?$",
        description="With chroma_server: the prefix of this appliance's collections on the server, required and unique per appliance catalog, so that two appliances sharing a server never see or prune each other's vectors.",
    )
    catalog_path: Path | None = Field(
        None,
        description="SQLite catalog of documents, chunks and the full-text index; empty means APPLIANCE_HOME/catalog.sqlite3.",
    )
    catalog: Literal["sqlite", "database"] = Field(
        "sqlite",
        description="sqlite: the catalog (documents, chunks, full-text index, pseudonyms) is a SQLite file at catalog_path, owned by one process (the default); database: it lives in the PostgreSQL database at audit.database_url (schema appliance_catalog), shared by several front-ends and ingest workers.",
    )

    @model_validator(mode="after")
    def _server_named(self) -> StoreSettings:
        if self.vector_store == "chroma_server":
            if not re.match(r"^https?://[^/\s]+$", self.chroma_url.rstrip("/")):
                raise ValueError(
                    "store.chroma_url must be the Chroma server's http(s)://host:port when vector_store is chroma_server"
                )
            if not self.chroma_namespace:
                raise ValueError(
                    "store.chroma_namespace must name this appliance's collections when vector_store is chroma_server"
                )
        return self


class IngestSettings(BaseModel):
    """Limits and chunking for ingestion."""

    max_file_mb: float = Field(50.0, gt=0, description="Files larger than this are refused with a clear message.")
    source_root: Path | None = Field(
        None,
        description="When set, a document's id is its path relative to this folder (files outside it are refused), so ingest workers that mount one share at different places agree on ids; empty: the absolute path. Changing it gives existing documents new ids.",
    )
    claim_seconds: float = Field(
        300.0,
        gt=0,
        description="With a shared catalog (store.catalog = database): how long an ingest worker's claim on a file lasts without renewal (renewed at each stage); a worker that dies leaves its files to others after this.",
    )
    max_uncompressed_mb: float = Field(
        200.0, gt=0, description="Cap on the unpacked size of DOCX/XLSX archives (zip-bomb guard)."
    )
    max_compression_ratio: float = Field(
        200.0, gt=1, description="Archives that unpack to more than this multiple of their size are refused."
    )
    max_pages: int = Field(5000, ge=1, description="PDFs with more pages are refused.")
    max_rows: int = Field(1_000_000, ge=1, description="CSV/XLSX files with more rows are refused.")
    chunk_chars: int = Field(1000, ge=200, le=20000, description="Target chunk length in characters.")
    chunk_overlap_chars: int = Field(
        150, ge=0, le=5000, description="Characters of whole sentences repeated between neighbouring chunks."
    )

    @field_validator("chunk_overlap_chars")
    @classmethod
    def _overlap_below_chunk(cls, value: int, info: object) -> int:
        data = getattr(info, "data", {})
        if "chunk_chars" in data and value >= data["chunk_chars"]:
            raise ValueError("chunk_overlap_chars must be smaller than chunk_chars")
        return value
