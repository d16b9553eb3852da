"""The hash-chained audit log on a real SQLite database with the real signing key.

Tampering is done the way an intruder would: raw sqlite3 edits of the database file and
edits of the checkpoint files, never through our own code.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import inspect
from sqlmodel import SQLModel

from appliance.actors import Actor
from appliance.audit import log as audit_log_module
from appliance.audit.chain import GENESIS_HASH, canonical_bytes, event_hash
from appliance.audit.log import AuditLog, open_audit_log
from appliance.audit.retention import purge_expired
from appliance.audit.verify import verify_log
from appliance.db import models as db_models
from appliance.db.engine import open_engine, sqlite_url
from appliance.db.migrations import MIGRATIONS, migrate
from appliance.settings import Settings
from tests.actors import TESTER
from tests.conftest import APPLIANCE_BIN, cli_env

DAY_S = 86_400
ALICE = Actor("web:alice", "analyst")
BOB = Actor("web:bob", "auditor")


@pytest.fixture
def log(settings: Settings) -> Iterator[AuditLog]:
    opened = open_audit_log(settings)
    yield opened
    opened.close()


def db_file(settings: Settings) -> Path:
    return settings.home / "appliance.sqlite3"


def checkpoint_file(settings: Settings) -> Path:
    return settings.home / "audit" / "checkpoint.json"


def raw(settings: Settings, *statements: tuple[str, tuple]) -> None:
    """Run statements on the database file directly, as someone with file access would."""
    conn = sqlite3.connect(db_file(settings), isolation_level=None, timeout=10)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for sql, params in statements:
            conn.execute(sql, params)
        conn.execute("COMMIT")
    finally:
        conn.close()


def raw_rows(settings: Settings) -> list[tuple]:
    conn = sqlite3.connect(db_file(settings), timeout=10)
    try:
        return conn.execute(
            "SELECT seq, ts_ms, actor, role, action, subject, details, prev_hash, hash FROM audit_events ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()


def record_many(log: AuditLog, count: int) -> None:
    actors = (TESTER, ALICE, BOB)
    actions = ("docs.ingest", "ask", "docs.view", "feedback")
    for i in range(count):
        log.record(
            actors[i % 3],
            actions[i % 4],
            subject=f"doc-{i}" if i % 2 else None,
            details={"n": i, "question": f"question {i} über <PERSON_1>", "nested": {"list": [i, "x"]}},
        )


def run_cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([APPLIANCE_BIN, *args], env=cli_env(home, **env), capture_output=True, text=True, timeout=120)


def assert_tampered(log: AuditLog, bad_seq: int | None, *words: str) -> None:
    result = verify_log(log)
    assert not result.ok, result.to_json()
    assert result.chain.bad_seq == bad_seq, result.chain.problem
    for word in words:
        assert word in (result.chain.problem or ""), result.chain.problem


# --- schema and migrations ---------------------------------------------------------------


def declared_tables() -> list:
    """Every table db_models declares with sqlmodel (audit events, the migration ledger, users...)."""
    return [
        model.__table__
        for model in vars(db_models).values()
        if isinstance(model, type) and issubclass(model, SQLModel) and hasattr(model, "__table__")
    ]


def test_a_blank_database_migrates_to_the_sqlmodel_schema_and_migrating_again_applies_nothing(
    tmp_path: Path,
) -> None:
    engine = open_engine(sqlite_url(tmp_path / "blank.sqlite3"))
    try:
        assert migrate(engine) == [number for number, _, _ in MIGRATIONS]
        assert migrate(engine) == []
        inspector = inspect(engine)
        tables = declared_tables()
        assert {"audit_events", "appliance_schema_migrations"} <= {t.name for t in tables}
        assert set(inspector.get_table_names()) == {t.name for t in tables}
        for table in tables:
            reflected = {c["name"]: c for c in inspector.get_columns(table.name)}
            assert list(reflected) == [c.name for c in table.columns], table.name
            for column in table.columns:
                found = reflected[column.name]
                where = f"{table.name}.{column.name}"
                assert str(found["type"]) == column.type.compile(dialect=engine.dialect), where
                assert found["nullable"] == column.nullable, where
            primary = inspector.get_pk_constraint(table.name)["constrained_columns"]
            assert primary == [c.name for c in table.primary_key.columns], table.name
            indexes = {(i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table.name)}
            assert indexes == {(i.name, tuple(c.name for c in i.columns)) for i in table.indexes}, table.name
            unique = {tuple(u["column_names"]) for u in inspector.get_unique_constraints(table.name)}
            assert unique == {(c.name,) for c in table.columns if c.unique}, table.name
            foreign = {
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in inspector.get_foreign_keys(table.name)
            }
            assert foreign == {
                (tuple(f.column_keys), f.referred_table.name, tuple(e.column.name for e in f.elements))
                for f in table.foreign_key_constraints
            }, table.name
        with engine.connect() as conn:
            ledger = conn.exec_driver_sql("SELECT version, name FROM appliance_schema_migrations ORDER BY version")
            assert [tuple(row) for row in ledger] == [(number, name) for number, name, _ in MIGRATIONS]
    finally:
        engine.dispose()


def test_opening_the_log_twice_keeps_the_events(settings: Settings) -> None:
    first = open_audit_log(settings)
    first.record(TESTER, "ask", details={"question": "q"})
    first.close()
    second = open_audit_log(settings)
    try:
        assert [e["seq"] for e in second.events()] == [1]
        assert verify_log(second).ok
    finally:
        second.close()


# --- an untouched chain ---------------------------------------------------------------------


def test_many_events_verify_and_each_links_to_the_one_before(log: AuditLog, settings: Settings) -> None:
    record_many(log, 60)
    result = verify_log(log)
    assert result.ok, result.to_json()
    assert (result.chain.events, result.chain.first_seq, result.chain.last_seq) == (60, 1, 60)
    events = list(log.events())
    assert events[0]["prev_hash"] == GENESIS_HASH
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(events))
    assert result.checkpoint is not None and (result.checkpoint.seq, result.checkpoint.hash) == (60, events[-1]["hash"])
    assert result.chain.head_hash == events[-1]["hash"]
    stored = json.loads(checkpoint_file(settings).read_text())
    assert stored["seq"] == 60 and stored["hash"] == events[-1]["hash"]


def test_an_empty_log_verifies(log: AuditLog) -> None:
    result = verify_log(log)
    assert result.ok and result.chain.events == 0


def test_the_event_hash_is_sha256_of_the_documented_canonical_json(log: AuditLog, settings: Settings) -> None:
    log.record(ALICE, "docs.view", subject="memo.txt", details={"version": 2, "collection": "légal"})
    [(_, ts_ms, *_, details, _, hash_)] = raw_rows(settings)
    assert details == '{"collection":"légal","version":2}'
    written_out = (
        f'{{"action":"docs.view","actor":"web:alice","details":{{"collection":"légal","version":2}},'
        f'"prev_hash":"{GENESIS_HASH}","role":"analyst","seq":1,"subject":"memo.txt","ts_ms":{ts_ms}}}'
    )
    assert hash_ == hashlib.sha256(written_out.encode("utf-8")).hexdigest()
    assert abs(ts_ms - time.time() * 1000) < 60_000


# --- tampering, each caught ---------------------------------------------------------------


def test_an_edited_details_field_names_the_event(log: AuditLog, settings: Settings) -> None:
    record_many(log, 12)
    raw(settings, ("UPDATE audit_events SET details = ? WHERE seq = 5", ('{"n":4,"question":"nothing to see"}',)))
    assert_tampered(log, 5, "event 5 was altered")


def test_an_edit_with_the_hash_recomputed_is_caught_at_the_next_link(log: AuditLog, settings: Settings) -> None:
    record_many(log, 12)
    event = next(log.events("seq = 5"))
    event["details"] = {"n": 4, "question": "rewritten"}
    forged_hash = event_hash(event)
    raw(
        settings,
        (
            "UPDATE audit_events SET details = ?, hash = ? WHERE seq = 5",
            (canonical_bytes(event["details"]).decode(), forged_hash),
        ),
    )
    assert_tampered(log, 6, "does not link")


def test_a_chain_rewritten_from_the_middle_with_every_hash_and_link_recomputed_is_caught(
    log: AuditLog, settings: Settings
) -> None:
    """The chain alone holds together after such a rewrite; only the signed checkpoint can tell."""
    record_many(log, 12)
    previous_hash = next(log.events("seq = 4"))["hash"]
    statements = []
    for event in log.events("seq >= 5"):
        event["details"] = {**event["details"], "question": "rewritten"}
        event["prev_hash"] = previous_hash
        event["hash"] = previous_hash = event_hash(event)
        statements.append(
            (
                "UPDATE audit_events SET details = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (canonical_bytes(event["details"]).decode(), event["prev_hash"], event["hash"], event["seq"]),
            )
        )
    raw(settings, *statements)
    from appliance.audit.chain import check_events

    assert check_events(log.events(parse=False)).ok  # the rewritten chain links up
    assert_tampered(log, 12, "differs from the signed checkpoint")


def test_a_deleted_middle_event_is_caught(log: AuditLog, settings: Settings) -> None:
    record_many(log, 12)
    raw(settings, ("DELETE FROM audit_events WHERE seq = 7", ()))
    assert_tampered(log, 7, "missing")


def test_a_forged_event_inserted_with_later_events_renumbered_is_caught(log: AuditLog, settings: Settings) -> None:
    record_many(log, 12)
    previous = next(log.events("seq = 4"))
    forged = {
        "seq": 5,
        "ts_ms": previous["ts_ms"] + 1,
        "actor": ALICE.name,
        "role": ALICE.role,
        "action": "docs.view",
        "subject": "secret.pdf",
        "details": {},
        "prev_hash": previous["hash"],
    }
    forged["hash"] = event_hash(forged)  # the forger computes a valid hash and link for the new row
    raw(
        settings,
        ("UPDATE audit_events SET seq = -seq WHERE seq >= 5", ()),
        ("UPDATE audit_events SET seq = 1 - seq WHERE seq < 0", ()),
        (
            "INSERT INTO audit_events (seq, ts_ms, actor, role, action, subject, details, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                *[forged[k] for k in ("seq", "ts_ms", "actor", "role", "action", "subject")],
                "{}",
                *[forged[k] for k in ("prev_hash", "hash")],
            ),
        ),
    )
    assert [row[0] for row in raw_rows(settings)] == list(range(1, 14))
    assert_tampered(log, 6, "does not link")


def test_two_events_swapped_are_caught(log: AuditLog, settings: Settings) -> None:
    record_many(log, 12)
    rows = {row[0]: row for row in raw_rows(settings)}
    insert = (
        "INSERT INTO audit_events (seq, ts_ms, actor, role, action, subject, details, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    raw(
        settings,
        ("DELETE FROM audit_events WHERE seq IN (3, 6)", ()),
        (insert, (3, *rows[6][1:])),
        (insert, (6, *rows[3][1:])),
    )
    assert [row[4:] for row in raw_rows(settings) if row[0] == 3] == [rows[6][4:]]
    assert_tampered(log, 3, "does not link")


def test_events_cut_off_the_end_are_caught_by_the_signed_checkpoint(log: AuditLog, settings: Settings) -> None:
    record_many(log, 12)
    raw(settings, ("DELETE FROM audit_events WHERE seq > 9", ()))
    assert_tampered(log, 10, "events 10..12 are missing", "signed checkpoint")


def test_a_deleted_checkpoint_file_fails_while_events_exist(log: AuditLog, settings: Settings) -> None:
    record_many(log, 3)
    checkpoint_file(settings).unlink()
    assert_tampered(log, None, "no signed checkpoint")


def test_an_edited_checkpoint_file_has_an_invalid_signature(log: AuditLog, settings: Settings) -> None:
    record_many(log, 8)
    raw(settings, ("DELETE FROM audit_events WHERE seq > 5", ()))
    stored = json.loads(checkpoint_file(settings).read_text())
    head = next(log.events("seq = 5"))
    stored.update(seq=5, hash=head["hash"])  # hide the cut, keeping the old signature
    checkpoint_file(settings).write_text(json.dumps(stored))
    assert_tampered(log, None, "checkpoint file signature is not valid")


def test_a_garbled_checkpoint_file_is_reported_not_raised(log: AuditLog, settings: Settings) -> None:
    record_many(log, 2)
    checkpoint_file(settings).write_text("{not json")
    assert_tampered(log, None, "unreadable")


# --- the command line -------------------------------------------------------------------------


def test_cli_verify_exits_0_on_an_untouched_log_and_1_naming_the_first_bad_event(
    log: AuditLog, settings: Settings
) -> None:
    record_many(log, 10)
    untouched = run_cli(settings.home, "audit", "verify")
    assert untouched.returncode == 0, untouched.stdout + untouched.stderr
    assert untouched.stdout.startswith("OK: 10 events (seq 1..10)")

    raw(settings, ("UPDATE audit_events SET actor = 'web:mallory' WHERE seq = 4", ()))
    tampered = run_cli(settings.home, "audit", "verify")
    assert tampered.returncode == 1
    assert tampered.stdout.startswith("TAMPERED: event 4 was altered")
    assert "(first bad event: 4)" in tampered.stdout
    as_json = run_cli(settings.home, "audit", "verify", "--json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and report["first_bad_seq"] == 4 and report["events"] == 3


# --- the canonical form -----------------------------------------------------------------------


def test_canonical_bytes_are_rfc_8785() -> None:
    sample = {
        "name": "Zoë Ångström",
        "city": "東京",
        "emoji": "😀",
        "esc": 'quote" back\\ tab\t ctl\x1f del\x7f',
        "n": 1700000000123,
        "neg": -42,
        "ok": True,
        "none": None,
        "nested": {"b": [1, -2, {"z": 0, "a": "é"}], "a": {}, "c": []},
    }
    # Output of the rfc8785 reference package (JCS) for the same value, written out byte by byte.
    expected = (
        b'{"city":"\xe6\x9d\xb1\xe4\xba\xac","emoji":"\xf0\x9f\x98\x80",'
        b'"esc":"quote\\" back\\\\ tab\\t ctl\\u001f del\x7f","n":1700000000123,'
        b'"name":"Zo\xc3\xab \xc3\x85ngstr\xc3\xb6m","neg":-42,'
        b'"nested":{"a":{},"b":[1,-2,{"a":"\xc3\xa9","z":0}],"c":[]},"none":null,"ok":true}'
    )
    assert canonical_bytes(sample) == expected


def test_floats_and_unsafe_integers_are_stored_as_strings(log: AuditLog, settings: Settings) -> None:
    log.record(
        TESTER,
        "ask",
        details={"score": 0.1, "timings": {"total": 12.5}, "scores": [1.0, 2], "big": 2**60, "ok": True},
    )
    [row] = raw_rows(settings)
    assert row[6] == (
        '{"big":"1152921504606846976","ok":true,"score":"0.1","scores":["1.0",2],"timings":{"total":"12.5"}}'
    )
    assert verify_log(log).ok


# --- retention ----------------------------------------------------------------------------------


def record_at(monkeypatch: pytest.MonkeyPatch, log: AuditLog, when_s: float, count: int, action: str) -> None:
    """Record events as if the clock said `when_s` (the log reads time through its module's `time`)."""
    monkeypatch.setattr(audit_log_module, "time", SimpleNamespace(time=lambda: when_s))
    try:
        for i in range(count):
            log.record(TESTER, action, details={"i": i})
    finally:
        monkeypatch.setattr(audit_log_module, "time", time)


@pytest.fixture
def purged(log: AuditLog, monkeypatch: pytest.MonkeyPatch) -> AuditLog:
    """Five events 400 days old, three recent ones, a purge at 365 days, one event after it."""
    record_at(monkeypatch, log, time.time() - 400 * DAY_S, 5, "old")
    log.record(TESTER, "recent")
    log.record(TESTER, "recent")
    log.record(TESTER, "recent")
    last_old = next(log.events("seq = 5"))
    result = purge_expired(log, 365, TESTER)
    assert (result.purged, result.through_seq, result.event.seq) == (5, 5, 9)
    [purge] = log.events("seq = 9")
    assert purge["action"] == "audit.purge"
    assert purge["details"]["through_seq"] == 5 and purge["details"]["through_hash"] == last_old["hash"]
    assert purge["details"]["retention_days"] == 365
    log.record(TESTER, "after purge")
    return log


def test_purge_removes_expired_events_and_the_rest_still_verifies(purged: AuditLog) -> None:
    assert [e["action"] for e in purged.events()] == ["recent"] * 3 + ["audit.purge", "after purge"]
    result = verify_log(purged)
    assert result.ok, result.to_json()
    assert (result.chain.first_seq, result.chain.last_seq) == (6, 10)


def test_purge_with_nothing_expired_removes_nothing(log: AuditLog) -> None:
    record_many(log, 3)
    result = purge_expired(log, 30, TESTER)
    assert (result.purged, result.through_seq) == (0, None)
    assert verify_log(log).ok


def test_a_deleted_purge_event_fails_verification(purged: AuditLog, settings: Settings) -> None:
    raw(settings, ("DELETE FROM audit_events WHERE seq = 9", ()))
    assert_tampered(purged, 9, "missing")


def test_an_edited_purge_event_fails_verification(purged: AuditLog, settings: Settings) -> None:
    [row] = [r for r in raw_rows(settings) if r[0] == 9]
    raw(settings, ("UPDATE audit_events SET details = ? WHERE seq = 9", (row[6].replace('"purged":5', '"purged":0'),)))
    assert_tampered(purged, 9, "event 9 was altered")


def test_a_deleted_purge_event_and_its_successor_together_still_fail(purged: AuditLog, settings: Settings) -> None:
    raw(settings, ("DELETE FROM audit_events WHERE seq >= 9", ()))
    assert not verify_log(purged).ok


def test_oldest_events_deleted_without_a_purge_fail(log: AuditLog, settings: Settings) -> None:
    record_many(log, 10)
    raw(settings, ("DELETE FROM audit_events WHERE seq <= 3", ()))
    assert_tampered(log, 4, "no audit.purge event records their removal")


def test_oldest_events_deleted_behind_a_forged_purge_event_fail(log: AuditLog, settings: Settings) -> None:
    """Anyone can append a well-hashed event; only a purge the signed checkpoint covers may anchor the start."""
    record_many(log, 10)
    cut = next(log.events("seq = 3"))
    head = next(log.events("seq = 10"))
    forged = {
        "seq": 11,
        "ts_ms": head["ts_ms"] + 1,
        "actor": TESTER.name,
        "role": TESTER.role,
        "action": "audit.purge",
        "subject": None,
        "details": {"through_seq": 3, "through_hash": cut["hash"]},
        "prev_hash": head["hash"],
    }
    forged["hash"] = event_hash(forged)
    raw(
        settings,
        ("DELETE FROM audit_events WHERE seq <= 3", ()),
        (
            "INSERT INTO audit_events (seq, ts_ms, actor, role, action, subject, details, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                11,
                forged["ts_ms"],
                TESTER.name,
                TESTER.role,
                "audit.purge",
                None,
                canonical_bytes(forged["details"]).decode(),
                head["hash"],
                forged["hash"],
            ),
        ),
    )
    assert_tampered(log, 11, "not covered by a signed checkpoint")


def test_cli_purge_is_audited_and_the_log_still_verifies(
    log: AuditLog, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_at(monkeypatch, log, time.time() - 100 * DAY_S, 4, "old")
    log.record(TESTER, "recent")
    no_period = run_cli(settings.home, "audit", "purge")
    assert no_period.returncode == 2 and "retention" in no_period.stderr
    done = run_cli(settings.home, "audit", "purge", "--days", "90")
    assert done.returncode == 0, done.stderr
    assert "purged 4 events" in done.stdout
    [purge] = log.events("action = 'audit.purge'")
    assert purge["actor"].startswith("os:") and purge["role"] == "operator"
    assert run_cli(settings.home, "audit", "verify").returncode == 0


# --- the checkpoint copy (mirror) ----------------------------------------------------------------


def test_each_checkpoint_is_appended_to_the_copy_and_the_copy_catches_a_rolled_back_checkpoint(
    tmp_path: Path, home: Path
) -> None:
    mirror = tmp_path / "worm" / "checkpoints.log"
    mirror.parent.mkdir()
    settings = Settings(home=home, audit={"checkpoint_copy": str(mirror)})
    log = open_audit_log(settings)
    try:
        record_many(log, 5)
        lines = [json.loads(line) for line in mirror.read_text().splitlines()]
        assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5]
        heads = [e["hash"] for e in log.events()]
        assert [line["hash"] for line in lines] == heads
        assert json.loads(checkpoint_file(settings).read_text()) == lines[-1]
        older = checkpoint_file(settings).read_bytes()  # validly signed, for seq 5

        record_many(log, 4)
        assert len(mirror.read_text().splitlines()) == 9
        assert verify_log(log, settings.audit.checkpoint_copy).ok

        # The intruder cuts the last four events and puts back the older, genuinely signed checkpoint.
        raw(settings, ("DELETE FROM audit_events WHERE seq > 5", ()))
        checkpoint_file(settings).write_bytes(older)
        assert verify_log(log).ok  # the checkpoint file alone cannot see it: this is what the copy is for
        result = verify_log(log, settings.audit.checkpoint_copy)
        assert not result.ok and result.chain.bad_seq == 6, result.to_json()
        assert "events 6..9 are missing" in (result.chain.problem or "")

        cli = run_cli(home, "audit", "verify", APPLIANCE_AUDIT__CHECKPOINT_COPY=str(mirror))
        assert cli.returncode == 1 and "(first bad event: 6)" in cli.stdout, cli.stdout + cli.stderr
        assert run_cli(home, "audit", "verify").returncode == 0
    finally:
        log.close()


def test_an_edited_line_in_the_copy_is_reported(tmp_path: Path, home: Path) -> None:
    mirror = tmp_path / "checkpoints.log"
    settings = Settings(home=home, audit={"checkpoint_copy": str(mirror)})
    log = open_audit_log(settings)
    try:
        record_many(log, 3)
        lines = mirror.read_text().splitlines()
        last = json.loads(lines[-1])
        last["seq"] = 2
        mirror.write_text("\n".join([*lines[:-1], json.dumps(last)]) + "\n")
        result = verify_log(log, str(mirror))
        assert not result.ok and "checkpoint copy signature is not valid" in (result.chain.problem or "")
    finally:
        log.close()
