"""The Generator port against the real embedded SmolLM2-135M GGUF on llama.cpp."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

from appliance.backends.llama_generator import LlamaGenerator, embedded_gguf_path
from appliance.ports import GenerationResult, Generator
from appliance.settings import GenerationSettings

QUESTION = [{"role": "user", "content": "Name three colours."}]
IDS_SCHEMA = {
    "type": "object",
    "properties": {"ids": {"type": "array", "items": {"type": "integer", "enum": [1, 2, 3]}, "maxItems": 3}},
    "required": ["ids"],
}


@pytest.fixture(scope="module")
def generator() -> LlamaGenerator:
    loaded = LlamaGenerator(GenerationSettings(), threads=2)
    loaded.warm_up()
    return loaded


def test_loading_prints_nothing_on_stdout(capfd: pytest.CaptureFixture[str]) -> None:
    quiet = LlamaGenerator(GenerationSettings(), threads=2)
    quiet.warm_up()
    assert capfd.readouterr().out == ""


def test_is_a_generator_with_a_fingerprinted_model_id(generator: LlamaGenerator) -> None:
    port: Generator = generator
    assert re.fullmatch(r"SmolLM2-135M-Instruct\.Q4_1\.gguf@[0-9a-f]{12}", port.model_id)


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="no GGUF model"):
        LlamaGenerator(GenerationSettings(model_path=tmp_path / "absent.gguf"), threads=1)
    assert embedded_gguf_path().stat().st_size > 50_000_000


def test_chat_answers(generator: LlamaGenerator) -> None:
    result = generator.chat(QUESTION, max_tokens=32)
    assert isinstance(result, GenerationResult)
    assert result.text.strip()
    assert result.prompt_tokens > 5 and 0 < result.completion_tokens <= 32 and result.seconds > 0


def test_the_same_question_gets_the_same_answer(generator: LlamaGenerator) -> None:
    first = generator.chat(QUESTION, max_tokens=48)
    generator.decode_speed(8)
    assert generator.chat(QUESTION, max_tokens=48).text == first.text == generator.chat(QUESTION, max_tokens=48).text


def test_streamed_pieces_make_up_the_same_answer(generator: LlamaGenerator) -> None:
    whole = generator.chat(QUESTION, max_tokens=32)
    pieces: list[str] = []
    streamed = generator.chat(QUESTION, max_tokens=32, on_token=pieces.append)
    assert len(pieces) > 1
    assert "".join(pieces) == streamed.text == whole.text
    assert streamed.prompt_tokens == whole.prompt_tokens
    assert abs(streamed.completion_tokens - whole.completion_tokens) <= 1


def test_json_schema_constrains_the_output(generator: LlamaGenerator) -> None:
    messages = [
        {
            "role": "user",
            "content": "Sentences: 1. Cats purr. 2. Dogs bark. 3. Cats sleep. Which sentences mention cats? Answer in JSON.",
        }
    ]
    result = generator.chat(messages, max_tokens=48, json_schema=IDS_SCHEMA)
    answer = json.loads(result.text)
    assert set(answer) == {"ids"}
    assert all(isinstance(i, int) and i in {1, 2, 3} for i in answer["ids"])
    assert len(answer["ids"]) <= 3


def test_unenforceable_schema_is_refused_not_ignored(generator: LlamaGenerator) -> None:
    remote = {"type": "object", "properties": {"x": {"$ref": "https://example.com/schema.json"}}}
    with pytest.raises(ValueError, match="cannot be enforced"):
        generator.chat(QUESTION, max_tokens=8, json_schema=remote)


def test_concurrent_callers_both_get_answers(generator: LlamaGenerator) -> None:
    results: dict[int, GenerationResult] = {}
    errors: list[BaseException] = []

    def ask(n: int) -> None:
        try:
            results[n] = generator.chat([{"role": "user", "content": f"Count to {n + 3}."}], max_tokens=24)
        except BaseException as error:  # noqa: BLE001  (reported by the assertion below)
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(results) == [0, 1] and all(r.text.strip() for r in results.values())


def test_decode_speed_is_positive(generator: LlamaGenerator) -> None:
    assert generator.decode_speed(32) > 0
