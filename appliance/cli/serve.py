"""`appliance serve [--host --port] [--demo-admin]`: the web UI, owning the store, with the control socket.

While it runs, the service holds the store lock; the CLI's store commands reach the store
through the local control socket (appliance/cli/control.py) instead of opening it themselves.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from typing import Any

from appliance.actors import os_operator
from appliance.settings import Settings

DEMO_ADMIN = "demo-admin"
DEMO_PASSWORD_ENV = "APPLIANCE_DEMO_PASSWORD"


def add_serve_command(commands: Any) -> None:
    """Register `serve` on the root parser's subparsers."""
    serve = commands.add_parser("serve", help="run the web UI (and the local control socket) until stopped")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    serve.add_argument("--port", type=int, default=7860)
    serve.add_argument(
        "--demo-admin",
        action="store_true",
        help=f"create or reset the admin account {DEMO_ADMIN!r} (password from {DEMO_PASSWORD_ENV} or a new one, printed)",
    )


def cmd_serve(args: argparse.Namespace, settings: Settings, error: type[Exception]) -> int:
    """Build the appliance, start the control socket, serve the web UI until interrupted."""
    if not 0 < args.port < 65536:
        raise error("--port must be between 1 and 65535")
    from appliance.build import build
    from appliance.file_modes import warn_about_exposed_state

    warn_about_exposed_state(settings.home)
    app = build(settings)  # takes the store lock: one owner per store
    control = None
    try:
        control = _start_control(app, settings)
        if args.demo_admin:
            _demo_admin(app)
        from ui.context import new_context
        from ui.server import serve

        shown = f"[{args.host}]" if ":" in args.host else args.host
        print(f"Serving the web UI on http://{shown}:{args.port}/ (Ctrl-C stops it)", flush=True)
        serve(new_context(app), args.host, args.port)
    finally:
        if control is not None:
            control.close()
        app.close()
    return 0


def _start_control(app: Any, settings: Settings) -> Any:
    """The local control socket, so that CLI store commands work while the service runs."""
    try:
        from appliance.cli.control import start_control_server
    except ImportError:  # TODO: remove once appliance/cli/control.py has landed everywhere
        print("appliance: warning: no control socket (appliance.cli.control is missing)", file=sys.stderr)
        return None
    return start_control_server(app, settings)


def _demo_admin(app: Any) -> None:
    """Create (or reset the password of) the demo admin account and print how to sign in."""
    from appliance.access.users import UserError

    password = os.environ.get(DEMO_PASSWORD_ENV) or secrets.token_urlsafe(12)
    directory = app.users
    try:
        directory.get(DEMO_ADMIN)
        directory.set_password(DEMO_ADMIN, password, by=os_operator())
        directory.set_disabled(DEMO_ADMIN, False, by=os_operator())
    except UserError:
        directory.add(DEMO_ADMIN, "admin", password, by=os_operator())
    print(f"Demo admin account: {DEMO_ADMIN} / {password}", flush=True)
