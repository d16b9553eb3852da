"""The OpenAI wire format of the /v1 API: requests checked field by field, responses built from our answers.

Pure data in and out, so the rules are tested without a server. A request field we do not know is
refused by name rather than silently ignored; the sampling fields tools send by habit (temperature,
max_tokens...) are accepted and ignored, because the appliance's answers come from fixed settings.
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ui.question_slots import MAX_QUESTION_CHARS

BASE_MODEL = "appliance"  # the base model, whatever file it is (its exact identity is listed beside it)
EMBEDDING_MODEL = "appliance-embedding"
ADAPTER_PREFIX = "adapter:"
MAX_EARLIER_TURNS = 32
# Fields tools send out of habit; the appliance's answers come from its settings, so these change nothing.
IGNORED_CHAT_FIELDS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "user",
        "seed",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "stream_options",
    }
)
_CHAT_FIELDS = frozenset({"model", "messages", "stream", "n", "appliance"}) | IGNORED_CHAT_FIELDS
_APPLIANCE_FIELDS = frozenset({"collections", "mode", "adapter"})
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_PIECE = re.compile(r"\S+\s*|\s+")


class ApiError(Exception):
    """A refusal in OpenAI's error shape: HTTP status, message, error type and code."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code

    def to_json(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": None, "code": self.code}}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


@dataclass(frozen=True)
class ChatRequest:
    """What a chat completion asks of the appliance."""

    model: str
    question: str
    earlier: list[dict[str, str]]  # the turns before the question: recorded (redacted), not used for retrieval
    stream: bool
    collections: list[str] | None
    mode: str
    adapter: str | None


def parse_chat(body: Any) -> ChatRequest:
    """A chat completion request, or ApiError(400) naming the field that is wrong."""
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    unknown = sorted(set(body) - _CHAT_FIELDS)
    if unknown:
        raise bad_request(f"unsupported field {unknown[0]!r}")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("'model' is required (GET /v1/models lists them)")
    if body.get("n", 1) != 1:
        raise bad_request("'n' must be 1")
    turns = [_turn(item, n) for n, item in enumerate(_list(body.get("messages"), "messages"))]
    if not turns or turns[-1]["role"] != "user":
        raise bad_request("the last message must be the user's question")
    question = turns[-1]["content"]
    if not question.strip():
        raise bad_request("the question (the last user message) is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise bad_request(f"the question is {len(question):,} characters; at most {MAX_QUESTION_CHARS:,}")
    if len(turns) - 1 > MAX_EARLIER_TURNS:
        raise bad_request(f"at most {MAX_EARLIER_TURNS} messages before the question")
    options = body.get("appliance") or {}
    if not isinstance(options, dict):
        raise bad_request("'appliance' must be an object")
    unknown = sorted(set(options) - _APPLIANCE_FIELDS)
    if unknown:
        raise bad_request(f"unsupported field 'appliance.{unknown[0]}'")
    collections = options.get("collections")
    if collections is not None and not (
        isinstance(collections, list) and collections and all(isinstance(c, str) for c in collections)
    ):
        raise bad_request("'appliance.collections' must be a non-empty list of collection names")
    mode = options.get("mode", "rag")
    if mode not in ("rag", "direct"):
        raise bad_request("'appliance.mode' must be 'rag' or 'direct'")
    adapter = options.get("adapter")
    if adapter is not None and (not isinstance(adapter, str) or not adapter):
        raise bad_request("'appliance.adapter' must be an adapter name or null")
    if model.startswith(ADAPTER_PREFIX):
        named = model[len(ADAPTER_PREFIX) :]
        if adapter is not None and adapter != named:
            raise bad_request(f"'model' names adapter {named!r} but 'appliance.adapter' names {adapter!r}")
        adapter = named
    elif model != BASE_MODEL:
        raise ApiError(
            404, f"no model {model!r} here (GET /v1/models lists them)", "not_found_error", "model_not_found"
        )
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad_request("'stream' must be true or false")
    return ChatRequest(model, question, turns[:-1], stream, collections, mode, adapter)


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise bad_request(f"{name!r} must be a list")
    return value


def _turn(item: Any, n: int) -> dict[str, str]:
    """One message as {role, content}, its content flattened to text (text parts only)."""
    if not isinstance(item, dict) or item.get("role") not in _ROLES:
        raise bad_request(f"messages[{n}] must be an object with a role ({', '.join(sorted(_ROLES))})")
    content = item.get("content")
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise bad_request(f"messages[{n}]: only text content is supported")
            parts.append(part["text"])
        content = "\n".join(parts)
    if content is None and item["role"] == "assistant":
        content = ""
    if not isinstance(content, str):
        raise bad_request(f"messages[{n}].content must be text")
    return {"role": item["role"], "content": content}


def completion_json(completion_id: str, created: int, model: str, answer: dict[str, Any]) -> dict[str, Any]:
    """A chat.completion from an answer's JSON (`Answer.to_json()`), with its citations at the top level."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": answer["answer"]}, "finish_reason": "stop"}
        ],
        "citations": answer["citations"],
        "appliance": appliance_json(answer),
    }


def completion_chunks(completion_id: str, created: int, model: str, answer: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The same answer as chat.completion.chunk objects: the role, the text in pieces, then the citations."""

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
            **extra,
        }

    yield chunk({"role": "assistant", "content": ""})
    for piece in _PIECE.findall(answer["answer"]):
        yield chunk({"content": piece})
    yield chunk({}, "stop", citations=answer["citations"], appliance=appliance_json(answer))


def appliance_json(answer: dict[str, Any]) -> dict[str, Any]:
    """What the appliance adds to an OpenAI response: how the answer was made and its audit event."""
    keys = ("mode", "evidence", "refused", "abstention", "model", "adapter", "adapter_sha256", "audit_seq")
    return {key: answer.get(key) for key in keys}


def parse_embeddings(body: Any, max_inputs: int) -> tuple[list[str], str]:
    """The texts to embed and the encoding ('float' or 'base64'), or ApiError."""
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    unknown = sorted(set(body) - {"model", "input", "encoding_format", "user", "dimensions"})
    if unknown:
        raise bad_request(f"unsupported field {unknown[0]!r}")
    if body.get("model") != EMBEDDING_MODEL:
        raise ApiError(
            404,
            f"no embedding model {body.get('model')!r} here (use {EMBEDDING_MODEL!r})",
            "not_found_error",
            "model_not_found",
        )
    given = body.get("input")
    texts = [given] if isinstance(given, str) else given
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise bad_request("'input' must be a text or a non-empty list of texts (token arrays are not supported)")
    if len(texts) > max_inputs:
        raise ApiError(413, f"{len(texts)} inputs; at most {max_inputs} per call")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise bad_request("'encoding_format' must be 'float' or 'base64'")
    if body.get("dimensions") is not None:
        raise bad_request("'dimensions' is not supported: the embedding model has a fixed size")
    return texts, encoding


def embeddings_json(vectors: Sequence[Sequence[float]], encoding: str) -> dict[str, Any]:
    """An embeddings list; base64 is little-endian float32, as the OpenAI client decodes it."""

    def encoded(vector: Sequence[float]) -> Any:
        if encoding == "float":
            return [float(x) for x in vector]
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()

    return {
        "object": "list",
        "model": EMBEDDING_MODEL,
        "data": [{"object": "embedding", "index": n, "embedding": encoded(v)} for n, v in enumerate(vectors)],
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }
