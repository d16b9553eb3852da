"""The audit-log benchmark: record() and verify against naive baselines, with the issue's targets.

- record(): single-threaded and with 8 threads on one log (events/s, per-event p50/p95), plus
  the same chain transaction without the checkpoint file, to show what each part costs.
- naive record baseline: one plain INSERT per event through sqlite3 (same WAL pragmas), no
  hash chain, no checkpoint.
- the overhead on a question: record() of an ask-sized event (question, answer, 5 retrieved
  chunk refs, 3 citations with ~200-character quotes, timings). Target: under 2 ms.
- verify: `verify_log` over N events (default 100,000; seconds per 100,000 and events/s).
  Target: more than 50,000 events/s. Naive baseline: each row re-read with its own query.

Everything runs on the default SQLite (WAL) database in a temporary APPLIANCE_HOME, never
on the operator's own log.
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from appliance.actors import Actor
from appliance.audit import events as audit_events
from appliance.audit.chain import event_hash
from appliance.audit.log import AuditLog, ChainWriter
from appliance.audit.verify import verify_log
from appliance.bench.stats import percentile
from appliance.build import build_records
from appliance.db.engine import BUSY_TIMEOUT_S, writing
from appliance.settings import AuditSettings, Settings

Progress = Callable[[str], None]
ASK_TARGET_MS = 2.0
VERIFY_TARGET_EVENTS_PER_S = 50_000
THREADS = 8
RECORD_SAMPLE = 2000  # events per record() measurement
BUILD_BATCH = 1000
BENCH_ACTOR = Actor("bench:audit", "operator")
_QUOTE = (
    "The supplier shall deliver the goods within ten business days of the purchase order and shall bear "
    "the cost of return shipping for any item that fails the acceptance inspection described in Schedule B."
)


def ask_payload(n: int = 0) -> dict[str, Any]:
    """An ask event's details as `ask` records them: 5 retrieved chunks, 3 citations with ~200-char quotes."""
    retrieved = [
        {
            "chunk_id": f"doc-{n % 97}-v1-c{k}",
            "doc_id": f"upload:contract-{n % 97}.pdf",
            "version": 1,
            "score": 0.8 - k / 10,
        }
        for k in range(5)
    ]
    citations = [
        {
            "n": k + 1,
            "doc_id": f"upload:contract-{n % 97}.pdf",
            "version": 1,
            "page": k + 3,
            "start": 1000 * k,
            "end": 1000 * k + len(_QUOTE),
            "quote": _QUOTE,
        }
        for k in range(3)
    ]
    return audit_events.ask_details(
        question=f"Within how many days must <ORGANIZATION_2> deliver the goods under order {n}, and who pays returns?",
        answer="Within ten business days of the purchase order; the supplier pays return shipping [1][2]. " * 2,
        mode="rag",
        collections=["default"],
        evidence="recalled",
        refused=False,
        retrieved=retrieved,
        citations=citations,
        dropped_quotes=0,
        model="SmolLM2-135M-Instruct.Q4_1.gguf",
        model_sha256="9" * 64,
        adapter=None,
        adapter_sha256=None,
        timings_ms={"redact": 12.3, "retrieve": 8.1, "recall": 3.4, "generate": 640.2, "total": 664.0},
    )


def _mixed_event(n: int) -> tuple[str, dict[str, Any]]:
    """The verify log's events: one ask in four, the rest ingests, views and feedback (as the appliance logs)."""
    kind = n % 4
    if kind == 0:
        return audit_events.ASK, ask_payload(n)
    if kind == 1:
        return audit_events.INGEST, audit_events.ingest_details(
            collection="default",
            version=1,
            sha256=f"{n:064x}",
            kind="pdf",
            chunks=40,
            redactions={"PERSON": 3, "EMAIL_ADDRESS": 1},
            policy_hash="a" * 16,
            embedding_model="all-MiniLM-L6-v2",
        )
    if kind == 2:
        return audit_events.VIEW, audit_events.document_details("default", 1, f"{n:064x}")
    return audit_events.FEEDBACK, {"ask_seq": n - 3, "rating": "down", "correction": "ten business days"}


def _latency(samples_s: list[float], wall_s: float) -> dict[str, Any]:
    ms = [s * 1000 for s in samples_s]
    return {
        "events": len(ms),
        "seconds": round(wall_s, 3),
        "events_per_s": round(len(ms) / wall_s, 1) if wall_s else None,
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
    }


def _timed(call: Callable[[int], object], count: int) -> dict[str, Any]:
    samples: list[float] = []
    started = time.perf_counter()
    for n in range(count):
        t0 = time.perf_counter()
        call(n)
        samples.append(time.perf_counter() - t0)
    return _latency(samples, time.perf_counter() - started)


def _open(home: Path) -> AuditLog:
    home.mkdir(parents=True, exist_ok=True)
    # Explicit defaults: a database URL or checkpoint copy set in the environment must not be written to.
    return build_records(Settings(home=home, audit=AuditSettings())).audit


def bench_record_single(log: AuditLog, count: int) -> dict[str, Any]:
    """record() of a small event, one after another."""
    return _timed(lambda n: log.record(BENCH_ACTOR, audit_events.BENCH_EVENT, details={"n": n}), count)


def bench_record_threads(log: AuditLog, count: int, threads: int = THREADS) -> dict[str, Any]:
    """record() from `threads` threads at once on one log; latency includes waiting for the write lock."""
    per_thread = max(1, count // threads)
    samples: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)

    def work(k: int) -> None:
        barrier.wait()
        try:
            for n in range(per_thread):
                t0 = time.perf_counter()
                log.record(BENCH_ACTOR, audit_events.BENCH_EVENT, details={"thread": k, "n": n})
                samples[k].append(time.perf_counter() - t0)
        except BaseException as error:  # noqa: BLE001 - re-raised below, in the caller's thread
            errors.append(error)

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    return {"threads": threads, **_latency([s for per in samples for s in per], wall)}


def bench_chain_only(log: AuditLog, count: int) -> dict[str, Any]:
    """The locked chain transaction record() runs, without advancing the checkpoint file."""

    def append(n: int) -> None:
        with writing(log.engine) as conn:
            ChainWriter(conn).append(BENCH_ACTOR, "bench.event", None, {"n": n})

    return _timed(append, count)


def bench_naive_insert(path: Path, count: int) -> dict[str, Any]:
    """The baseline: a plain INSERT (own transaction) per event via sqlite3, no chain, no checkpoint."""
    db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, ts_ms INTEGER, actor TEXT, role TEXT, action TEXT, "
        "subject TEXT, details TEXT)"
    )

    def insert(n: int) -> None:
        db.execute(
            "INSERT INTO events (ts_ms, actor, role, action, subject, details) VALUES (?, ?, ?, ?, ?, ?)",
            (int(time.time() * 1000), BENCH_ACTOR.name, BENCH_ACTOR.role, "bench.event", None, json.dumps({"n": n})),
        )

    try:
        return _timed(insert, count)
    finally:
        db.close()


def bench_ask_overhead(log: AuditLog, count: int) -> dict[str, Any]:
    """record() of an ask-sized event: what audit logging adds to one question."""
    size = len(json.dumps(ask_payload(0), separators=(",", ":")).encode())
    result = _timed(lambda n: log.record(BENCH_ACTOR, audit_events.ASK, details=ask_payload(n)), count)
    return {**result, "details_bytes": size}


def build_log(log: AuditLog, count: int, progress: Progress | None = None) -> dict[str, Any]:
    """Append `count` mixed events with the chain code record() runs, in transactions of BUILD_BATCH."""
    started = time.perf_counter()
    written = 0
    size = 0
    while written < count:
        with log.appending() as writer:
            for n in range(written, min(count, written + BUILD_BATCH)):
                action, details = _mixed_event(n)
                size += len(json.dumps(details, separators=(",", ":")).encode())
                writer.append(BENCH_ACTOR, action, None, details)
        written = min(count, written + BUILD_BATCH)
        if progress and written % 20_000 == 0:
            progress(f"  built {written:,} events")
    return {
        "events": count,
        "seconds": round(time.perf_counter() - started, 3),
        "mean_details_bytes": round(size / count) if count else 0,
        "method": f"ChainWriter.append (record()'s chain code) in transactions of {BUILD_BATCH:,}, "
        "the checkpoint advanced once per transaction",
    }


def naive_verify(path: Path) -> dict[str, Any]:
    """The baseline verifier: every row fetched with its own query, its hash recomputed, its link checked."""
    started = time.perf_counter()
    db = sqlite3.connect(path)
    try:
        last = db.execute("SELECT MAX(seq) FROM audit_events").fetchone()[0] or 0
        previous_hash = None
        bad = 0
        for seq in range(1, last + 1):
            row = db.execute(
                "SELECT seq, ts_ms, actor, role, action, subject, details, prev_hash, hash FROM audit_events "
                "WHERE seq = ?",
                (seq,),
            ).fetchone()
            event = dict(
                zip(
                    ("seq", "ts_ms", "actor", "role", "action", "subject", "details", "prev_hash", "hash"),
                    row,
                    strict=True,
                )
            )
            event["details"] = json.loads(event["details"])
            if event_hash(event) != event["hash"] or (
                previous_hash is not None and event["prev_hash"] != previous_hash
            ):
                bad += 1
            previous_hash = event["hash"]
    finally:
        db.close()
    seconds = time.perf_counter() - started
    return {"events": last, "bad": bad, **_rates(last, seconds)}


def _rates(events: int, seconds: float) -> dict[str, Any]:
    return {
        "seconds": round(seconds, 3),
        "seconds_per_100k": round(seconds * 100_000 / events, 3) if events else None,
        "events_per_s": round(events / seconds) if seconds else None,
    }


def run_audit_bench(
    events: int = 100_000, progress: Progress | None = None, record_events: int | None = None
) -> dict[str, Any]:
    """Run every measurement in a temporary APPLIANCE_HOME and return the figures with their targets.

    `events` sizes the log that verify checks; `record_events` (default: up to 2,000) each record() measurement.
    """
    say = progress or (lambda _line: None)
    sample = max(THREADS, record_events if record_events is not None else min(RECORD_SAMPLE, events))
    with tempfile.TemporaryDirectory(prefix="appliance-bench-audit-") as tmp:
        root = Path(tmp)
        say(f"record(): {sample:,} events single-threaded, then {THREADS} threads")
        log = _open(root / "record")
        try:
            bench_record_single(log, 20)  # warm-up: connections, the key, the checkpoint file
            single = bench_record_single(log, sample)
            threads = bench_record_threads(log, sample)
            chain_only = bench_chain_only(log, sample)
            say(f"ask-sized events: {sample:,}")
            ask = bench_ask_overhead(log, sample)
        finally:
            log.close()
        naive_insert = bench_naive_insert(root / "naive.sqlite3", sample)

        say(f"building a log of {events:,} events")
        log = _open(root / "verify")
        try:
            build = build_log(log, events, say)
            say("verify_log")
            result = verify_log(log)
            if not result.ok:
                raise RuntimeError(f"the benchmark log did not verify: {result.chain.problem}")
            verified = {"events": result.chain.events, **_rates(result.chain.events, result.seconds)}
        finally:
            log.close()
        say("naive verify (one query per row)")
        naive = naive_verify(root / "verify" / "appliance.sqlite3")
        database_bytes = (root / "verify" / "appliance.sqlite3").stat().st_size

    ask_met = ask["p50_ms"] < ASK_TARGET_MS
    verify_met = (verified["events_per_s"] or 0) > VERIFY_TARGET_EVENTS_PER_S
    return {
        "environment": {
            "database": "SQLite (WAL, synchronous=NORMAL) in a temporary APPLIANCE_HOME",
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "load_average_1min": round(os.getloadavg()[0], 2),  # other work on the machine skews the timings
        },
        "record": {
            "single_thread": single,
            "threads": threads,
            "without_checkpoint": chain_only,
            "naive_insert": naive_insert,
            "slowdown_vs_naive": _ratio(single["p50_ms"], naive_insert["p50_ms"]),
        },
        "ask_overhead": {**ask, "target_ms": ASK_TARGET_MS, "met": ask_met, "p95_met": ask["p95_ms"] < ASK_TARGET_MS},
        "verify": {
            **verified,
            "build": build,
            "database_bytes": database_bytes,
            "naive": naive,
            "speedup_vs_naive": _ratio(verified["events_per_s"], naive["events_per_s"]),
            "target_events_per_s": VERIFY_TARGET_EVENTS_PER_S,
            "met": verify_met,
        },
        "targets_met": ask_met and verify_met,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def format_report(result: Mapping[str, Any]) -> str:
    """The figures for people, each target with whether it was met."""
    env, record, ask, verify = result["environment"], result["record"], result["ask_overhead"], result["verify"]

    def row(label: str, figures: Mapping[str, Any]) -> str:
        return (
            f"  {label:<34} {figures['events_per_s']:>10,.0f} events/s   "
            f"p50 {figures['p50_ms']:.3f} ms   p95 {figures['p95_ms']:.3f} ms"
        )

    def mark(met: bool) -> str:
        return "met" if met else "NOT MET"

    build = verify["build"]
    naive = verify["naive"]
    lines = [
        f"Audit log benchmark: {env['database']}; {env['cpus']} CPUs (load average {env['load_average_1min']} "
        f"at the end), Python {env['python']}, SQLite {env['sqlite']}",
        "",
        f"record() ({record['single_thread']['events']:,} events each)",
        row("record(), 1 thread", record["single_thread"]),
        row(f"record(), {record['threads']['threads']} threads", record["threads"]),
        row("record() without the checkpoint file", record["without_checkpoint"]),
        row("naive: plain INSERT via sqlite3", record["naive_insert"]),
        f"  record() p50 is {record['slowdown_vs_naive']}x the naive INSERT",
        "",
        f"Overhead on one question (ask-sized event, {ask['details_bytes']:,} bytes of details, {ask['events']:,} events)",
        f"  record() p50 {ask['p50_ms']:.3f} ms, p95 {ask['p95_ms']:.3f} ms   target < {ask['target_ms']:g} ms: "
        f"{mark(ask['met'])} (p50), {mark(ask['p95_met'])} (p95)",
        "",
        f"verify_log over {verify['events']:,} events ({build['mean_details_bytes']:,} bytes of details on average, "
        f"database {verify['database_bytes'] / 1e6:.1f} MB)",
        f"  built in {build['seconds']:.1f} s by {build['method']}",
        f"  verify_log        {verify['seconds']:.2f} s = {verify['seconds_per_100k']:.2f} s per 100,000 events, "
        f"{verify['events_per_s']:,} events/s   target > {verify['target_events_per_s']:,}/s: {mark(verify['met'])}",
        f"  naive (a query per row) {naive['seconds']:.2f} s = {naive['seconds_per_100k']:.2f} s per 100,000 events, "
        f"{naive['events_per_s']:,} events/s; verify_log is {verify['speedup_vs_naive']}x faster",
        "",
        f"Targets: {'all met' if result['targets_met'] else 'NOT all met'}",
    ]
    return "\n".join(lines)
