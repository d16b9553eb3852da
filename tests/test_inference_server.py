"""Generation on an OpenAI-compatible inference server: a real `llama_cpp.server` on loopback serving the
embedded model, driven through the real appliance (Presidio, MiniLM, Chroma, SQLite)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.answer.answering import ask
from appliance.audit import events as audit_events
from appliance.backends.openai_server_generator import GenerationError, ServerGenerator
from appliance.bench.inference_servers import free_port, llama_cpp_server
from appliance.build import Models, build
from appliance.file_digest import file_sha256
from appliance.settings import GenerationSettings, Settings
from appliance.store.documents import show_document
from ingestion.pipeline import ingest_paths
from tests.actors import TESTER
from tests.conftest import APPLIANCE_BIN, DEMO_CORPUS, cli_env

SCHEMA = {
    "type": "object",
    "properties": {"ids": {"type": "array", "items": {"type": "integer"}}},
    "required": ["ids"],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with llama_cpp_server(tmp_path_factory.mktemp("llama-server"), ["smollm2", "smollm2-mapped"]) as url:
        yield url


def server_settings(url: str, **more: Any) -> GenerationSettings:
    return GenerationSettings(
        backend="openai_server", server_url=url, server_model="smollm2", server_schema_style="json_object", **more
    )


def test_a_question_is_answered_by_the_server_with_verified_citations_and_its_reported_identity(
    server: str, home: Path, models: Any
) -> None:
    settings = Settings(home=home, generation=server_settings(server))
    generator = ServerGenerator(settings.generation)
    served = Models(detector=models.detector, embedder=models.embedder, generator=generator)
    with build(settings, served) as app:
        report = ingest_paths(app, [DEMO_CORPUS / "travel_expense_policy.md"], collection="default", actor=TESTER)
        assert not report.failed
        answer = ask(app, "What is the hotel cap per night?", actor=TESTER, collections=["default"])
        assert not answer.refused and "180" in answer.answer
        assert answer.model == f"smollm2@{server.rsplit('/v1', 1)[0]} (reported by the server)"
        for citation in answer.citations:
            document = show_document(app, citation["doc_id"], actor=TESTER, collections=["default"])
            assert document["text"][citation["start"] : citation["end"]] == citation["quote"]
        event = list(app.audit.events("action = :a", {"a": audit_events.ASK}))[-1]
        assert event["details"]["model"] == answer.model and event["details"]["model_sha256"] == "unverified"


def test_the_schema_is_enforced_and_answers_stream_through_the_server(server: str) -> None:
    generator = ServerGenerator(server_settings(server))
    messages = [{"role": "user", "content": "List three small numbers."}]
    constrained = generator.chat(messages, max_tokens=48, json_schema=SCHEMA)
    assert isinstance(json.loads(constrained.text)["ids"], list)
    assert constrained.prompt_tokens > 0 and constrained.completion_tokens > 0
    pieces: list[str] = []
    streamed = generator.chat(messages, max_tokens=32, on_token=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == streamed.text and not streamed.timed_out
    cut = generator.chat(messages, max_tokens=200, on_token=lambda _: None, deadline_seconds=0.0)
    assert cut.timed_out and len(cut.text) < 200
    generator.close()


def test_adapters_are_served_only_where_the_operator_mapped_them(server: str, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter.gguf"
    adapter.write_bytes(b"an adapter file")
    digest = file_sha256(adapter)
    unmapped = ServerGenerator(server_settings(server))
    with pytest.raises(GenerationError, match=r"generation\.server_adapters"):
        unmapped.chat([{"role": "user", "content": "hi"}], max_tokens=4, adapter=adapter)
    with pytest.raises(ValueError, match="server_adapters"):
        unmapped.check_adapter(adapter)
    mapped = ServerGenerator(server_settings(server, server_adapters={digest: "smollm2-mapped"}))
    mapped.check_adapter(adapter)
    assert mapped.chat([{"role": "user", "content": "hi"}], max_tokens=4, adapter=adapter).text
    missing = ServerGenerator(server_settings(server, server_adapters={digest: "not-loaded-there"}))
    with pytest.raises(ValueError, match="not-loaded-there"):
        missing.check_adapter(adapter)


def test_a_server_that_is_down_fails_the_question_loudly_with_no_fallback(home: Path, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    generator = ServerGenerator(server_settings(dead, server_retries=1))
    with pytest.raises(GenerationError, match=r"cannot be reached after 2 tries"):
        generator.chat([{"role": "user", "content": "hi"}], max_tokens=4)
    env = cli_env(
        home,
        APPLIANCE_GENERATION__BACKEND="openai_server",
        APPLIANCE_GENERATION__SERVER_URL=dead,
        APPLIANCE_GENERATION__SERVER_MODEL="smollm2",
        APPLIANCE_GENERATION__SERVER_RETRIES="0",
    )
    ingested = subprocess.run(
        [APPLIANCE_BIN, "ingest", str(DEMO_CORPUS / "travel_expense_policy.md")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ingested.returncode == 0, ingested.stderr  # ingestion needs no generator
    asked = subprocess.run(
        [APPLIANCE_BIN, "ask", "What is the hotel cap per night?", "--json"], env=env, capture_output=True, text=True
    )
    assert asked.returncode != 0 and asked.stdout == ""
    assert "cannot be reached" in asked.stderr and dead.rsplit("/v1", 1)[0] in asked.stderr
    assert "Traceback" not in asked.stderr
    # Training for a server whose base nobody declared is refused before it starts, not after an hour.
    trained = subprocess.run(
        [APPLIANCE_BIN, "finetune", "any-dataset", "--name", "never"], env=env, capture_output=True, text=True
    )
    assert trained.returncode != 0 and "generation.server_model_sha256" in trained.stderr, trained.stderr
    key = tmp_path / "server.key"
    key.write_text("secret\n")
    key.chmod(0o644)
    with pytest.raises(GenerationError, match="chmod 600"):
        ServerGenerator(server_settings(dead, server_api_key_file=key))
