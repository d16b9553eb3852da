"""While a process owns the store and serves the control socket, the CLI's store commands go through it."""

from __future__ import annotations

import getpass
import json
import subprocess
from pathlib import Path

from appliance.cli.control import start_control_server
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


def test_redact_commands_take_values_from_stdin_or_a_file_only(app, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    memo = tmp_path / "memo.txt"
    memo.write_text(  # a sentence where the language model misses the name (test_known_value_propagation.py)
        "On 3 March a sign-in from 203.0.113.9 on the account of Will Hart (SSN 536-22-8190) was blocked "
        "at the Leeds branch.\n"
    )
    server = start_control_server(app, app.settings)
    try:
        assert _cli(home, "ingest", str(memo), "--collection", "ops").returncode == 0
        assert "Will Hart" in json.loads(_cli(home, "docs", "show", str(memo), "--json").stdout)["text"]
        on_command_line = _cli(home, "redact", "add", "Will Hart", "--type", "PERSON", "--collection", "ops")
        assert on_command_line.returncode == 2 and "invalid choice" in on_command_line.stderr

        dry = _cli(
            home,
            "redact",
            "add",
            "-",
            "--type",
            "person",
            "--collection",
            "ops",
            "--dry-run",
            "--json",
            stdin="Anna Quist\n",
        )
        assert dry.returncode == 0, dry.stderr
        assert json.loads(dry.stdout)["documents_re_redacted"] == 0

        directory = tmp_path / "staff.txt"
        directory.write_text("Anna Quist\nWill Hart\n")
        imported = _cli(home, "redact", "import", str(directory), "--type", "PERSON", "--collection", "ops", "--json")
        assert imported.returncode == 0, imported.stderr
        report = json.loads(imported.stdout)
        assert (report["values"], report["documents_re_redacted"], report["occurrences"]) == (2, 1, 1)
        shown = json.loads(_cli(home, "docs", "show", str(memo), "--json").stdout)
        assert "Will Hart" not in shown["text"] and "Leeds branch" in shown["text"]

        removed = _cli(home, "redact", "remove", "-", "--collection", "ops", stdin="Leeds Branch")
        assert removed.returncode == 0, removed.stderr
        bad_type = _cli(home, "redact", "add", "-", "--type", "DATE_TIME", "--collection", "ops", stdin="May 2026")
        assert bad_type.returncode == 2 and "not one of the propagated types" in bad_type.stderr
        for result in (dry, imported, removed, bad_type):
            assert "Hart" not in result.stdout + result.stderr and "Quist" not in result.stdout + result.stderr
        events = [e for e in app.audit.events() if e["action"].startswith("redact.")]
        assert [e["action"] for e in events] == ["redact.add", "redact.import", "redact.remove"]
        assert all("Hart" not in json.dumps(e) and "Quist" not in json.dumps(e) for e in events)
    finally:
        server.close()
