"""A served appliance for tests that talk to the real web server: real models, Chroma, SQLite, uvicorn.

`served_appliance()` ingests a small corpus into collections, adds users and starts the
server on a loopback port in a background thread; tests drive it over HTTP (httpx) or a
real browser, exactly as a user or a script on the network would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.access.users import UserDirectory
from appliance.build import build
from appliance.settings import Settings
from ingestion.pipeline import ingest_paths
from tests.actors import TESTER
from ui.context import WebContext, new_context
from ui.server import RunningServer

PASSWORD = "a long enough passphrase"
HR_TEXT = (
    "Personnel handbook for the HR team only.\n"
    "The annual bonus pool for 2026 is set at 4.5 percent of the salary budget.\n"
)


def finance_and_hr(root: Path) -> dict[str, list[Path]]:
    """Two collections in `root`: finance (the demo travel policy) and hr (a one-line handbook)."""
    from tests.conftest import DEMO_CORPUS

    (root / "finance").mkdir()
    (root / "hr").mkdir()
    travel = root / "finance" / "travel_expense_policy.md"
    travel.write_text((DEMO_CORPUS / "travel_expense_policy.md").read_text())
    handbook = root / "hr" / "handbook.txt"
    handbook.write_text(HR_TEXT)
    return {"finance": [travel], "hr": [handbook]}


@dataclass
class Served:
    """A running web service and what the test needs to reach into it."""

    url: str
    ctx: WebContext
    home: Path

    @property
    def app(self) -> Any:
        return self.ctx.app

    def events(self, action: str, actor: str) -> list[dict[str, Any]]:
        """Audit events of `action` by `actor`, oldest first."""
        return list(self.app.audit.events("action = :a AND actor = :u", {"a": action, "u": actor}))


@contextmanager
def served_appliance(
    home: Path,
    models: Any,
    corpus: dict[str, list[Path]],
    users: list[tuple[str, str, list[str]]],
    settings: Settings | None = None,
) -> Iterator[Served]:
    """Ingest `corpus` ({collection: paths}), add `users` ((name, role, collections)), serve until the block ends."""
    saved_temp = os.environ.get("GRADIO_TEMP_DIR")
    app = build(settings or Settings(home=home), models)
    server = None
    try:
        for collection, paths in corpus.items():
            report = ingest_paths(app, paths, collection=collection, actor=TESTER)
            assert not report.failed, report.failed
        directory = UserDirectory(app.audit)
        for name, role, collections in users:
            directory.add(name, role, PASSWORD, by=TESTER)
            if collections:
                directory.grant(name, collections, by=TESTER)
        ctx = new_context(app)
        server = RunningServer(ctx)
        yield Served(server.url, ctx, home)
    finally:
        if server is not None:
            server.close()
        app.close()
        if saved_temp is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = saved_temp
