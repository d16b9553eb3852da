"""Signed export bundles and reviewers' search, with the real key and the real standalone verifier.

The examiner's verifier (deploy/verify_bundle.py) is run from a copy outside the repository,
in isolated mode, to show it needs nothing of the appliance.
"""

from __future__ import annotations

import ast
import base64
import datetime as dt
import hashlib
import json
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.actors import Actor
from appliance.audit import log as audit_log_module
from appliance.audit.chain import BUNDLE_FILES, verify_bundle
from appliance.audit.export import CSV_COLUMNS, export_bundle
from appliance.audit.log import AuditLog, open_audit_log
from appliance.audit.search import AuditFilter, BadFilter, build_filter, search
from appliance.audit.verify import verify_log
from appliance.settings import Settings
from tests.actors import TESTER
from tests.conftest import APPLIANCE_BIN, REPO, cli_env

ALICE = Actor("web:alice", "analyst")
BOB = Actor("web:bob", "auditor")
VERIFIER = REPO / "deploy" / "verify_bundle.py"


def utc_s(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


# (when, actor, action, subject, details); None means "now"
EVENTS = [
    ("2025-01-10T08:00:00", ALICE, "docs.ingest", "contract.pdf", {"collection": "legal", "note": "Invoice batch"}),
    ("2025-01-10T18:00:00", BOB, "ask", None, {"question": "What is the INVOICE total?", "score": 0.5}),
    ("2025-01-11T09:00:00", ALICE, "docs.view", "contract.pdf", {"version": 1}),
    ("2025-01-11T09:00:00", ALICE, "docs.ingest_failed", "scan.tif", {"error": "no text found in the file"}),
    (None, BOB, "docs.delete", "old.txt", {"version": 3, "items": "1000 items"}),
    (None, TESTER, "feedback", "2", {"correction": "100% wrong, see <PERSON_1>", "rating": "down"}),
    (None, ALICE, "ask", None, {"question": "Où est le contrat de <PERSON_2> ?"}),
]


def populate(log: AuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
    """Record EVENTS, each at its own time (the log reads the clock through its module's `time`)."""
    for when, actor, action, subject, details in EVENTS:
        clock = time if when is None else SimpleNamespace(time=lambda when=when: utc_s(when))
        monkeypatch.setattr(audit_log_module, "time", clock)
        log.record(actor, action, subject=subject, details=details)
    monkeypatch.setattr(audit_log_module, "time", time)


@pytest.fixture
def log(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[AuditLog]:
    opened = open_audit_log(settings)
    populate(opened, monkeypatch)
    yield opened
    opened.close()


@pytest.fixture
def key_file(log: AuditLog, tmp_path: Path) -> Path:
    path = tmp_path / "examiner" / "appliance-audit.pem"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(log.signer.public_key_pem)
    return path


@pytest.fixture
def standalone(tmp_path: Path) -> Path:
    """The examiner's copy of the verifier: a plain file in a folder of its own."""
    folder = tmp_path / "examiner-tools"
    folder.mkdir()
    copy = Path(shutil.copy(VERIFIER, folder / "verify_bundle.py"))  # follows the symlink
    assert not copy.is_symlink()
    return copy


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([APPLIANCE_BIN, *args], env=cli_env(home), capture_output=True, text=True, timeout=120)


def run_standalone(script: Path, bundle: Path, key: Path | None) -> subprocess.CompletedProcess[str]:
    """`python -I verify_bundle.py BUNDLE`, logging every import so the test can see what it loaded."""
    args = [sys.executable, "-I", "-X", "importtime", str(script), str(bundle)]
    if key is not None:
        args += ["--public-key", str(key)]
    result = subprocess.run(args, cwd=script.parent, capture_output=True, text=True, timeout=120)
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import")}
    assert "cryptography" in imported
    assert not [m for m in imported if m.split(".")[0] in {"appliance", "ingestion", "ui", "tests"}]
    return result


def members(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rezip(bundle: Path, out: Path, replace: dict[str, bytes]) -> Path:
    """A copy of `bundle` with some members' contents replaced (as someone editing the zip would)."""
    contents = {**members(bundle), **replace}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    return out


def flip_raw_byte(bundle: Path, out: Path, member: str) -> Path:
    """A copy of `bundle` with one bit flipped in the middle of `member`'s stored (compressed) data."""
    data = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as archive:
        info = archive.getinfo(member)
    header = info.header_offset
    start = (
        header
        + 30
        + int.from_bytes(data[header + 26 : header + 28], "little")
        + int.from_bytes(data[header + 28 : header + 30], "little")
    )
    data[start + info.compress_size // 2] ^= 0x10
    out.write_bytes(bytes(data))
    return out


def assert_all_fail(home: Path, script: Path, bundle: Path, key: Path, *words: str) -> None:
    """The library, `appliance audit verify-export` and the standalone script all reject the bundle."""
    report = verify_bundle(str(bundle), key.read_bytes())
    assert not report.ok
    for word in words:
        assert word in (report.problem or ""), report.problem
    cli = run_cli(home, "audit", "verify-export", str(bundle), "--public-key", str(key))
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert cli.stdout.startswith(f"FAILED: {bundle}: "), cli.stdout + cli.stderr
    alone = run_standalone(script, bundle, key)
    assert alone.returncode == 1, alone.stdout + alone.stderr[-2000:]
    assert alone.stdout.startswith(f"FAILED: {bundle}: "), alone.stdout
    assert "Traceback" not in cli.stderr + alone.stderr


# --- search ---------------------------------------------------------------------------------------


def found(log: AuditLog, **filters: str) -> list[tuple[str, str]]:
    return [(e["actor"], e["action"]) for e in search(log, build_filter(**filters))]


def test_search_by_actor_and_by_action_exact_or_prefix(log: AuditLog) -> None:
    assert found(log, actor="web:alice") == [
        ("web:alice", "docs.ingest"),
        ("web:alice", "docs.view"),
        ("web:alice", "docs.ingest_failed"),
        ("web:alice", "ask"),
    ]
    assert found(log, actor="web:ali") == []
    assert found(log, action="docs.ingest") == [("web:alice", "docs.ingest")]
    assert [a for _, a in found(log, action="docs.*")] == [
        "docs.ingest",
        "docs.view",
        "docs.ingest_failed",
        "docs.delete",
    ]
    assert found(log, action="docs.ingest_*") == [("web:alice", "docs.ingest_failed")]  # '_' is literal
    assert found(log, action="ask", actor="web:bob") == [("web:bob", "ask")]


def test_search_by_text_is_case_insensitive_and_literal(log: AuditLog) -> None:
    assert found(log, text="invoice") == [("web:alice", "docs.ingest"), ("web:bob", "ask")]
    assert found(log, text="CONTRACT.PDF") == [("web:alice", "docs.ingest"), ("web:alice", "docs.view")]
    assert found(log, text="100%") == [("test:pytest", "feedback")]  # not "1000 items"
    assert found(log, text="<person_2>") == [("web:alice", "ask")]
    assert found(log, text="contrat de") == [("web:alice", "ask")]


def test_search_by_time_with_dates_and_date_times(log: AuditLog) -> None:
    assert found(log, since="2025-01-10", until="2025-01-10") == [
        ("web:alice", "docs.ingest"),
        ("web:bob", "ask"),
    ]  # a bare date as the upper bound includes that whole day
    assert found(log, since="2025-01-10T12:00Z", until="2025-01-11T09:00:00Z") == [("web:bob", "ask")]
    assert found(log, since="2025-01-11T10:00:00+01:00", until="2025-01-12") == [
        ("web:alice", "docs.view"),
        ("web:alice", "docs.ingest_failed"),
    ]
    assert len(found(log, since="2025-01-12")) == 3
    assert len(found(log, until="2025-01-11T08:59:59.999")) == 2  # naive means UTC
    with pytest.raises(BadFilter, match="not an ISO date"):
        build_filter(since="10/01/2025")


def test_search_through_the_cli_as_json_and_as_lines(log: AuditLog, settings: Settings) -> None:
    result = run_cli(settings.home, "audit", "search", "--action", "docs.*", "--since", "2025-01-11", "--json")
    assert result.returncode == 0, result.stderr
    events = json.loads(result.stdout)
    assert [(e["seq"], e["action"], e["subject"]) for e in events] == [
        (3, "docs.view", "contract.pdf"),
        (4, "docs.ingest_failed", "scan.tif"),
        (5, "docs.delete", "old.txt"),
    ]
    assert set(events[0]) == {"seq", "ts_ms", "actor", "role", "action", "subject", "details", "prev_hash", "hash"}
    assert events[0]["details"] == {"version": 1}
    assert events[0]["ts_ms"] == int(utc_s("2025-01-11T09:00:00") * 1000)

    text = run_cli(settings.home, "audit", "search", "--text", "INVOICE", "--actor", "web:bob", "--json")
    assert [e["details"]["score"] for e in json.loads(text.stdout)] == ["0.5"]  # floats are kept as strings

    lines = run_cli(settings.home, "audit", "search", "--actor", "web:alice")
    assert lines.returncode == 0
    assert lines.stdout.splitlines()[0].split() == [
        "1",
        "2025-01-10T08:00:00.000Z",
        "web:alice",
        "(analyst)",
        "docs.ingest",
        "contract.pdf",
    ]
    assert lines.stdout.splitlines()[-1] == "4 events"

    bad = run_cli(settings.home, "audit", "search", "--since", "yesterday")
    assert bad.returncode == 2 and "'yesterday' is not an ISO date" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


# --- export: round trips --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected_seqs"),
    [
        ({}, [1, 2, 3, 4, 5, 6, 7]),
        ({"actor": "web:alice"}, [1, 3, 4, 7]),
        ({"action": "docs.*"}, [1, 3, 4, 5]),
        ({"since": "2025-01-11"}, [3, 4, 5, 6, 7]),
        ({"actor": "web:bob", "until": "2025-01-10"}, [2]),
        ({"actor": "nobody"}, []),
    ],
)
def test_export_round_trip_with_and_without_filters(
    log: AuditLog, tmp_path: Path, filters: dict[str, str], expected_seqs: list[int]
) -> None:
    out = tmp_path / "out" / "bundle.zip"
    summary = export_bundle(log, out, build_filter(**filters), TESTER)
    assert (summary.events, summary.head_seq) == (len(expected_seqs), 7)
    report = verify_bundle(str(out), log.signer.public_key_pem)
    assert report.ok, report.problem
    assert report.events == len(expected_seqs) and report.key_source == "given key"

    contents = members(out)
    assert set(contents) == {*BUNDLE_FILES, "manifest.json", "manifest.sig"}
    events = [json.loads(line) for line in contents["events.jsonl"].splitlines()]
    assert [e["seq"] for e in events] == expected_seqs
    originals = {e["seq"]: e for e in log.events()}
    assert all(e == originals[e["seq"]] for e in events)
    rows = contents["events.csv"].decode().splitlines()
    assert rows[0].split(",") == list(CSV_COLUMNS) and len(rows) == 1 + len(expected_seqs)
    chain = [json.loads(line)["seq"] for line in contents["chain.jsonl"].splitlines()]
    assert chain == list(range(expected_seqs[0] if expected_seqs else 7, 8))  # filtered-out events still show
    manifest = json.loads(contents["manifest.json"])
    assert manifest["events"]["count"] == len(expected_seqs)
    assert manifest["chain"]["head_seq"] == 7 and manifest["chain"]["head_hash"] == originals[7]["hash"]
    assert contents["public_key.pem"] == log.signer.public_key_pem
    assert not list(out.parent.glob(".*partial"))


def test_the_export_is_itself_audited_with_the_bundle_sha256(log: AuditLog, tmp_path: Path) -> None:
    out = tmp_path / "bundle.zip"
    summary = export_bundle(log, out, build_filter(actor="web:alice"), BOB)
    [event] = log.events("action = 'audit.export'")
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert summary.sha256 == digest
    assert (event["seq"], event["actor"], event["role"], event["subject"]) == (8, BOB.name, BOB.role, "bundle.zip")
    assert event["details"]["bundle_sha256"] == digest
    assert event["details"]["filters"] == {"actor": "web:alice"}
    assert (event["details"]["events"], event["details"]["first_seq"], event["details"]["last_seq"]) == (4, 1, 7)
    assert verify_log(log).ok
    second = export_bundle(log, tmp_path / "again.zip", AuditFilter(), BOB)
    assert second.head_seq == 8 and verify_bundle(str(second.path), log.signer.public_key_pem).ok


def test_cli_public_key_export_and_verify_export_and_the_standalone_script(
    log: AuditLog, settings: Settings, tmp_path: Path, standalone: Path
) -> None:
    home = settings.home
    shown = run_cli(home, "audit", "public-key")
    assert shown.returncode == 0 and shown.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    key = tmp_path / "key.pem"
    key.write_text(shown.stdout)  # obtained separately from the bundle
    assert key.read_bytes() == log.signer.public_key_pem

    bundle = tmp_path / "exports" / "alice.zip"
    exported = run_cli(home, "audit", "export", "--out", str(bundle), "--actor", "web:alice", "--since", "2025-01-11")
    assert exported.returncode == 0, exported.stderr
    assert "exported 3 events (seq 3..7), chain head 7" in exported.stdout
    assert f"bundle sha256 {hashlib.sha256(bundle.read_bytes()).hexdigest()}" in exported.stdout
    [event] = log.events("action = 'audit.export'")
    assert event["actor"].startswith("os:") and event["details"]["filters"]["actor"] == "web:alice"

    checked = run_cli(home, "audit", "verify-export", str(bundle), "--public-key", str(key))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith(f"OK: {bundle}: signature valid (given key)")
    assert "WARNING" not in checked.stdout
    unkeyed = run_cli(home, "audit", "verify-export", str(bundle))
    assert unkeyed.returncode == 0 and "WARNING: checked against the key inside the bundle" in unkeyed.stdout

    alone = run_standalone(standalone, bundle, key)
    assert alone.returncode == 0, alone.stdout + alone.stderr[-2000:]
    assert alone.stdout.startswith(f"OK: {bundle}: signature valid (given key)")
    assert "3 events (seq 3..7) hash-checked" in alone.stdout
    assert "WARNING" in run_standalone(standalone, bundle, None).stdout

    missing = run_cli(home, "audit", "verify-export", str(tmp_path / "nope.zip"))
    assert missing.returncode == 2 and "no such bundle" in missing.stderr


def test_the_standalone_verifier_imports_only_the_standard_library_and_cryptography() -> None:
    assert VERIFIER.is_symlink() and VERIFIER.resolve() == REPO / "appliance" / "audit" / "chain.py"
    tree = ast.parse(VERIFIER.read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative imports would tie the script to the package"
            imported.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            pytest.fail("dynamic imports hide what the script needs")
    assert "cryptography" in imported
    assert {m for m in imported if m not in sys.stdlib_module_names} == {"cryptography"}


# --- export: tampering -----------------------------------------------------------------------------


@pytest.fixture
def bundle(log: AuditLog, tmp_path: Path) -> Path:
    out = tmp_path / "genuine.zip"
    export_bundle(log, out, AuditFilter(), TESTER)
    return out


def test_a_changed_byte_in_a_members_data_fails(
    bundle: Path, key_file: Path, settings: Settings, tmp_path: Path, standalone: Path
) -> None:
    data = bytearray(members(bundle)["events.jsonl"])
    data[data.index(b"web:bob") + 4] ^= 0x01  # web:bob -> web:cob
    edited = rezip(bundle, tmp_path / "edited.zip", {"events.jsonl": bytes(data)})
    assert_all_fail(settings.home, standalone, edited, key_file, "events.jsonl does not match the sha256")


def test_a_flipped_bit_in_the_compressed_zip_fails(
    bundle: Path, key_file: Path, settings: Settings, tmp_path: Path, standalone: Path
) -> None:
    for member in ("events.jsonl", "chain.jsonl", "manifest.json"):
        assert_all_fail(
            settings.home, standalone, flip_raw_byte(bundle, tmp_path / f"flip-{member}.zip", member), key_file
        )


def test_a_changed_manifest_fails_its_signature(
    bundle: Path, key_file: Path, settings: Settings, tmp_path: Path, standalone: Path
) -> None:
    manifest = members(bundle)["manifest.json"]
    edited = manifest.replace(b'"count": 7', b'"count": 6')
    assert edited != manifest
    bad = rezip(bundle, tmp_path / "manifest.zip", {"manifest.json": edited})
    assert_all_fail(settings.home, standalone, bad, key_file, "manifest signature is not valid")


def test_a_bundle_checked_against_another_key_fails(
    bundle: Path, settings: Settings, tmp_path: Path, standalone: Path
) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert_all_fail(settings.home, standalone, bundle, other, "signature is not valid for the given key")


def test_an_event_removed_and_the_manifest_re_signed_by_an_attacker_fails_with_the_genuine_key(
    bundle: Path, key_file: Path, settings: Settings, tmp_path: Path, standalone: Path
) -> None:
    contents = members(bundle)
    lines = contents["events.jsonl"].splitlines(keepends=True)
    assert b'"docs.delete"' in lines[4]
    events = b"".join(lines[:4] + lines[5:])
    attacker = Ed25519PrivateKey.generate()
    attacker_pem = attacker.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    manifest = json.loads(contents["manifest.json"])
    manifest["events"]["count"] = 6
    manifest["files"]["events.jsonl"] = hashlib.sha256(events).hexdigest()
    manifest["files"]["public_key.pem"] = hashlib.sha256(attacker_pem).hexdigest()
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
    forged = rezip(
        bundle,
        tmp_path / "forged.zip",
        {
            "events.jsonl": events,
            "public_key.pem": attacker_pem,
            "manifest.json": manifest_bytes,
            "manifest.sig": base64.b64encode(attacker.sign(manifest_bytes)),
        },
    )
    assert_all_fail(settings.home, standalone, forged, key_file, "manifest signature is not valid")
    # Against the key inside the bundle it passes: why an examiner must obtain the key separately.
    trusting = verify_bundle(str(forged))
    assert trusting.ok and trusting.key_source == "key inside the bundle (not independent)"


# --- export: attachments (a tabular decision's plot rides beside its event) ------------------------


def note_for_deletions(event: Any) -> list[tuple[str, bytes]]:
    return [("note.txt", f"about event {event['seq']}".encode())] if event["action"] == "docs.delete" else []


def test_attachments_are_listed_and_hashed_in_the_signed_manifest_and_tampering_with_them_fails(
    log: AuditLog, key_file: Path, settings: Settings, tmp_path: Path, standalone: Path
) -> None:
    out = tmp_path / "attached.zip"
    summary = export_bundle(log, out, AuditFilter(), TESTER, note_for_deletions)
    contents = members(out)
    [deleted] = [e["seq"] for e in log.events("action = 'docs.delete'")]
    name = f"attachments/{deleted}/note.txt"
    assert summary.attachments == 1 and contents[name] == f"about event {deleted}".encode()
    manifest = json.loads(contents["manifest.json"])
    assert manifest["attachments"] == {name: deleted}
    assert manifest["files"][name] == hashlib.sha256(contents[name]).hexdigest()
    report = verify_bundle(str(out), key_file.read_bytes())
    assert report.ok and report.attachments == 1, report.problem
    alone = run_standalone(standalone, out, key_file)
    assert alone.returncode == 0 and "1 attachments hash-checked" in alone.stdout, alone.stdout
    edited = rezip(out, tmp_path / "edited.zip", {name: b"a different picture"})
    assert_all_fail(settings.home, standalone, edited, key_file, name, "does not match the sha256")
    extra = rezip(out, tmp_path / "extra.zip", {"attachments/1/unsigned.png": b"slipped in"})
    assert_all_fail(settings.home, standalone, extra, key_file, "attachments/1/unsigned.png is not listed")
    kept = {n: d for n, d in contents.items() if n != name}
    removed = tmp_path / "removed.zip"
    with zipfile.ZipFile(removed, "w") as archive:
        for member_name, data in kept.items():
            archive.writestr(member_name, data)
    assert_all_fail(settings.home, standalone, removed, key_file, name, "missing from the bundle")
