"""The web service: our sign-in page, a session gate in front of every Gradio route, the mounted Blocks.

Routes: `/` (to the app or the sign-in page), `/login` (GET the form, POST name and
password), `/logout`, `/downloads/ID` (an audit export, once, for the user who made it),
and the Gradio app under `/app/`. The gate refuses every request under `/app` without a
live session (the page, its assets and every Gradio API route alike) and some Gradio
routes even with one (file serving, monitoring, run history); handlers check role and
collections again.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.background import BackgroundTask
from starlette.requests import HTTPConnection

from appliance.access import proxy_user, record_proxy_sign_in
from appliance.roles import Permission, allowed
from appliance.users import LoginFailed
from ui.context import WebContext
from ui.login_page import login_html
from ui.sessions import COOKIE_NAME

MOUNT = "/app"
CSRF_COOKIE = "appliance_login_csrf"
# Gradio routes nobody needs here: serving files from its cache (uploads must never come
# back), fetching URLs, monitoring, run history, MCP, live code editing, dev reload.
BLOCKED = (
    "/gradio_api/file=",
    "/file=",
    "/gradio_api/proxy=",
    "/proxy=",
    "/monitoring",
    "/gradio_api/monitoring",
    "/gradio_api/runs",
    "/gradio_api/run-history",
    "/gradio_api/vibe",
    "/gradio_api/undo-vibe",
    "/gradio_api/mcp",
    "/gradio_api/dev",
    "/gradio_api/process_recording",
)
APP_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; media-src 'self' blob: data:; "
    "worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def prepare_temp_dirs(ctx: WebContext) -> None:
    """Empty the upload, export and Gradio folders under APPLIANCE_HOME/tmp (leftovers of a crash)."""
    for folder in (ctx.gradio_dir, ctx.uploads_dir, ctx.exports_dir):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, mode=0o700)
    os.environ["GRADIO_TEMP_DIR"] = str(ctx.gradio_dir)  # read when the Blocks and Gradio's app are made


def create_web_app(ctx: WebContext) -> Any:
    """The ASGI application: the session gate around FastAPI with Gradio mounted at /app."""
    prepare_temp_dirs(ctx)
    import gradio as gr

    from ui.blocks import build_blocks

    web = ctx.settings.web
    api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    def origin(request: Request) -> str:
        return request.client.host if request.client else ""

    def signed_in(request: Request) -> Any:
        return ctx.session_user(request.cookies.get(COOKIE_NAME))

    def set_session_cookie(response: Response, value: str) -> None:
        response.set_cookie(
            COOKIE_NAME,
            value,
            max_age=int(web.session_hours * 3600),
            httponly=True,
            samesite="strict",
            secure=web.secure_cookies,
            path="/",
        )

    def proxy_sign_in(request: Request) -> Response | None:
        user = proxy_user(web, ctx.directory, request.headers, origin(request))
        if user is None:
            return None
        record_proxy_sign_in(ctx.app.audit, user, origin(request))
        response = RedirectResponse(f"{MOUNT}/", status_code=303)
        set_session_cookie(response, ctx.sessions.create(user.name))
        return response

    @api.get("/")
    def root(request: Request) -> Response:
        if signed_in(request) is not None:
            return RedirectResponse(f"{MOUNT}/", status_code=303)
        return proxy_sign_in(request) or RedirectResponse("/login", status_code=303)

    @api.get("/login")
    def login_form(request: Request, message: str | None = None) -> Response:
        if signed_in(request) is not None:
            return RedirectResponse(f"{MOUNT}/", status_code=303)
        proxied = proxy_sign_in(request)
        if proxied is not None:
            return proxied
        csrf = secrets.token_urlsafe(24)
        response = HTMLResponse(login_html(csrf, message))
        response.set_cookie(
            CSRF_COOKIE, csrf, max_age=3600, httponly=True, samesite="strict", secure=web.secure_cookies, path="/login"
        )
        return response

    @api.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
        csrf = str(form.get("csrf", ""))
        expected = request.cookies.get(CSRF_COOKIE, "")
        if not expected or not secrets.compare_digest(csrf, expected):
            return RedirectResponse("/login?message=expired", status_code=303)
        where = origin(request)
        if not ctx.throttle.allowed(where):
            return RedirectResponse("/login?message=busy", status_code=303)
        try:
            user = await _in_thread(lambda: ctx.directory.authenticate(name, password, origin=where))
        except LoginFailed:
            ctx.throttle.failed(where)
            return RedirectResponse("/login?message=failed", status_code=303)
        response = RedirectResponse(f"{MOUNT}/", status_code=303)
        set_session_cookie(response, ctx.sessions.create(user.name))
        response.delete_cookie(CSRF_COOKIE, path="/login")
        return response

    @api.api_route("/logout", methods=["GET", "POST"])
    def logout(request: Request) -> Response:
        ended = ctx.sessions.end(request.cookies.get(COOKIE_NAME))
        if ended is not None:
            try:
                actor = ctx.directory.get(ended.user).actor
                ctx.app.audit.record(actor, "logout", subject=ended.user, details={"origin": origin(request)})
            except Exception:  # noqa: BLE001 - a removed account still gets signed out
                pass
        response = RedirectResponse("/login?message=signed-out", status_code=303)
        response.delete_cookie(COOKIE_NAME, path="/")
        return response

    @api.get("/downloads/{key}")
    def download(key: str, request: Request) -> Response:
        user = signed_in(request)
        if user is None:
            return Response("sign in first", status_code=401)
        if not allowed(user.role, Permission.AUDIT_EXPORT):
            return Response("not allowed", status_code=403)
        item = ctx.downloads.take(key, user.name)
        if item is None or not item.path.is_file():
            return Response("no such download (each link works once, for 15 minutes)", status_code=404)
        return FileResponse(
            item.path,
            media_type="application/zip",
            filename=item.filename,
            background=BackgroundTask(item.path.unlink, missing_ok=True),
        )

    def auth_dependency(request: Request) -> str | None:
        user = signed_in(request)
        return user.name if user is not None else None

    blocks = build_blocks(ctx)
    blocks.queue(default_concurrency_limit=1, max_size=web.queue_size)
    gr.mount_gradio_app(
        api,
        blocks,
        path=MOUNT,
        auth_dependency=auth_dependency,
        footer_links=[],
        run_history=False,
        show_error=False,
        ssr_mode=False,
        enable_monitoring=False,
        mcp_server=False,
        pwa=False,
        max_file_size=f"{ctx.settings.ingest.max_file_mb:g}mb",
    )
    return SessionGate(api, ctx)


async def _in_thread(fn: Callable[[], Any]) -> Any:
    """Run a blocking call (a slow password hash) off the event loop."""
    import anyio.to_thread

    return await anyio.to_thread.run_sync(fn)


class SessionGate:
    """ASGI middleware: no session, no Gradio; security headers on every response."""

    def __init__(self, app: Any, ctx: WebContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        in_app = path == MOUNT or path.startswith(MOUNT + "/")
        send = _with_headers(send, APP_CSP if in_app else PAGE_CSP)
        if not in_app:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        inner = path[len(MOUNT) :]
        if any(inner.startswith(prefix) for prefix in BLOCKED):
            await _respond(send, 404, {"detail": "not available"})
            return
        user = self.ctx.session_user(HTTPConnection(scope).cookies.get(COOKIE_NAME))
        if user is None:
            if scope.get("method") == "GET" and inner in ("", "/"):
                await _redirect(send, "/login")
            else:
                await _respond(send, 401, {"detail": "sign in first"})
            return
        if inner.rstrip("/").endswith("/gradio_api/upload") and not allowed(user.role, Permission.INGEST):
            await _respond(send, 403, {"detail": "not allowed: uploading needs the ingest permission"})
            return
        await self.app(scope, receive, send)


def _with_headers(send: Send, csp: str) -> Send:
    extra = [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
    ]

    async def sending(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            names = {name.lower() for name, _ in message.get("headers", [])}
            message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in names)]
        await send(message)

    return sending


async def _respond(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _redirect(send: Send, location: str) -> None:
    headers = [(b"location", location.encode()), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


class RunningServer:
    """uvicorn serving the web app from a background thread (tests, benchmarks); `close()` stops it."""

    def __init__(self, ctx: WebContext, host: str = "127.0.0.1", port: int = 0) -> None:
        import socket

        import uvicorn

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(create_web_app(ctx), log_level="warning", access_log=False, server_header=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="web", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web server did not start")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()


class _Stop(Exception):
    """SIGTERM, re-raised by uvicorn once it has shut down gracefully."""


def _stop(_signum: int, _frame: object) -> None:
    raise _Stop


def serve(ctx: WebContext, host: str, port: int) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM); returns after an orderly shutdown."""
    import signal

    import uvicorn

    config = uvicorn.Config(
        create_web_app(ctx),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    # uvicorn drains connections on SIGINT/SIGTERM, then raises the signal again under the
    # handler that was in place before: make that an exception, so the caller can clean up.
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        uvicorn.Server(config).run()
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
