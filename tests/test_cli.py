"""The real `appliance` command: JSON contract, exit codes, one-line errors, no PII in output."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import APPLIANCE_BIN, DEMO_CORPUS, cli_env


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([APPLIANCE_BIN, *args], env=cli_env(home), capture_output=True, text=True, timeout=300)


def test_ingest_docs_list_show_delete_through_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "memo.txt").write_text("Please call Priya Raman on 212-555-0147 before the deadline of 2026-06-30.\n")
    (folder / "broken.pdf").write_bytes(b"this is not a pdf at all")
    (folder / "legacy.doc").write_bytes(b"\xd0\xcf\x11\xe0 old word file")

    result = run(home, "ingest", str(folder), "--json", "--collection", "legal")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"ingested", "unchanged", "failed", "re_redacted", "started_ms", "finished_ms"}
    [doc] = report["ingested"]
    assert {"doc_id", "path", "chunks", "redactions"} <= set(doc)
    assert doc["redactions"] == {"PERSON": 1, "PHONE_NUMBER": 1}
    failed = {Path(f["path"]).name: f["error"] for f in report["failed"]}
    assert "not a PDF" in failed["broken.pdf"]
    assert "unsupported file type .doc" in failed["legacy.doc"]
    for output in (result.stdout, result.stderr):
        assert "Priya" not in output and "555-0147" not in output
    assert "Traceback" not in result.stderr

    listed = json.loads(run(home, "docs", "list", "--json").stdout)
    assert [d["doc_id"] for d in listed] == [doc["doc_id"]]
    shown = run(home, "docs", "show", doc["doc_id"], "--json")
    body = json.loads(shown.stdout)
    assert "2026-06-30" in body["text"] and "Priya" not in body["text"]
    assert all(body["text"][c["start"] : c["end"]] for c in body["chunks"])

    missing = run(home, "docs", "show", "/nope.txt")
    assert missing.returncode == 2 and missing.stderr.startswith("appliance: error: no document")
    assert len(missing.stderr.strip().splitlines()) == 1

    deleted = run(home, "docs", "delete", doc["doc_id"], "--collection", "legal")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(run(home, "docs", "list", "--json").stdout) == []


def test_bad_collection_name_and_bad_settings_are_one_line_errors(tmp_path: Path) -> None:
    home = tmp_path / "home"
    bad_name = run(home, "ingest", str(DEMO_CORPUS / "staff_directory.csv"), "--collection", "../etc")
    assert bad_name.returncode == 2 and "invalid collection name" in bad_name.stderr
    assert len(bad_name.stderr.strip().splitlines()) == 1
    bad_setting = subprocess.run(
        [APPLIANCE_BIN, "docs", "list"],
        env=cli_env(home, APPLIANCE_INGEST__MAX_FILE_MB="lots"),
        capture_output=True,
        text=True,
    )
    assert bad_setting.returncode == 1
    assert "invalid settings: ingest.max_file_mb" in bad_setting.stderr
