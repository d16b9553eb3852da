"""A plain HTTP client for the web UI (scripts, tests, the load benchmark): sign in through our form, call events by API name."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from appliance.access.sessions import COOKIE_NAME


def sign_in(base: str, name: str, password: str) -> httpx.Client:
    """A client holding the session cookie of `name` (raises if signing in fails)."""
    client = httpx.Client(base_url=base, timeout=120, follow_redirects=False)
    form = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    if not csrf:
        client.close()
        raise RuntimeError(f"no sign-in form at {base}/login")
    reply = client.post("/login", data={"name": name, "password": password, "csrf": csrf.group(1)})
    if reply.status_code != 303 or reply.headers["location"] != "/app/" or COOKIE_NAME not in client.cookies:
        client.close()
        raise PermissionError(f"sign-in failed for {name}: {reply.status_code} {reply.headers.get('location', '')}")
    return client


def call(client: httpx.Client, api_name: str, data: list[Any]) -> tuple[str, Any]:
    """Call a Gradio event by its API name; ('complete', outputs) or ('error', message)."""
    updates = stream(client, api_name, data)
    return updates[-1] if updates else ("", None)


def stream(client: httpx.Client, api_name: str, data: list[Any]) -> list[tuple[str, Any]]:
    """Every update of a Gradio event called by API name: ('generating', outputs)... then 'complete' or 'error'."""
    started = client.post(f"/app/gradio_api/call/{api_name}", json={"data": data})
    if started.status_code != 200:
        return [("http", started.status_code)]
    event_id = started.json()["event_id"]
    kind, updates = "", []
    with client.stream("GET", f"/app/gradio_api/call/{api_name}/{event_id}") as response:
        for line in response.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                updates.append((kind, json.loads(line.split(":", 1)[1].strip() or "null")))
                if kind in ("complete", "error"):
                    break
    return updates
