"""The one settings object: environment (APPLIANCE_*), an optional TOML file, defaults.

Every field has a description; `tests/test_settings_documented.py` fails when one is
missing from the README's settings table.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from appliance.settings.access import ApiSettings, AuditSettings, WebSettings
from appliance.settings.home import CONFIG_FILE_NAME, default_home, resolve_home
from appliance.settings.learning import (
    DEFAULT_PROTECTED_ATTRIBUTES,
    BenchSettings,
    FinetuneSettings,
    GateSettings,
    TabularSettings,
)
from appliance.settings.redaction import (
    DEFAULT_FIELD_LABELS,
    KEPT_BY_DEFAULT,
    PROPAGATED_BY_DEFAULT,
    REDACTED_BY_DEFAULT,
    CustomRecognizerSettings,
    RedactionSettings,
    default_custom_recognizers,
    default_field_labels,
)
from appliance.settings.runtime import AnsweringSettings, GenerationSettings, ModelSettings, RuntimeSettings
from appliance.settings.store import IngestSettings, StoreSettings

__all__ = [
    "CONFIG_FILE_NAME",
    "DEFAULT_FIELD_LABELS",
    "DEFAULT_PROTECTED_ATTRIBUTES",
    "KEPT_BY_DEFAULT",
    "PROPAGATED_BY_DEFAULT",
    "REDACTED_BY_DEFAULT",
    "AnsweringSettings",
    "ApiSettings",
    "AuditSettings",
    "BenchSettings",
    "CustomRecognizerSettings",
    "FinetuneSettings",
    "GateSettings",
    "GenerationSettings",
    "IngestSettings",
    "ModelSettings",
    "RedactionSettings",
    "RuntimeSettings",
    "Settings",
    "StoreSettings",
    "TabularSettings",
    "WebSettings",
    "default_custom_recognizers",
    "default_field_labels",
    "default_home",
    "resolve_home",
]


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
    generation: GenerationSettings = Field(
        default_factory=GenerationSettings, description="The local language model that writes answers."
    )
    answering: AnsweringSettings = Field(default_factory=AnsweringSettings, description="Retrieval and evidence.")
    store: StoreSettings = Field(default_factory=StoreSettings, description="Vector store and catalog.")
    ingest: IngestSettings = Field(default_factory=IngestSettings, description="Ingestion limits and chunking.")
    redaction: RedactionSettings = Field(default_factory=RedactionSettings, description="Entity policy.")
    audit: AuditSettings = Field(default_factory=AuditSettings, description="Audit log and its checkpoints.")
    web: WebSettings = Field(default_factory=WebSettings, description="The web UI.")
    api: ApiSettings = Field(default_factory=ApiSettings, description="The OpenAI-compatible API (/v1).")
    bench: BenchSettings = Field(default_factory=BenchSettings, description="The benchmarks (`appliance bench`).")
    tabular: TabularSettings = Field(default_factory=TabularSettings, description="Tabular side-models.")
    finetune: FinetuneSettings = Field(default_factory=FinetuneSettings, description="LoRA fine-tuning.")
    gate: GateSettings = Field(default_factory=GateSettings, description="The evaluation gate before promotion.")

    @model_validator(mode="after")
    def _shared_catalog_needs_postgres(self) -> Settings:
        url = self.audit.database_url or ""
        if self.store.catalog == "database" and not url.startswith("postgresql"):
            raise ValueError(
                "store.catalog = 'database' needs audit.database_url to name a PostgreSQL database "
                "(postgresql+psycopg://USER@HOST/DB)"
            )
        return self

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
    def tabular_dir(self) -> Path:
        return self.home / "tabular"

    @property
    def finetune_dir(self) -> Path:
        return self.home / "finetune"

    @property
    def chroma_dir(self) -> Path:
        return self.store.chroma_path or self.home / "chroma"

    @property
    def catalog_file(self) -> Path:
        return self.store.catalog_path or self.home / "catalog.sqlite3"

    @property
    def checkpoint_file(self) -> Path:
        return self.audit.checkpoint_file or self.home / "audit" / "checkpoint.json"

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
