"""The one place that wires the appliance together from settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from appliance.access.users import UserDirectory
from appliance.app import Appliance, Records
from appliance.audit.log import open_audit_log
from appliance.offline import apply_offline_environment
from appliance.ports import Embedder, EntityDetector, Generator, LoraTrainer, TreeLearner, VectorStore
from appliance.redaction.keys import WEB_SESSION_KEY, load_or_create_key
from appliance.redaction.policy import policy_hash
from appliance.redaction.pseudonyms import Pseudonymizer
from appliance.redaction.redactor import Redactor
from appliance.redaction.structured_fields import FieldClassifier
from appliance.redaction.vault import Vault
from appliance.settings import Settings
from appliance.store.catalog import Catalog
from appliance.store.lock import StoreLock
from appliance.store.recovery import recover
from appliance.store.vector_cache import VectorCache


@dataclass(frozen=True)
class Models:
    """The loaded models: read-only once loaded, so one process may share them across homes."""

    detector: EntityDetector
    embedder: Embedder
    generator: Generator

    def warm_up(self) -> None:
        """Load the redaction and embedding models now; the generator loads on the first question (call its own warm_up)."""
        self.detector.warm_up()
        self.embedder.warm_up()


def load_models(settings: Settings) -> Models:
    """The entity detector, embedder and generator the settings name; their weights load on first use."""
    apply_offline_environment(settings.home, settings.runtime.threads)
    return Models(detector=_detector(settings), embedder=_embedder(settings), generator=_generator(settings))


def models_of(app: Appliance) -> Models:
    """The models an appliance was built with, to build another home on them without loading twice."""
    return Models(detector=app.redactor.detector, embedder=app.embedder, generator=app.generator)


def build_records(settings: Settings) -> Records:
    """The audit log and the accounts alone, for commands that do not own the store (audit, users, restore)."""
    audit = open_audit_log(settings)
    return Records(audit, UserDirectory(audit))


def build(settings: Settings, models: Models | None = None) -> Appliance:
    """Take the store lock, load (or reuse) the models, open the stores, recover from any crash."""
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    apply_offline_environment(settings.home, settings.runtime.threads)
    lock = StoreLock(settings.lock_file)
    lock.acquire()
    try:
        models = models or load_models(settings)
        detector, embedder = models.detector, models.embedder
        catalog = open_catalog(settings)
        vectors = _vector_store(settings, embedder.model_id)
        seal_key = load_or_create_key(settings.keys_dir / "reidentification.key")
        # The web UI's session key is made here too, so that after any first command keys/ holds the whole
        # set an operator copies to every other front-end (deploy/README.md, section 7).
        load_or_create_key(settings.keys_dir / WEB_SESSION_KEY)
        pseudonymizer = Pseudonymizer(
            hmac_key=load_or_create_key(settings.keys_dir / "pseudonym-hmac.key"), seal_key=seal_key, repository=catalog
        )
        fields = FieldClassifier(settings.redaction.field_labels, settings.redaction.redacted_types)
        vault = (
            Vault(catalog, pseudonymizer, seal_key, settings.redaction.propagated_types)
            if settings.redaction.propagate_known_values
            else None
        )
        redactor = Redactor(
            detector, pseudonymizer, policy_hash(settings.redaction, detector.policy_id), fields, vault=vault
        )
        recover(catalog, vectors)
        records = build_records(settings)
    except BaseException:
        lock.release()
        raise
    return Appliance(
        settings,
        catalog,
        redactor,
        embedder,
        models.generator,
        vectors,
        lock,
        records.audit,
        records.users,
        VectorCache(embedder),
    )


def baseline_detector(settings: Settings) -> EntityDetector:
    """Presidio with its default recognizers only: the naive baseline `bench redact` measures ours against."""
    from appliance.backends.presidio_defaults import PresidioDefaultsDetector

    return PresidioDefaultsDetector(settings.models.spacy_model)


def tree_learner(settings: Settings) -> TreeLearner:
    """The gradient-boosted tree library of the tabular side-models."""
    from appliance.backends.lightgbm_learner import LightGBMLearner

    return LightGBMLearner(settings.runtime.threads)


def lora_trainer() -> LoraTrainer:
    """LoRA fine-tuning with peft on the dequantised base."""
    from appliance.backends.lora_trainer import PeftLoraTrainer

    return PeftLoraTrainer()


def question_writer(settings: Settings) -> Callable[[str], list[tuple[str, str]]]:
    """Questions about a stored sentence, by rules over the spaCy parse (for evidence training sets)."""
    from appliance.backends.question_rules import SpacyQuestionWriter

    return SpacyQuestionWriter(settings.models.spacy_model).questions


def base_model_path(settings: Settings) -> Path:
    """The GGUF the generator serves: the configured one, else the embedded model."""
    from appliance.backends.llama_generator import embedded_gguf_path

    return settings.generation.model_path or embedded_gguf_path()


def adapter_host(app: Appliance) -> Generator:
    """The model a newly trained adapter is proven to load on: the app's own llama.cpp model, or, when
    answers come from an inference server, the same base GGUF loaded here (the server gets the adapter
    from the operator, so it cannot be tried there first)."""
    if app.settings.generation.backend == "llama_cpp":
        return app.generator
    from appliance.backends.llama_generator import LlamaGenerator

    local = app.settings.generation.model_copy(update={"backend": "llama_cpp"})
    return LlamaGenerator(local, app.settings.runtime.threads)


def _embedder(settings: Settings) -> Embedder:
    match settings.models.embedder:
        case "minilm":
            from appliance.backends.minilm_embedder import MiniLMEmbedder

            return MiniLMEmbedder(
                settings.models.embedding_model_path, settings.runtime.threads, settings.models.embedding_batch_size
            )


def _generator(settings: Settings) -> Generator:
    match settings.generation.backend:
        case "llama_cpp":
            from appliance.backends.llama_generator import LlamaGenerator

            return LlamaGenerator(settings.generation, settings.runtime.threads)
        case "openai_server":
            from appliance.backends.openai_server_generator import ServerGenerator

            return ServerGenerator(settings.generation)


def open_catalog(settings: Settings) -> Catalog:
    """The catalog the settings name: the SQLite file, or the schema in the PostgreSQL database."""
    if settings.store.catalog == "database":
        from appliance.store.catalog_db import PostgresCatalogDatabase

        return Catalog(PostgresCatalogDatabase(settings.audit.database_url or ""))
    return Catalog(settings.catalog_file)


def _vector_store(settings: Settings, model_id: str) -> VectorStore:
    match settings.store.vector_store:
        case "chroma":
            from appliance.backends.chroma_store import ChromaVectorStore, local_client

            return ChromaVectorStore(local_client(settings.chroma_dir), model_id)
        case "chroma_server":
            from appliance.backends.chroma_store import ChromaVectorStore, server_client
            from appliance.file_modes import read_secret_file

            store = settings.store
            token = (
                read_secret_file(store.chroma_token_file, "store.chroma_token_file")
                if store.chroma_token_file
                else None
            )
            client = server_client(store.chroma_url.rstrip("/"), token, store.chroma_ca_file)
            return ChromaVectorStore(client, model_id, store.chroma_namespace)


def _detector(settings: Settings) -> EntityDetector:
    match settings.redaction.redactor:
        case "presidio":
            from appliance.backends.presidio_detector import PresidioDetector

            return PresidioDetector(
                settings.redaction, settings.models.spacy_model, processes=settings.runtime.ner_processes
            )
