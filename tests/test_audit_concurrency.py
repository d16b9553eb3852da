"""Many writers at once on the default SQLite (WAL) audit database: threads and separate processes.

Every event must land exactly once, the sequence numbers must stay contiguous, the chain
must verify and the signed checkpoint must end at the chain head.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from appliance.audit.log import open_audit_log
from appliance.audit.verify import verify_log
from appliance.settings import Settings
from tests.actors import TESTER
from tests.conftest import cli_env

THREADS, PER_THREAD = 8, 200
PROCESSES, PER_PROCESS = 2, 300

# A writer process: opens the log, says it is ready, waits for "go" on stdin, writes half its events,
# says so and waits for "more", writes the rest.
WRITER = """
import sys
from appliance.actors import Actor
from appliance.audit.log import open_audit_log
from appliance.settings import Settings

name, count = sys.argv[1], int(sys.argv[2])
log = open_audit_log(Settings())
actor = Actor("test:" + name, "operator")
print("ready", flush=True)
sys.stdin.readline()
for i in range(count):
    if i == count // 2:
        print("half", flush=True)
        sys.stdin.readline()
    log.record(actor, "test.concurrent", details={"writer": name, "i": i})
log.close()
print("done", flush=True)
"""


@pytest.mark.slow
def test_threads_and_processes_writing_at_once_keep_one_chain(settings: Settings, home: Path) -> None:
    log = open_audit_log(settings)  # creates the database, the key and the checkpoint folder first
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, f"proc-{n}", str(PER_PROCESS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(home),
        )
        for n in range(PROCESSES)
    ]
    # Interleaving by construction, not by luck: the processes write their first halves at once; then the
    # threads write their first halves; then everyone writes the rest at the same time.
    go, second = threading.Event(), threading.Event()
    halfway = threading.Barrier(THREADS + 1, timeout=300)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            go.wait()
            for i in range(PER_THREAD):
                if i == PER_THREAD // 2:
                    halfway.wait()
                    second.wait()
                log.record(TESTER, "test.concurrent", details={"writer": f"thread-{n}", "i": i})
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
            halfway.abort()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(THREADS)]
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready", process.stderr and process.stderr.read()
        for thread in threads:
            thread.start()
        started = time.perf_counter()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for process in processes:
            assert process.stdout is not None and process.stdout.readline().strip() == "half"
        go.set()
        halfway.wait()  # the threads' first halves are in, between each process's two halves
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("more\n")
            process.stdin.flush()
        second.set()
        for thread in threads:
            thread.join()
        outputs = [process.communicate(timeout=120) for process in processes]
        elapsed = time.perf_counter() - started
    finally:
        go.set()
        second.set()
        for process in processes:
            if process.poll() is None:
                process.kill()
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0 and out.strip() == "done", err
    assert errors == []

    total = THREADS * PER_THREAD + PROCESSES * PER_PROCESS
    events = list(log.events())
    assert len(events) == total
    assert [e["seq"] for e in events] == list(range(1, total + 1))
    pairs = Counter((e["details"]["writer"], e["details"]["i"]) for e in events)
    expected = {(f"thread-{n}", i) for n in range(THREADS) for i in range(PER_THREAD)}
    expected |= {(f"proc-{n}", i) for n in range(PROCESSES) for i in range(PER_PROCESS)}
    assert set(pairs) == expected and set(pairs.values()) == {1}
    # The writers interleaved: each process's events are spread among the threads' events.
    for n in range(PROCESSES):
        seqs = [e["seq"] for e in events if e["details"]["writer"] == f"proc-{n}"]
        assert seqs[-1] - seqs[0] > THREADS * PER_THREAD // 2, f"proc-{n} did not overlap the others ({elapsed:.1f}s)"

    result = verify_log(log)
    assert result.ok, result.chain.problem
    checkpoint, head = log.checkpoints.read(), log.head()
    assert checkpoint is not None and head is not None
    assert (checkpoint.seq, checkpoint.hash) == (head.seq, head.hash) == (total, events[-1]["hash"])
    assert checkpoint.valid_for(log.signer.public_key_pem)
    log.close()


def _load_key(keys_dir: Path, barrier: Any, results: Any) -> None:
    from appliance.audit.signing import load_or_create_signer

    barrier.wait()
    try:
        results.put(load_or_create_signer(keys_dir).public_key_pem)
    except Exception as error:  # noqa: BLE001 - reported by the assertion in the test
        results.put(repr(error))


def test_processes_starting_at_once_on_a_fresh_home_share_one_signing_key(tmp_path: Path) -> None:
    # The first start creates the key; a process starting at the same moment must never read it half-written.
    context = multiprocessing.get_context("fork")  # fast to start, so the processes really collide
    for round_ in range(10):
        keys_dir = tmp_path / f"keys-{round_}"
        barrier, results = context.Barrier(4), context.Queue()
        processes = [context.Process(target=_load_key, args=(keys_dir, barrier, results)) for _ in range(4)]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=60) for _ in processes]
        for process in processes:
            process.join(timeout=60)
        assert all(isinstance(outcome, bytes) for outcome in outcomes), outcomes
        assert len(set(outcomes)) == 1  # everyone signs with the same key
        assert [p.name for p in keys_dir.iterdir()] == ["audit-signing-ed25519.pem"]  # no temporary left behind
