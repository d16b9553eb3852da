"""One served appliance for the security tests: a finance and an hr collection, one user per role.

Every test here reproduces one finding of the attack on the running web UI (issue 11) with
real HTTP requests against the real server (and, where the browser matters, real Chromium).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.settings import Settings, WebSettings
from tests.served import Served, finance_and_hr, served_appliance

# A public address (example.com's), so that Gradio's own SSRF filter, which refuses reserved ranges,
# does not hide a fetch: in-process the egress guard blocks and records any attempt, and the served
# subprocess runs under strace, which records one even where no route leads there.
OUTSIDE = "93.184.215.14"


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory, models: Any) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("security")
    corpus = finance_and_hr(root)
    users = [
        ("ada", "admin", []),
        ("ana", "analyst", ["finance"]),
        ("ben", "analyst", ["finance"]),
        ("aud", "auditor", []),
    ]
    # The service sits behind a reverse proxy on 127.0.0.1, so X-Real-IP names the client.
    settings = Settings(home=root / "home", web=WebSettings(trusted_proxies=["127.0.0.1"]))
    with served_appliance(root / "home", models, corpus, users, settings) as served:
        yield served


def hr_source(site: Served) -> str:
    """The server-side path of the hr handbook (the kind of path an attacker would guess)."""
    return next(d.source for d in site.app.catalog.list_active(["hr"]))


def file_data(path: str) -> dict[str, Any]:
    """A Gradio FileData value naming `path`, as a hand-written request would send it."""
    return {"path": path, "orig_name": Path(path).name, "meta": {"_type": "gradio.FileData"}}


def function_index(client: httpx.Client, api_name: str) -> int:
    """The fn_index of one of our events, from the page's own config."""
    config = client.get("/app/config")
    assert config.status_code == 200, config.status_code
    return next(d["id"] for d in config.json()["dependencies"] if d.get("api_name") == api_name)


def upload(client: httpx.Client, name: str, content: bytes) -> str:
    """Upload one file through Gradio's upload route; the server path it was stored at."""
    reply = client.post("/app/gradio_api/upload", files={"files": (name, content)})
    assert reply.status_code == 200, (reply.status_code, reply.text)
    return str(json.loads(reply.text)[0])


def gradio_files(site: Served) -> list[Path]:
    """Every file in Gradio's upload cache under APPLIANCE_HOME/tmp/gradio."""
    return [p for p in site.ctx.gradio_dir.rglob("*") if p.is_file()]
