"""The web service: our sign-in page, a session gate in front of every Gradio route, the mounted Blocks.

Routes: `/` (to the app or the sign-in page), `/login` (GET the form, POST name and
password), `/logout`, `/downloads/ID` (an audit export, once, for the user who made it),
the OpenAI-compatible API under `/v1/` (API keys only: ui/openai_api.py), and the Gradio app under `/app/`. The gate (ui/gate.py) passes to Gradio only the routes the
pages need, with a live session, and binds every stream and upload to the session that made
it; handlers check role and collections again.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.background import BackgroundTask

from appliance.access.login_throttle import client_address
from appliance.access.roles import Permission, allowed
from appliance.access.rules import proxy_user, record_proxy_sign_in
from appliance.access.sessions import COOKIE_NAME
from appliance.access.users import LoginFailed
from appliance.audit import events as audit_events
from ui.context import WebContext
from ui.gate import MOUNT, SessionGate
from ui.login_page import login_html
from ui.openai_api import add_api_routes

CSRF_COOKIE = "appliance_login_csrf"
APP_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; media-src 'self' blob: data:; "
    "worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"


def prepare_temp_dirs(ctx: WebContext) -> None:
    """Empty the upload, export and Gradio folders under APPLIANCE_HOME/tmp (leftovers of a crash)."""
    for folder in (ctx.gradio_dir, ctx.uploads_dir, ctx.exports_dir):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, mode=0o700)
    os.environ["GRADIO_TEMP_DIR"] = str(ctx.gradio_dir)  # read when the Blocks and Gradio's app are made


def create_web_app(ctx: WebContext) -> Any:
    """The ASGI application: the session gate around FastAPI with Gradio mounted at /app."""
    prepare_temp_dirs(ctx)
    api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    requests = _Requests(ctx)
    _add_sign_in_routes(api, ctx, requests)
    _add_download_route(api, ctx, requests)
    add_api_routes(api, ctx)
    api_names = _mount_gradio(api, ctx, requests)
    return SessionGate(api, ctx, api_names, APP_CSP, PAGE_CSP)


class _Requests:
    """What the routes ask of a request: who sent it, from where, and the session cookie they get."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.web = ctx.settings.web

    def peer(self, request: Request) -> str:
        return request.client.host if request.client else ""

    def origin(self, request: Request) -> str:
        """The client's address: the peer, or what a trusted reverse proxy says it saw."""
        return client_address(self.peer(request), request.headers, self.web.trusted_proxies)

    def signed_in(self, request: Request) -> Any:
        return self.ctx.session_user(request.cookies.get(COOKIE_NAME))

    def start_session(self, response: Response, user: Any) -> None:
        response.set_cookie(
            COOKIE_NAME,
            self.ctx.sessions.create(user.name, user.session_epoch),
            max_age=int(self.web.session_hours * 3600),
            httponly=True,
            samesite="strict",
            secure=self.web.secure_cookies,
            path="/",
        )

    def proxy_sign_in(self, request: Request) -> Response | None:
        user = proxy_user(self.web, self.ctx.directory, request.headers, self.peer(request))
        if user is None:
            return None
        record_proxy_sign_in(self.ctx.app.audit, user, self.origin(request))
        response = RedirectResponse(f"{MOUNT}/", status_code=303)
        self.start_session(response, user)
        return response


def _add_sign_in_routes(api: FastAPI, ctx: WebContext, requests: _Requests) -> None:
    """`/`, `/login` (the form, and the sign-in it posts) and `/logout`."""
    web = ctx.settings.web

    @api.get("/")
    def root(request: Request) -> Response:
        if requests.signed_in(request) is not None:
            return RedirectResponse(f"{MOUNT}/", status_code=303)
        return requests.proxy_sign_in(request) or RedirectResponse("/login", status_code=303)

    @api.get("/login")
    def login_form(request: Request, message: str | None = None) -> Response:
        if requests.signed_in(request) is not None:
            return RedirectResponse(f"{MOUNT}/", status_code=303)
        proxied = requests.proxy_sign_in(request)
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
        where = requests.origin(request)
        if not await _in_thread(lambda: ctx.throttle.allowed(where, name)):
            return RedirectResponse("/login?message=busy", status_code=303)
        try:
            user = await _in_thread(lambda: ctx.directory.authenticate(name, password, origin=where))
        except LoginFailed:
            await _in_thread(lambda: ctx.throttle.failed(where, name))
            return RedirectResponse("/login?message=failed", status_code=303)
        response = RedirectResponse(f"{MOUNT}/", status_code=303)
        requests.start_session(response, user)
        response.delete_cookie(CSRF_COOKIE, path="/login")
        return response

    @api.api_route("/logout", methods=["GET", "POST"])
    def logout(request: Request) -> Response:
        ended = ctx.sessions.end(request.cookies.get(COOKIE_NAME))
        if ended is not None:
            ctx.end_sessions([ended])
            try:
                actor = ctx.directory.get(ended.user).actor
                ctx.app.audit.record(
                    actor, audit_events.LOGOUT, subject=ended.user, details={"origin": requests.origin(request)}
                )
            except Exception:  # noqa: BLE001 - a removed account still gets signed out
                pass
        response = RedirectResponse("/login?message=signed-out", status_code=303)
        response.delete_cookie(COOKIE_NAME, path="/")
        return response


def _add_download_route(api: FastAPI, ctx: WebContext, requests: _Requests) -> None:
    """`/downloads/KEY`: an audit export, once, for the user who made it."""

    @api.get("/downloads/{key}")
    def download(key: str, request: Request) -> Response:
        user = requests.signed_in(request)
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


def _mount_gradio(api: FastAPI, ctx: WebContext, requests: _Requests) -> set[str]:
    """Mount the pages at /app; returns the names of our functions that scripts may call (the call route)."""
    import gradio as gr

    from ui.blocks import build_blocks

    def auth_dependency(request: Request) -> str | None:
        user = requests.signed_in(request)
        return user.name if user is not None else None

    blocks = build_blocks(ctx)
    blocks.queue(default_concurrency_limit=1, max_size=ctx.settings.web.queue_size)
    # Private functions are reachable only through the page's queue.
    api_names = {
        fn.api_name for fn in blocks.fns.values() if isinstance(fn.api_name, str) and fn.api_visibility != "private"
    }
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
    return api_names


async def _in_thread(fn: Callable[[], Any]) -> Any:
    """Run a blocking call (a slow password hash) off the event loop."""
    import anyio.to_thread

    return await anyio.to_thread.run_sync(fn)


class RunningServer:
    """uvicorn serving the web app from a background thread (tests, benchmarks); `close()` stops it.

    By default it runs on asyncio's own event loop, not uvloop: every connection the served app
    opens then goes through Python's socket module, where the test suite's egress guard sees it
    (uvloop's C sockets would pass unseen). `appliance serve` uses uvicorn's choice ("auto", uvloop
    when installed), as does the web benchmark; a test runs `serve` under strace.
    """

    def __init__(self, ctx: WebContext, host: str = "127.0.0.1", port: int = 0, loop: str = "asyncio") -> None:
        import socket

        import uvicorn

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(
            create_web_app(ctx), log_level="warning", access_log=False, server_header=False, loop=loop
        )
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
