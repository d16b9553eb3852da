"""The gate in front of Gradio: an allow-list of routes, a live session, and ownership of every stream and file.

Gradio is mounted, not launched, so its own file checks are off, and each release adds routes
(file serving, URL proxying, monitoring, MCP...). Nothing under /app reaches Gradio unless it
matches one route the pages need, by exact pattern; everything else is 404, including any
route a future Gradio adds. On the listed routes:

- every request needs a live session (the page itself redirects to the sign-in form);
- a queue `session_hash`, an `event_id` and an `upload_id` belong to the session that first
  used them; another session naming them is refused;
- a request body may name a file (Gradio FileData) only if this session uploaded it through
  the upload route and has not used it yet, never a server path or a URL, so the server
  never reads or fetches anything a request names;
- uploading needs the ingest permission; request bodies are capped in size.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import anyio.to_thread
from starlette.requests import HTTPConnection

from appliance.access.roles import Permission, allowed
from appliance.access.sessions import COOKIE_NAME
from ui.context import WebContext
from ui.ownership import StreamOwners

# What a session may upload files for: documents to ingest, tables to train on or decide.
UPLOAD_PERMISSIONS = (Permission.INGEST, Permission.TRAIN_MODELS, Permission.USE_MODELS)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MOUNT = "/app"
# A question is at most a few thousand characters; nothing the pages send comes near this.
MAX_BODY_BYTES = 256 * 1024
_KEY = r"[A-Za-z0-9_-]{1,128}"
_ASSET = r"[A-Za-z0-9_.@/-]+"


@dataclass(frozen=True)
class Route:
    """One allowed method and path pattern (relative to the mount) and what the gate checks on it."""

    method: str
    pattern: re.Pattern[str]
    kind: str


def _route(method: str, pattern: str, kind: str = "plain") -> Route:
    return Route(method, re.compile(pattern), kind)


ROUTES = (
    _route("GET", r"/?", "page"),
    _route("GET", r"/config/?"),
    _route("GET", r"/theme\.css"),
    _route("GET", r"/favicon\.ico"),
    _route("GET", rf"/assets/{_ASSET}"),
    _route("GET", rf"/static/{_ASSET}"),
    _route("GET", rf"/svelte/{_ASSET}"),
    _route("GET", rf"/gradio_api/heartbeat/(?P<session_hash>{_KEY})", "heartbeat"),
    _route("POST", r"/gradio_api/queue/join", "join"),
    _route("GET", r"/gradio_api/queue/data", "data"),
    _route("POST", r"/gradio_api/cancel", "cancel"),
    _route("POST", r"/gradio_api/upload", "upload"),
    _route("GET", r"/gradio_api/upload_progress", "upload_progress"),
    _route("POST", r"/gradio_api/call/(?P<api_name>[A-Za-z0-9_]{1,64})/?", "call"),
    _route("GET", rf"/gradio_api/call/(?P<api_name>[A-Za-z0-9_]{{1,64}})/(?P<event_id>{_KEY})", "call_stream"),
)


class Refused(Exception):
    """A request the gate answers itself (status and a short reason)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def match(method: str, inner: str) -> tuple[Route, dict[str, str]] | None:
    """The allowed route `method inner` matches, with its path parameters; None when it is not listed."""
    for route in ROUTES:
        found = route.pattern.fullmatch(inner)
        if found and route.method == method:
            return route, found.groupdict()
    return None


class SessionGate:
    """ASGI middleware around the FastAPI app: allow-listed, session-bound access to the mounted Gradio app."""

    def __init__(self, app: Any, ctx: WebContext, api_names: set[str], app_csp: str, page_csp: str) -> None:
        self.app = app
        self.ctx = ctx
        self.api_names = api_names
        self.app_csp = app_csp
        self.page_csp = page_csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        in_app = path == MOUNT or path.startswith(MOUNT + "/")
        send = with_security_headers(send, self.app_csp if in_app else self.page_csp)
        if not in_app:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        try:
            await self._pass(scope, receive, send, path[len(MOUNT) :] or "/")
        except Refused as refusal:
            await respond(send, refusal.status, {"detail": refusal.detail})

    async def _pass(self, scope: Scope, receive: Receive, send: Send, inner: str) -> None:
        matched = match(scope.get("method", ""), inner)
        if matched is None:
            raise Refused(404, "not available")
        route, params = matched
        cookie = HTTPConnection(scope).cookies.get(COOKIE_NAME)
        # Sessions live in the database (PostgreSQL may be another host): look them up off the event loop.
        signed_in = await anyio.to_thread.run_sync(self.ctx.signed_in, cookie)
        if signed_in is None:
            if route.kind == "page":
                await redirect(send, "/login")
                return
            raise Refused(401, "sign in first")
        session, user = signed_in
        owner = session.id
        query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
        streams = self.ctx.streams
        if route.kind == "heartbeat":
            self._claim(params["session_hash"], owner)
        elif route.kind == "data":
            self._claim(query.get("session_hash", ""), owner)
        elif route.kind == "call_stream":
            if params["api_name"] not in self.api_names or not streams.owned_by("event:" + params["event_id"], owner):
                raise Refused(404, "no such event")
        elif route.kind == "upload_progress":
            # The page opens this stream and posts the upload at the same moment, so either may arrive
            # first: wait for this session's upload to claim the id, as long as Gradio itself would wait.
            if not await _claimed_soon(streams, "upload:" + query.get("upload_id", ""), owner):
                raise Refused(404, "no such upload")
        elif route.kind == "upload":
            if not any(allowed(user.role, p) for p in UPLOAD_PERMISSIONS):
                raise Refused(403, "not allowed: uploading needs a permission that reads files")
            if "upload_id" in query and not streams.claim("upload:" + query["upload_id"], owner):
                raise Refused(403, "that upload belongs to another session")
            send = on_json_response(send, lambda body: self.ctx.uploads.add(owner, _paths(body)))
        elif route.kind in ("join", "call", "cancel"):
            if route.kind == "call" and params["api_name"] not in self.api_names:
                raise Refused(404, "no such function")
            body, receive = await read_body(receive)
            payload = _json_object(body)
            if route.kind == "join" or payload.get("session_hash") is not None:
                self._claim(payload.get("session_hash"), owner)
            self._check_files(payload, owner)
            if route.kind != "cancel":
                send = on_json_response(send, lambda reply: self._bind_event(reply, owner))
        await self.app(scope, receive, send)

    def _claim(self, session_hash: Any, owner: str) -> None:
        if not isinstance(session_hash, str) or not re.fullmatch(_KEY, session_hash):
            raise Refused(400, "a session_hash is required")
        if not self.ctx.streams.claim("queue:" + session_hash, owner):
            raise Refused(403, "that queue session belongs to another sign-in")

    def _check_files(self, payload: dict[str, Any], owner: str) -> None:
        for value in (payload.get("data"), payload.get("event_data")):
            for path in _file_paths(value):
                if not self.ctx.uploads.owns(owner, path):
                    raise Refused(403, "files must be sent through the upload form of this session")

    def _bind_event(self, reply: Any, owner: str) -> None:
        if isinstance(reply, dict) and isinstance(reply.get("event_id"), str):
            self.ctx.streams.claim("event:" + reply["event_id"], owner)


UPLOAD_CLAIM_WAIT_S = 3.0  # what gradio.routes' upload_progress waits for an upload it has not seen yet


async def _claimed_soon(streams: StreamOwners, key: str, owner: str) -> bool:
    """Whether `owner` holds `key` now or claims it within UPLOAD_CLAIM_WAIT_S; a key that another
    session holds is refused at once."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + UPLOAD_CLAIM_WAIT_S
    while (holder := streams.holder(key)) is None and loop.time() < deadline:
        await asyncio.sleep(0.05)
    return holder == owner


def _file_paths(value: Any) -> list[str]:
    """Every file a request value names: the `path` (or `url`) of anything shaped like Gradio's FileData."""
    found: list[str] = []
    if isinstance(value, dict):
        if "path" in value or "url" in value:
            target = value.get("path") or value.get("url")
            found.append(target if isinstance(target, str) else repr(target))
        for item in value.values():
            found += _file_paths(item)
    elif isinstance(value, list):
        for item in value:
            found += _file_paths(item)
    return found


def _paths(body: Any) -> list[str]:
    return [p for p in body if isinstance(p, str)] if isinstance(body, list) else []


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise Refused(400, "the request body is not JSON") from None
    if not isinstance(payload, dict):
        raise Refused(400, "the request body must be a JSON object")
    return payload


async def read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body (at most MAX_BODY_BYTES, else 413) and a `receive` that replays it."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise Refused(400, "the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise Refused(413, f"request too large (at most {MAX_BODY_BYTES // 1024} KiB)")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def on_json_response(send: Send, seen: Callable[[Any], None]) -> Send:
    """A `send` that holds a (small) successful JSON response until it is complete, shows it to `seen`, then sends it."""
    held: list[Message] = []
    status = 0

    async def sending(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            held.append(message)
            return
        if message["type"] != "http.response.body" or not held:
            await send(message)
            return
        held.append(message)
        if message.get("more_body", False):
            return
        if status == 200:
            try:
                seen(json.loads(b"".join(m.get("body", b"") for m in held[1:]) or b"null"))
            except ValueError:
                pass
        for item in held:
            await send(item)
        held.clear()

    return sending


def with_security_headers(send: Send, csp: str) -> Send:
    """Add the content security policy and the usual hardening headers to every response."""
    extra = [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
    ]

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {name.lower() for name, _ in message.get("headers", [])}
            message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in names)]
        await send(message)

    return sending


async def respond(send: Send, status: int, body: dict[str, Any]) -> None:
    """A small JSON response written by the gate itself."""
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def redirect(send: Send, location: str) -> None:
    """A 303 to `location`."""
    headers = [(b"location", location.encode()), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
