"""The audit log on a real PostgreSQL server: migrations, the chain, tampering, export, concurrent writers.

The server is a throwaway cluster listening only on a Unix socket (tests/postgres_server.py);
the tests skip, naming the Debian package, where its binaries are not installed.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from appliance.audit.chain import verify_bundle
from appliance.audit.export import export_bundle
from appliance.audit.log import AuditLog, open_audit_log
from appliance.audit.search import AuditFilter
from appliance.audit.verify import verify_log
from appliance.db.engine import open_engine
from appliance.db.migrations import MIGRATIONS, migrate
from appliance.db.models import AuditEvent
from appliance.settings import AuditSettings, Settings
from tests.actors import TESTER

THREADS, PER_THREAD = 8, 200


@pytest.fixture
def pg_settings(home: Path, postgres_url: str) -> Settings:
    return Settings(home=home, audit=AuditSettings(database_url=postgres_url))


@pytest.fixture
def pg_log(pg_settings: Settings) -> Iterator[AuditLog]:
    log = open_audit_log(pg_settings)
    yield log
    log.close()


def test_migrations_on_a_blank_database_create_the_declared_schema(postgres_url: str) -> None:
    engine = open_engine(postgres_url)
    try:
        assert migrate(engine) == [version for version, _, _ in MIGRATIONS]
        assert migrate(engine) == []  # applied once, recorded in the ledger
        schema = inspect(engine)
        assert engine.dialect.name == "postgresql"
        columns = {c["name"]: c for c in schema.get_columns("audit_events")}
        assert list(columns) == ["seq", "ts_ms", "actor", "role", "action", "subject", "details", "prev_hash", "hash"]
        assert {name for name, c in columns.items() if c["nullable"]} == {"subject"}
        assert schema.get_unique_constraints("audit_events")[0]["column_names"] == ["hash"]
        # Every table the models declare exists with the same columns and nullability.
        declared = AuditEvent.metadata.tables
        assert set(schema.get_table_names()) == set(declared)
        for name, table in declared.items():
            actual = {c["name"]: c["nullable"] for c in schema.get_columns(name)}
            assert actual == {c.name: c.nullable for c in table.columns}, name
        assert schema.get_pk_constraint("audit_events")["constrained_columns"] == ["seq"]
        indexed = {tuple(ix["column_names"]) for ix in schema.get_indexes("audit_events")}
        assert {("ts_ms",), ("actor",), ("action",)} <= indexed
        with engine.connect() as conn:
            ledger = conn.execute(text("SELECT version FROM appliance_schema_migrations ORDER BY version")).scalars()
            assert list(ledger) == [version for version, _, _ in MIGRATIONS]
    finally:
        engine.dispose()


def test_processes_starting_at_once_migrate_exactly_once(postgres_url: str) -> None:
    engines = [open_engine(postgres_url) for _ in range(4)]
    applied: list[list[int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(engines))

    def start(engine) -> None:  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
            applied.append(migrate(engine))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=start, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    assert errors == []
    assert sorted(v for versions in applied for v in versions) == [version for version, _, _ in MIGRATIONS]


def test_record_and_verify_round_trip(pg_log: AuditLog) -> None:
    first = pg_log.record(TESTER, "test.first", subject="doc-1", details={"n": 1, "ratio": 0.5, "name": "Zoë"})
    second = pg_log.record(TESTER, "test.second", details={"items": [1, 2, 3]})
    assert (first.seq, second.seq) == (1, 2)
    assert pg_log.head() == second
    events = list(pg_log.events())
    assert [e["action"] for e in events] == ["test.first", "test.second"]
    assert events[0]["details"] == {"n": 1, "ratio": "0.5", "name": "Zoë"}  # floats are kept as strings
    assert events[1]["prev_hash"] == first.hash
    result = verify_log(pg_log)
    assert result.ok, result.chain.problem
    assert (result.chain.events, result.chain.last_seq, result.checkpoint and result.checkpoint.seq) == (2, 2, 2)


def test_an_edited_row_is_detected(pg_log: AuditLog) -> None:
    for i in range(5):
        pg_log.record(TESTER, "test.event", details={"i": i})
    assert verify_log(pg_log).ok
    with pg_log.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET details = :d WHERE seq = 3"), {"d": '{"i":99}'})
    result = verify_log(pg_log)
    assert not result.ok
    assert result.chain.bad_seq == 3
    assert "altered" in (result.chain.problem or "")


def test_events_cut_off_the_end_are_detected_by_the_checkpoint(pg_log: AuditLog) -> None:
    for i in range(5):
        pg_log.record(TESTER, "test.event", details={"i": i})
    with pg_log.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq >= 4"))
    result = verify_log(pg_log)
    assert not result.ok
    assert "cut off" in (result.chain.problem or "")


def test_an_export_bundle_verifies(pg_log: AuditLog, tmp_path: Path) -> None:
    for i in range(20):
        pg_log.record(TESTER, "test.even" if i % 2 == 0 else "test.odd", details={"i": i})
    out = tmp_path / "bundle.zip"
    summary = export_bundle(pg_log, out, AuditFilter(action="test.odd"), TESTER)
    assert (summary.events, summary.head_seq) == (10, 20)
    report = verify_bundle(str(out), pg_log.signer.public_key_pem)
    assert report.ok, report.problem
    assert report.events == 10
    assert verify_log(pg_log).ok  # the export is itself audited, as event 21
    assert pg_log.head() is not None and pg_log.head().seq == 21  # type: ignore[union-attr]


def test_concurrent_writers_keep_one_contiguous_chain(pg_settings: Settings) -> None:
    # Two logs with their own engines and checkpoint objects stand in for two processes.
    logs = [open_audit_log(pg_settings), open_audit_log(pg_settings)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def write(writer: int) -> None:
        log = logs[writer % len(logs)]
        try:
            barrier.wait()
            for i in range(PER_THREAD):
                log.record(TESTER, "test.concurrent", details={"writer": writer, "i": i})
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        events = list(logs[0].events())
        assert [e["seq"] for e in events] == list(range(1, THREADS * PER_THREAD + 1))
        pairs = Counter((e["details"]["writer"], e["details"]["i"]) for e in events)
        assert set(pairs) == {(w, i) for w in range(THREADS) for i in range(PER_THREAD)}
        assert set(pairs.values()) == {1}
        result = verify_log(logs[1])
        assert result.ok, result.chain.problem
        checkpoint = logs[0].checkpoints.read()
        head = logs[0].head()
        assert checkpoint is not None and head is not None
        assert (checkpoint.seq, checkpoint.hash) == (head.seq, head.hash) == (THREADS * PER_THREAD, events[-1]["hash"])
    finally:
        for log in logs:
            log.close()


def test_the_url_reaches_the_server_over_its_socket_only(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW listen_addresses")).scalar() == ""
            assert conn.execute(text("SELECT inet_server_addr()")).scalar() is None  # a Unix socket
    finally:
        engine.dispose()
