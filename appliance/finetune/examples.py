"""Training examples: read from a curated JSONL file or made from reviewed feedback, always redacted.

An example is one exchange, a question and the answer the model should give, kept as chat
messages. Every example passes the redactor with its collection's pseudonyms before it is kept,
so training text looks exactly like the stored text the model will see at answer time, and no
value the redactor catches ever reaches a data set, an adapter or a log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.redaction.redactor import Redactor

MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_TEXT_CHARS = 20_000
ROLES = ("system", "user", "assistant")


class ExampleError(ValueError):
    """A training example that cannot be used (the message names the file and line)."""


@dataclass(frozen=True)
class Example:
    """One exchange as chat messages; the last message is the assistant's answer the model learns."""

    messages: tuple[tuple[str, str], ...]  # (role, content)

    def to_json(self) -> dict[str, Any]:
        return {"messages": [{"role": role, "content": content} for role, content in self.messages]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Example:
        return cls(tuple((m["role"], m["content"]) for m in data["messages"]))


def read_jsonl(path: Path) -> Iterator[tuple[int, Example]]:
    """(line number, example) per non-blank line of `{"question","answer"}` or `{"messages":[...]}`."""
    if not path.is_file():
        raise ExampleError(f"{path}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ExampleError(f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise ExampleError(f"{path}:{number}: not UTF-8 text") from None
            if line:
                yield number, parse_line(line, f"{path}:{number}")


def parse_line(line: str, where: str) -> Example:
    """One JSONL line as an example, or an ExampleError that says where and why."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise ExampleError(f"{where}: not JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise ExampleError(f"{where}: expected an object with question and answer, or messages")
    if "messages" in data:
        messages = data["messages"]
        if not isinstance(messages, list) or not messages:
            raise ExampleError(f"{where}: messages must be a non-empty list")
        pairs = []
        for message in messages:
            if not isinstance(message, dict) or message.get("role") not in ROLES:
                raise ExampleError(f"{where}: each message needs a role ({', '.join(ROLES)}) and content")
            pairs.append((message["role"], _text(message.get("content"), where, "content")))
        if pairs[-1][0] != "assistant" or not any(role == "user" for role, _ in pairs):
            raise ExampleError(f"{where}: the messages must hold a user turn and end with the assistant's answer")
        return Example(tuple(pairs))
    question = _text(data.get("question"), where, "question")
    answer = _text(data.get("answer"), where, "answer")
    return Example((("user", question), ("assistant", answer)))


def redacted(example: Example, redactor: Redactor, collection: str) -> tuple[Example, dict[str, int]]:
    """The example with every message redacted under `collection`'s pseudonyms, and what was found."""
    texts, counts = redactor.redact_texts([content for _, content in example.messages], collection)
    messages = tuple((role, text) for (role, _), text in zip(example.messages, texts, strict=True))
    return Example(messages), dict(counts)


def _text(value: Any, where: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ExampleError(f"{where}: {field} must be non-empty text")
    if len(value) > MAX_TEXT_CHARS:
        raise ExampleError(f"{where}: {field} is longer than {MAX_TEXT_CHARS} characters")
    return value.strip()
