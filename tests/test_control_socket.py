"""While a process owns the store and serves the control socket, the CLI's store commands go through it."""

from __future__ import annotations

import getpass
import json
import subprocess
from pathlib import Path

from appliance.control import start_control_server
from tests.conftest import APPLIANCE_BIN, cli_env


def _cli(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [APPLIANCE_BIN, *args], input=stdin, env=cli_env(home), capture_output=True, text=True, timeout=300
    )


def test_store_commands_run_in_the_owning_process(app, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    note = tmp_path / "memo.txt"
    note.write_text("The courier service delivers parcels to the harbour office every Tuesday morning.\n")
    server = start_control_server(app, app.settings)
    try:
        assert (home / "control.sock").stat().st_mode & 0o777 == 0o600
        ingested = _cli(home, "ingest", str(note), "--collection", "ops", "--json")
        assert ingested.returncode == 0, ingested.stderr
        assert json.loads(ingested.stdout)["ingested"][0]["chunks"] >= 1
        listed = _cli(home, "docs", "list", "--json")
        assert [d["doc_id"] for d in json.loads(listed.stdout)] == [str(note)]
        answer = json.loads(_cli(home, "ask", "When are parcels delivered?", "--collection", "ops", "--json").stdout)
        assert any("Tuesday" in c["quote"] for c in answer["citations"]), answer
        missing = _cli(home, "docs", "show", "nope")
        assert missing.returncode == 2 and "no document 'nope'" in missing.stderr
        users = _cli(home, "users", "add", "ana", "--role", "analyst", "--password-stdin", stdin="x" * 16)
        assert users.returncode == 0, users.stderr  # the appliance database needs no socket
        # Every command acted as the caller's OS login (from the kernel), role operator, and was audited.
        events = [e for e in app.audit.events() if e["action"] in {"docs.ingest", "ask", "docs.view"}]
        assert {e["action"] for e in events} == {"docs.ingest", "ask"}
        assert {(e["actor"], e["role"]) for e in events} == {(f"os:{getpass.getuser()}", "operator")}
    finally:
        server.close()
    assert not (home / "control.sock").exists()
    refused = _cli(home, "docs", "list")
    assert (
        refused.returncode != 0 and "in use by another appliance process" in refused.stderr
    )  # no socket: the owner keeps it
