"""An OpenAI-compatible inference server as the Generator port: llama.cpp's or llama-cpp-python's server, or vLLM.

The same contract as the embedded model (ports.Generator): the evidence step's JSON schema is sent as
the server's structured-output request, answers stream token by token, a time limit cuts a reply
short. What differs is said in the answer: the model's identity is what the server reports (its
weights' sha256 cannot be checked from here, so `model_sha256` is the one the operator declared, or
"unverified"), and an adapter is served only where the operator mapped it to one of the server's models.

Failures are loud. A server that cannot be reached, or answers 429 or 5xx before any text has arrived,
is tried again with doubling back-off; then the question fails with a message naming the server. A
question never falls back to another model.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from appliance.file_digest import file_sha256
from appliance.file_modes import SecretFileError, read_secret_file
from appliance.ports import GenerationResult
from appliance.settings import GenerationSettings

UNVERIFIED = "unverified"
FIRST_BACK_OFF_SECONDS = 0.5
_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


class GenerationError(RuntimeError):
    """The inference server could not write this answer (message names the server and the reason)."""


class ServerGenerator:
    """Chat answers from an OpenAI-compatible server; concurrent callers are answered concurrently."""

    def __init__(self, settings: GenerationSettings) -> None:
        self._settings = settings
        self._base = settings.server_url.rstrip("/")
        parts = urlsplit(self._base)
        self._where = f"{parts.scheme}://{parts.netloc}"
        headers = {"Accept": "application/json"}
        key = None
        if settings.server_api_key_file:
            try:
                key = read_secret_file(settings.server_api_key_file, "generation.server_api_key_file")
            except SecretFileError as problem:
                raise GenerationError(str(problem)) from None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(
            headers=headers, timeout=httpx.Timeout(settings.server_timeout_seconds), trust_env=False
        )
        self._reported: str | None = None
        self._lock = threading.Lock()
        self._adapter_digests: dict[Path, str] = {}

    @property
    def model_id(self) -> str:
        """The model as the server reports it, and where: never a file whose hash was checked here."""
        return f"{self.reported_model()}@{self._where} (reported by the server)"

    @property
    def model_sha256(self) -> str:
        return self._settings.server_model_sha256 or UNVERIFIED

    def reported_model(self) -> str:
        """The server's own id for the configured model (from its /models), fetched once."""
        with self._lock:
            if self._reported is None:
                ids = self._listed_models()
                wanted = self._settings.server_model
                if wanted not in ids:
                    raise GenerationError(
                        f"the inference server at {self._where} serves no model {wanted!r} "
                        f"(it lists {', '.join(ids) or 'none'}); check generation.server_model"
                    )
                self._reported = wanted
            return self._reported

    def _listed_models(self) -> list[str]:
        """The model ids the server's /models lists now."""
        listed = self._send(lambda: self._client.get(f"{self._base}/models")).json().get("data", [])
        return [str(item.get("id")) for item in listed if isinstance(item, dict)]

    def warm_up(self) -> None:
        """Reach the server and check that it serves the configured model."""
        self.reported_model()

    def check_adapter(self, path: Path) -> None:
        """ValueError unless the server serves a model mapped to this adapter file."""
        try:
            mapped = self._model_for(path)
            listed = self._listed_models()
        except GenerationError as problem:
            raise ValueError(str(problem)) from None
        if mapped not in listed:
            raise ValueError(
                f"the inference server at {self._where} does not list model {mapped!r} (generation.server_adapters)"
            )

    def close(self) -> None:
        self._client.close()

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
        """The assistant's reply from the server; with `adapter`, from the server model mapped to that adapter."""
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        request: dict[str, Any] = {
            "model": self._model_for(adapter),
            "messages": [dict(message) for message in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "seed": self._settings.seed,
        }
        if json_schema is not None:
            request["response_format"] = self._response_format(json_schema)
        started = time.perf_counter()
        if on_token is None and deadline_seconds is None:
            reply = self._send(lambda: self._client.post(f"{self._base}/chat/completions", json=request)).json()
            try:
                text = reply["choices"][0]["message"]["content"] or ""
            except (KeyError, IndexError, TypeError):
                raise GenerationError(f"the inference server at {self._where} sent a reply without a message") from None
            usage = reply.get("usage") or {}
            return GenerationResult(
                text,
                int(usage.get("prompt_tokens", 0)),
                int(usage.get("completion_tokens", 0)),
                time.perf_counter() - started,
            )
        return self._streamed({**request, "stream": True}, on_token, deadline_seconds, started)

    def _streamed(
        self,
        request: dict[str, Any],
        on_token: Callable[[str], None] | None,
        deadline_seconds: float | None,
        started: float,
    ) -> GenerationResult:
        pieces: list[str] = []
        usage: dict[str, Any] = {}
        timed_out = False
        for attempt in range(self._settings.server_retries + 1):
            try:
                with self._client.stream("POST", f"{self._base}/chat/completions", json=request) as response:
                    if response.status_code in _RETRIED_STATUSES and attempt < self._settings.server_retries:
                        response.read()
                        self._back_off(attempt)
                        continue
                    self._check(response)
                    for chunk in _server_sent(response.iter_lines()):
                        usage = chunk.get("usage") or usage
                        choices = chunk.get("choices") or [{}]
                        piece = (choices[0].get("delta") or {}).get("content")
                        if piece:
                            pieces.append(piece)
                            if on_token is not None:
                                on_token(piece)
                        if deadline_seconds is not None and time.perf_counter() - started > deadline_seconds:
                            timed_out = True
                            break
                break
            except httpx.TransportError as error:
                if pieces or attempt >= self._settings.server_retries:  # text already handed on: never repeat it
                    raise GenerationError(f"the inference server at {self._where} failed: {_reason(error)}") from None
                self._back_off(attempt)
        return GenerationResult(
            "".join(pieces),
            int(usage.get("prompt_tokens", 0)),
            int(usage.get("completion_tokens", 0)),
            time.perf_counter() - started,
            timed_out,
        )

    def _send(self, call: Callable[[], httpx.Response]) -> httpx.Response:
        """One request, tried again on connection failures, 429 and 5xx; GenerationError when they persist."""
        retries = self._settings.server_retries
        for attempt in range(retries + 1):
            try:
                response = call()
            except httpx.TransportError as error:
                if attempt >= retries:
                    raise GenerationError(
                        f"the inference server at {self._where} cannot be reached after {retries + 1} tries: {_reason(error)}"
                    ) from None
                self._back_off(attempt)
                continue
            if response.status_code in _RETRIED_STATUSES and attempt < retries:
                self._back_off(attempt)
                continue
            self._check(response)
            return response
        raise AssertionError("unreachable")

    def _check(self, response: httpx.Response) -> None:
        if response.status_code >= 400:
            response.read()
            raise GenerationError(
                f"the inference server at {self._where} refused the request ({response.status_code}): {_message(response)}"
            )

    def _back_off(self, attempt: int) -> None:
        time.sleep(FIRST_BACK_OFF_SECONDS * 2**attempt)

    def _model_for(self, adapter: Path | None) -> str:
        """The server model to ask: the configured base, or the one the operator mapped to this adapter file."""
        if adapter is None:
            return self._settings.server_model
        digest = self._adapter_digests.get(adapter)
        if digest is None:
            digest = self._adapter_digests.setdefault(adapter, file_sha256(adapter))
        mapped = self._settings.server_adapters.get(digest)
        if mapped is None:
            raise GenerationError(
                f"the inference server at {self._where} has no model for adapter file {adapter.name} "
                f"(sha256 {digest[:12]}); load it there and map it in generation.server_adapters"
            )
        return mapped

    def _response_format(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        if self._settings.server_schema_style == "json_object":
            return {"type": "json_object", "schema": dict(schema)}
        return {"type": "json_schema", "json_schema": {"name": "reply", "schema": dict(schema), "strict": True}}


def _server_sent(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The JSON objects of a server-sent event stream, up to `data: [DONE]`."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            continue
        if isinstance(chunk, dict):
            if "error" in chunk:
                raise GenerationError(f"the inference server stopped with an error: {chunk['error']}")
            yield chunk


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", error))[:200]
    return str(body.get("detail", body) if isinstance(body, dict) else body)[:200]


def _reason(error: httpx.TransportError) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
