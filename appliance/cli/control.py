"""The local control socket: while `appliance serve` owns the store, the CLI's store commands go through it.

Chroma's on-disk store must have one owner process (DESIGN.md), so a running service
cannot share it with a second process. Instead it listens on a Unix socket under
APPLIANCE_HOME (mode 0600: only the service's own OS user, and root, can connect) and runs
the same store commands (store_commands.py) on the caller's behalf. The caller is
identified by the kernel (SO_PEERCRED), never by what it claims: it acts as `os:<login>`,
role operator, exactly as it would running the command itself.

Protocol: one JSON request line `{"command", "args"}`; the reply is JSON lines of
events `{"event": "progress"|"token", ...}` and one final `{"ok": true, "result"}` or
`{"ok": false, "error", "usage"}`.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from appliance.actors import OPERATOR_ROLE, Actor, os_operator
from appliance.app import Appliance
from appliance.cli.store_commands import UsageError, run_store_command
from appliance.settings import Settings

SOCKET_NAME = "control.sock"
MAX_REQUEST_BYTES = 1 << 20
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes with the terminating NUL
log = logging.getLogger(__name__)

OnEvent = Callable[[str, Mapping[str, Any]], None]


class ServiceUnavailable(ConnectionError):
    """No service is listening on the control socket."""


class CommandFailed(RuntimeError):
    """A store command failed (here or in the service); `usage` marks a request that was wrong as asked."""

    def __init__(self, message: str, usage: bool) -> None:
        super().__init__(message)
        self.usage = usage


def socket_path(settings: Settings) -> Path:
    return settings.home / SOCKET_NAME


class ControlServer:
    """Serves store commands on the control socket from a background thread."""

    def __init__(self, app: Appliance, path: Path) -> None:
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            raise RuntimeError(
                f"control socket path {path} is too long for a Unix socket; use a shorter APPLIANCE_HOME"
            )
        self.path = path
        path.unlink(missing_ok=True)  # a stale socket of a crashed service; we hold the store lock
        self._server = _Server(str(path), _Handler)
        os.chmod(path, 0o600)
        self._server.app = app
        self._thread = threading.Thread(target=self._server.serve_forever, name="control-socket", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.path.unlink(missing_ok=True)


def start_control_server(app: Appliance, settings: Settings) -> ControlServer:
    """Listen on APPLIANCE_HOME/control.sock until `close()`."""
    return ControlServer(app, socket_path(settings))


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    app: Appliance


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        def send(message: Mapping[str, Any]) -> None:
            self.wfile.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")
            self.wfile.flush()

        try:
            request = json.loads(self.rfile.readline(MAX_REQUEST_BYTES))
            command, args = str(request["command"]), dict(request.get("args") or {})
        except (ValueError, KeyError, TypeError) as error:
            send({"ok": False, "error": f"malformed request ({error})", "usage": True})
            return
        try:
            emit = lambda kind, payload: send({"event": kind, **payload})  # noqa: E731
            result = run_store_command(self.server.app, _peer_actor(self.request), command, args, emit)
            send({"ok": True, "result": result})
        except UsageError as error:
            send({"ok": False, "error": str(error), "usage": True})
        except Exception as error:  # the caller gets the reason; the log keeps the traceback
            log.warning("control command failed", exc_info=True)
            send({"ok": False, "error": f"{type(error).__name__}: {error}", "usage": False})


def _peer_actor(connection: socket.socket) -> Actor:
    """The connecting process's OS user, as the kernel reports it."""
    _pid, uid, _gid = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    try:
        login = pwd.getpwuid(uid).pw_name
    except KeyError:
        login = f"uid{uid}"
    return Actor(f"os:{login}", OPERATOR_ROLE)


def call_service(settings: Settings, command: str, args: Mapping[str, Any], on_event: OnEvent) -> Any:
    """Run a store command in the running service; ServiceUnavailable when none listens."""
    path = socket_path(settings)
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:  # no service can listen there (it refuses to start)
        raise ServiceUnavailable(f"{path} is too long for a Unix socket")
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError) as error:
        client.close()
        raise ServiceUnavailable(str(error)) from None
    with client, client.makefile("rwb") as stream:
        stream.write(json.dumps({"command": command, "args": dict(args)}).encode() + b"\n")
        stream.flush()
        for line in stream:
            message = json.loads(line)
            if "event" in message:
                on_event(message.pop("event"), message)
            elif message.get("ok"):
                return message["result"]
            else:
                raise CommandFailed(message.get("error", "the service failed"), bool(message.get("usage")))
    raise CommandFailed("the service closed the connection without an answer", usage=False)


def run_anywhere(settings: Settings, command: str, args: Mapping[str, Any], on_event: OnEvent) -> Any:
    """Through the running service if there is one, else here (taking the store lock)."""
    try:
        return call_service(settings, command, args, on_event)
    except ServiceUnavailable:
        pass
    from appliance.build import build

    with build(settings) as app:
        try:
            return run_store_command(app, os_operator(), command, args, on_event)
        except UsageError as error:
            raise CommandFailed(str(error), usage=True) from None
