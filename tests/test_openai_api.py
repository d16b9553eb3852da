"""The /v1 API driven by the official `openai` client against the real served appliance.

Real model, Chroma, SQLite, Presidio and uvicorn; the client is the one internal tools use. The
egress guard (conftest) fails any test here that opens a connection beyond loopback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from appliance.access.api_keys import ApiKeys
from appliance.audit import events as audit_events
from appliance.store.documents import show_document
from tests.actors import TESTER
from tests.served import PASSWORD, Served, finance_and_hr, served_appliance
from ui.http_client import sign_in

QUESTION = "What is the hotel cap per night?"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, models: Any) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("v1")
    users = [("ada", "admin", []), ("ana", "analyst", ["finance"]), ("aud", "auditor", [])]
    with served_appliance(root / "home", models, finance_and_hr(root), users) as served:
        yield served


def new_key(site: Served, user: str) -> tuple[str, str]:
    """(key id, token) of a fresh key for `user`, made as an operator would."""
    key, token = ApiKeys(site.app.audit, site.ctx.directory).create(user, days=1, by=TESTER)
    return key.id, token


def client(site: Served, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{site.url}/v1", api_key=token, max_retries=0, timeout=300)


def verified(site: Served, citations: list[dict[str, Any]], collection: str) -> None:
    """Every citation quotes the stored text at exactly its offsets."""
    assert citations
    for citation in citations:
        document = show_document(site.app, citation["doc_id"], actor=TESTER, collections=[collection])
        assert document["text"][citation["start"] : citation["end"]] == citation["quote"]


def test_a_tool_lists_models_and_gets_a_cited_answer_streamed_and_not(site: Served) -> None:
    key_id, token = new_key(site, "ana")
    tool = client(site, token)
    ids = [m.id for m in tool.models.list()]
    assert ids[:2] == ["appliance", "appliance-embedding"]

    earlier = "My name is John Smith and my phone is 212-555-0199."
    completion = tool.chat.completions.create(
        model="appliance",
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": earlier},
            {"role": "assistant", "content": "Noted."},
            {"role": "user", "content": QUESTION},
        ],
        extra_body={"appliance": {"collections": ["finance"]}},
        temperature=0.2,
    )
    text = completion.choices[0].message.content or ""
    assert "180" in text and completion.choices[0].finish_reason == "stop"
    extra = completion.model_extra or {}
    verified(site, extra["citations"], "finance")
    asked = site.events(audit_events.ASK, "user:ana")[-1]
    assert extra["appliance"]["audit_seq"] == asked["seq"] and asked["details"]["collections"] == ["finance"]
    call = site.events(audit_events.API_CALL, "user:ana")[-1]
    details = call["details"]
    assert call["subject"] == "/v1/chat/completions" and details["status"] == 200 and details["key"] == key_id
    assert details["ask_seq"] == asked["seq"] and [t["role"] for t in details["earlier_turns"]] == [
        "system",
        "user",
        "assistant",
    ]
    logged = json.dumps(list(site.app.audit.events()))
    assert "John Smith" not in logged and "555-0199" not in logged and token not in logged  # redacted, never the key
    assert "<PERSON" in details["earlier_turns"][1]["content"]

    pieces, last = [], None
    for chunk in tool.chat.completions.create(
        model="appliance", messages=[{"role": "user", "content": QUESTION}], stream=True
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        last = chunk
    assert last is not None and last.choices[0].finish_reason == "stop"
    streamed = "".join(pieces)
    assert "180" in streamed and len(pieces) > 1
    verified(site, (last.model_extra or {})["citations"], "finance")
    streamed_event = site.events(audit_events.ASK, "user:ana")[-1]
    assert (last.model_extra or {})["appliance"]["audit_seq"] == streamed_event["seq"]
    assert streamed_event["details"]["answer"] == streamed


def test_embeddings_are_the_appliance_embedder_s(site: Served) -> None:
    _, token = new_key(site, "ana")
    texts = ["hotel cap per night", "annual bonus pool"]
    reply = client(site, token).embeddings.create(model="appliance-embedding", input=texts)  # base64 on the wire
    got = np.array([item.embedding for item in reply.data])
    assert np.allclose(got, np.array(site.app.embedder.embed(texts)), atol=1e-6)
    call = site.events(audit_events.API_CALL, "user:ana")[-1]
    assert call["details"]["inputs"] == 2 and "hotel" not in json.dumps(call["details"])


def test_only_a_live_bearer_key_opens_v1_never_the_session_cookie(site: Served) -> None:
    browser_session = sign_in(site.url, "ana", PASSWORD)
    try:
        assert browser_session.get("/app/config").status_code == 200  # the cookie is live...
        assert browser_session.get("/v1/models").status_code == 401  # ...and opens nothing under /v1
    finally:
        browser_session.close()
    assert httpx.get(f"{site.url}/v1/models", headers={"Authorization": "Basic YW5hOnB3"}).status_code == 401
    before = len(site.events(audit_events.LOGIN_FAILURE, "anonymous"))
    with pytest.raises(openai.AuthenticationError):
        client(site, "apl_0123456789abcdef_" + "x" * 43).models.list()
    failure = site.events(audit_events.LOGIN_FAILURE, "anonymous")[-1]
    assert len(site.events(audit_events.LOGIN_FAILURE, "anonymous")) == before + 1
    assert failure["details"]["method"] == "api-key" and failure["details"]["key"] == "0123456789abcdef"

    key_id, token = new_key(site, "ana")
    tool = client(site, token)
    assert tool.models.list().data
    ApiKeys(site.app.audit, site.ctx.directory).revoke("ana", key_id, by=TESTER)
    with pytest.raises(openai.AuthenticationError):
        tool.models.list()


def test_roles_grants_and_the_per_user_share_apply_as_in_the_web_ui(site: Served) -> None:
    _, auditor_token = new_key(site, "aud")
    with pytest.raises(openai.PermissionDeniedError):
        client(site, auditor_token).chat.completions.create(
            model="appliance", messages=[{"role": "user", "content": QUESTION}]
        )
    _, token = new_key(site, "ana")
    tool = client(site, token)
    with pytest.raises(openai.PermissionDeniedError, match="hr"):
        tool.chat.completions.create(
            model="appliance",
            messages=[{"role": "user", "content": "What is the annual bonus pool?"}],
            extra_body={"appliance": {"collections": ["hr"]}},
        )
    denied = site.events(audit_events.ACCESS_DENIED, "user:ana")[-1]
    assert denied["details"]["collections"] == ["hr"]
    assert site.events(audit_events.API_CALL, "user:ana")[-1]["details"]["status"] == 403
    with pytest.raises(openai.NotFoundError):
        tool.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    with pytest.raises(openai.PermissionDeniedError, match="adapter"):
        tool.chat.completions.create(model="adapter:nothing-here", messages=[{"role": "user", "content": QUESTION}])
    with pytest.raises(openai.BadRequestError, match="logprobs"):
        tool.chat.completions.create(model="appliance", messages=[{"role": "user", "content": QUESTION}], logprobs=True)
    slots = site.ctx.questions
    with slots.hold("ana"), slots.hold("ana"):  # her web questions count against the same share
        with pytest.raises(openai.RateLimitError):
            tool.chat.completions.create(model="appliance", messages=[{"role": "user", "content": QUESTION}])
    # The admin reaches every collection, as in the web UI.
    _, admin_token = new_key(site, "ada")
    answer = client(site, admin_token).chat.completions.create(
        model="appliance",
        messages=[{"role": "user", "content": "What is the annual bonus pool for 2026?"}],
        extra_body={"appliance": {"collections": ["hr"]}},
    )
    verified(site, (answer.model_extra or {})["citations"], "hr")
