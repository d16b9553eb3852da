"""The OpenAI-compatible API under /v1, for internal tools: the same answers, rules and audit as the web UI.

- Bearer API keys only (`appliance users api-key create`); the web session cookie never works here.
  A missing or bad key is a 401, counted by the sign-in throttle and audited like a failed sign-in.
- The caller's role, collections and adapter grants apply exactly as on the Ask page, and the same
  per-user share of questions in flight (`web.questions_per_user`) counts web and API questions together.
- Every authenticated call is one `api.call` event (route, key id, status); a question is also its own
  `ask` event. Earlier chat turns are recorded, redacted, and not used for retrieval.
- `stream: true` is accepted: the answer is sent once it has been verified against its quotes (an
  unverified figure is never sent and then taken back), in pieces, ending with the citations.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from appliance.access.api_keys import ApiKeys, Caller, key_id_of
from appliance.access.login_throttle import client_address
from appliance.access.roles import Forbidden, Permission
from appliance.access.rules import authorize_audited, known_collections, scoped
from appliance.access.users import UserRecord
from appliance.actors import Actor
from appliance.answer.answering import ask
from appliance.audit import events as audit_events
from appliance.finetune.adapters import ServedAdapter
from ui.context import WebContext
from ui.gate import Refused, read_body
from ui.openai_shapes import (
    ADAPTER_PREFIX,
    BASE_MODEL,
    EMBEDDING_MODEL,
    ApiError,
    ChatRequest,
    completion_chunks,
    completion_json,
    embeddings_json,
    parse_chat,
    parse_embeddings,
)
from ui.question_slots import TooManyQuestions
from ui.served_adapters import servable_adapters, served_adapter

Handler = Callable[[Request, Caller], Awaitable[tuple[Response, dict[str, Any]]]]


def add_api_routes(api: FastAPI, ctx: WebContext) -> None:
    """Register /v1/models, /v1/chat/completions and /v1/embeddings (when `api.enabled`)."""
    if not ctx.settings.api.enabled:
        return
    v1 = _V1(ctx)
    api.add_api_route("/v1/models", v1.route(v1.models), methods=["GET"])
    api.add_api_route("/v1/chat/completions", v1.route(v1.chat), methods=["POST"])
    api.add_api_route("/v1/embeddings", v1.route(v1.embeddings), methods=["POST"])


class _V1:
    """The /v1 handlers over one web context."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.keys = ApiKeys(ctx.app.audit, ctx.directory)
        # The same number of questions at once as the web UI's queue lets through (the model writes one at a time).
        self.limiter = anyio.CapacityLimiter(ctx.settings.web.ask_concurrency)

    def route(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Authenticate, run `handler`, audit the call, and answer refusals in OpenAI's error shape."""

        async def endpoint(request: Request) -> Response:
            where = client_address(
                request.client.host if request.client else "", request.headers, self.ctx.settings.web.trusted_proxies
            )
            try:
                caller = await self._caller(request, where)
            except ApiError as refusal:
                return _error(refusal)
            details: dict[str, Any] = {"key": caller.key_id, "origin": where}
            try:
                response, more = await handler(request, caller)
                details.update(more, status=response.status_code)
            except ApiError as refusal:
                details["status"], response = refusal.status, _error(refusal)
            except Forbidden as refusal:
                details["status"], response = 403, _error(ApiError(403, str(refusal), "permission_error"))
            except TooManyQuestions as refusal:
                details["status"], response = 429, _error(ApiError(429, str(refusal), "rate_limit_error"))
            except Exception as failure:  # noqa: BLE001 - one clear error, the details stay in the audit event
                details.update(status=500, error=type(failure).__name__)
                response = _error(ApiError(500, "the appliance could not complete this call", "server_error"))
            await anyio.to_thread.run_sync(
                lambda: self.ctx.app.audit.record(
                    caller.user.actor, audit_events.API_CALL, subject=request.url.path, details=details
                )
            )
            return response

        return endpoint

    async def _caller(self, request: Request, where: str) -> Caller:
        """The user the bearer token speaks for; 401 (audited, throttled) for anything else."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        key = key_id_of(token) or ""
        if not await anyio.to_thread.run_sync(lambda: self.ctx.throttle.allowed(where, key)):
            raise ApiError(429, "too many failed API keys from this address; try again later", "rate_limit_error")
        caller = await anyio.to_thread.run_sync(lambda: self.keys.caller(token)) if scheme.lower() == "bearer" else None
        if caller is None:
            await anyio.to_thread.run_sync(lambda: self.ctx.throttle.failed(where, key))
            reason = "no bearer token" if not token else "invalid, expired or revoked API key"
            details = {"method": "api-key", "reason": reason, "origin": where, "key": key or None}
            await anyio.to_thread.run_sync(
                lambda: self.ctx.app.audit.record(
                    Actor("anonymous", "none"), audit_events.LOGIN_FAILURE, subject=None, details=details
                )
            )
            raise ApiError(
                401, f"{reason}: send 'Authorization: Bearer <API key>'", "authentication_error", "invalid_api_key"
            )
        return caller

    async def models(self, request: Request, caller: Caller) -> tuple[Response, dict[str, Any]]:
        return await anyio.to_thread.run_sync(self._models, caller), {}

    def _models(self, caller: Caller) -> JSONResponse:
        """The models list (reads the database, the adapter registry and, on first use, the inference server)."""
        user = caller.user
        authorize_audited(self.ctx.app.audit, user, Permission.ASK, known=known_collections(self.ctx.app))
        created = int(time.time())
        data = [
            _model(BASE_MODEL, created, "appliance", identity=self.ctx.app.generator.model_id),
            _model(EMBEDDING_MODEL, created, "appliance", identity=self.ctx.app.embedder.model_id),
            *(
                _model(
                    ADAPTER_PREFIX + v.name, created, "appliance-adapter", identity=f"{v.name} v{v.version} ({v.state})"
                )
                for v in servable_adapters(self.ctx, user)
            ),
        ]
        return JSONResponse({"object": "list", "data": data})

    async def chat(self, request: Request, caller: Caller) -> tuple[Response, dict[str, Any]]:
        chat = parse_chat(await _json_body(request))
        user, app = caller.user, self.ctx.app
        collections, served, earlier = await anyio.to_thread.run_sync(lambda: self._prepare(chat, user))
        with self.ctx.questions.hold(user.name):
            answer = await anyio.to_thread.run_sync(
                lambda: ask(
                    app,
                    chat.question,
                    actor=user.actor,
                    collections=collections,
                    mode="direct" if chat.mode == "direct" else "rag",
                    adapter=served,
                ),
                limiter=self.limiter,
            )
        body = answer.to_json()
        details = {"model": chat.model, "ask_seq": answer.audit_seq, "earlier_turns": earlier, "stream": chat.stream}
        completion_id, created = f"chatcmpl-{answer.audit_seq}", int(time.time())
        if not chat.stream:
            return JSONResponse(completion_json(completion_id, created, chat.model, body)), details
        return StreamingResponse(
            _events(completion_chunks(completion_id, created, chat.model, body)), media_type="text/event-stream"
        ), details

    def _prepare(
        self, chat: ChatRequest, user: UserRecord
    ) -> tuple[list[str], ServedAdapter | None, list[dict[str, str]]]:
        """The collections and adapter the caller may use for this question (refusals audited), and the
        earlier turns redacted as the question will be."""
        app = self.ctx.app
        wanted = chat.collections or None
        collections = scoped(
            authorize_audited(app.audit, user, Permission.ASK, wanted, known=known_collections(app)), user
        )
        served = served_adapter(self.ctx, user, chat.adapter, collections)
        earlier = [
            {"role": turn["role"], "content": app.redactor.redact_question(turn["content"], collections[0])[0]}
            for turn in chat.earlier
        ]
        return collections, served, earlier

    async def embeddings(self, request: Request, caller: Caller) -> tuple[Response, dict[str, Any]]:
        texts, encoding = parse_embeddings(await _json_body(request), self.ctx.settings.api.max_embedding_inputs)
        app = self.ctx.app

        def embedded() -> list[list[float]]:
            authorize_audited(app.audit, caller.user, Permission.ASK, known=known_collections(app))
            return app.embedder.embed(texts)

        vectors = await anyio.to_thread.run_sync(embedded, limiter=self.limiter)
        # The texts are the caller's and are not kept: the event records how many and how long, never what.
        details = {"model": EMBEDDING_MODEL, "inputs": len(texts), "characters": sum(len(t) for t in texts)}
        return JSONResponse(embeddings_json(vectors, encoding)), details


def _model(model_id: str, created: int, owner: str, *, identity: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": owner, "identity": identity}


def _events(chunks: Iterator[dict[str, Any]]) -> Iterator[str]:
    """Server-sent events: one `data:` line per chunk, then `data: [DONE]`."""
    for chunk in chunks:
        yield f"data: {json.dumps(chunk)}\n\n"
    yield "data: [DONE]\n\n"


async def _json_body(request: Request) -> Any:
    """The request's JSON, read with the gate's cap (MAX_BODY_BYTES, else 413)."""
    try:
        body, _ = await read_body(request.receive)
    except Refused as refusal:
        raise ApiError(refusal.status, refusal.detail) from None
    try:
        return json.loads(body or b"null")
    except ValueError:
        raise ApiError(400, "the request body is not JSON") from None


def _error(refusal: ApiError) -> JSONResponse:
    return JSONResponse(refusal.to_json(), status_code=refusal.status)
