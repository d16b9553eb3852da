"""The ingest-workers benchmark: chunks per second from one `appliance ingest` worker, then from several at once.

Workers are real `appliance ingest` processes on one folder, each pinned to its own core
(`taskset`, one thread each), each with its own temporary home holding a copy of this
appliance's keys, all writing to the shared catalog (PostgreSQL) and the Chroma server the
settings name. One worker is the baseline. Each run ingests the same files into a fresh
collection (`bench-workers-*`; delete it afterwards with `appliance docs delete`, or use a
store kept for benchmarks). Start-up (loading the models: `ingest --warm-up`) is timed apart:
the rate is the chunks over the time from the first worker's start of ingest to the last
one's end, from the wall-clock times in their reports.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from appliance.settings import Settings

Progress = Callable[[str], None]


class WorkersBenchError(RuntimeError):
    """The settings do not name shared stores, or a worker failed (the message says which and why)."""


def stage_corpus(paths: Sequence[Path], folder: Path, copies: int) -> int:
    """`copies` copies of every file under `paths` in `folder` (distinct names, so distinct documents)."""
    files = [p for path in paths for p in (sorted(path.rglob("*")) if path.is_dir() else [path]) if p.is_file()]
    for copy in range(copies):
        for index, source in enumerate(files):
            shutil.copy(source, folder / f"c{copy:02d}-{index:03d}-{source.name}")
    return len(files) * copies


def _worker(settings: Settings, folder: Path, collection: str, core: str, home: Path) -> dict[str, Any]:
    """Run one worker to the end: its report, wall seconds and seconds before its first file."""
    shutil.copytree(settings.keys_dir, home / "keys")
    env = {k: v for k, v in os.environ.items() if k != "APPLIANCE_HOME"}
    env.update(
        {
            "APPLIANCE_HOME": str(home),
            "APPLIANCE_RUNTIME__THREADS": "1",
            "APPLIANCE_INGEST__SOURCE_ROOT": str(folder),
        }
    )
    command = ["taskset", "-c", core, str(Path(sys.executable).parent / "appliance"), "ingest", str(folder)]
    started = time.time()
    done = subprocess.run(
        [*command, "--collection", collection, "--json", "--warm-up"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1):  # 1: some file failed, which the report names
        raise WorkersBenchError(f"worker on core {core} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return {"report": json.loads(done.stdout), "launched_ms": int(started * 1000)}


def _run(settings: Settings, folder: Path, cores: Sequence[str], scratch: Path) -> dict[str, Any]:
    collection = f"bench-workers-{len(cores)}-{secrets.token_hex(3)}"
    started = time.perf_counter()
    with ThreadPoolExecutor(len(cores)) as pool:  # one thread waits on each worker process
        results = list(
            pool.map(lambda core: _worker(settings, folder, collection, core, scratch / f"{collection}-{core}"), cores)
        )
    wall = time.perf_counter() - started
    ingested = [d for r in results for d in r["report"]["ingested"]]
    failed = [f for r in results for f in r["report"]["failed"]]
    chunks = sum(d["chunks"] for d in ingested)
    first_start = min(r["report"]["started_ms"] for r in results)
    last_end = max(r["report"]["finished_ms"] for r in results)
    ingest_s = (last_end - first_start) / 1000
    startup = (first_start - min(r["launched_ms"] for r in results)) / 1000
    return {
        "collection": collection,
        "workers": len(cores),
        "cores": list(cores),
        "files": len(ingested),
        "failed": len(failed),
        "ingested_twice": len(ingested) - len({d["doc_id"] for d in ingested}),
        "per_worker_files": [len(r["report"]["ingested"]) for r in results],
        "chunks": chunks,
        "wall_s": round(wall, 2),
        "startup_s": round(startup, 2),
        "ingest_s": round(ingest_s, 2),
        "chunks_per_s": round(chunks / ingest_s, 2) if ingest_s > 0 else 0.0,
        "chunks_per_s_with_startup": round(chunks / wall, 2) if wall > 0 else 0.0,
    }


def run_workers_bench(
    settings: Settings, paths: Sequence[Path], cores: Sequence[str], copies: int, progress: Progress | None = None
) -> dict[str, Any]:
    """One worker on the first core, then one worker per core, on the same staged folder."""
    say = progress or (lambda _line: None)
    if settings.store.catalog != "database" or settings.store.vector_store != "chroma_server":
        raise WorkersBenchError(
            "bench workers needs shared stores: store.catalog = database (PostgreSQL) and "
            "store.vector_store = chroma_server (deploy/README.md, section 7)"
        )
    if shutil.which("taskset") is None:
        raise WorkersBenchError("bench workers needs taskset (util-linux) to pin each worker to its core")
    if not (settings.keys_dir / "pseudonym-hmac.key").exists():
        raise WorkersBenchError(f"no keys in {settings.keys_dir}: run any command that opens the store first")
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-workers-", dir=settings.tmp_dir) as scratch:
        folder = Path(scratch) / "share"
        folder.mkdir()
        files = stage_corpus(paths, folder, copies)
        runs = []
        for chosen in ([cores[0]], list(cores)):
            say(f"{len(chosen)} worker(s) on core(s) {','.join(chosen)}, {files} files ...")
            runs.append(_run(settings, folder, chosen, Path(scratch)))
    one, many = runs
    return {
        "baseline": one,
        "workers": many,
        "speedup": round(many["chunks_per_s"] / one["chunks_per_s"], 2) if one["chunks_per_s"] else 0.0,
        "speedup_with_startup": (
            round(many["chunks_per_s_with_startup"] / one["chunks_per_s_with_startup"], 2)
            if one["chunks_per_s_with_startup"]
            else 0.0
        ),
    }


def format_report(result: dict[str, Any]) -> str:
    lines = ["ingest workers on the shared catalog and Chroma server (each pinned to its core, 1 thread)"]
    for name in ("baseline", "workers"):
        run = result[name]
        lines.append(
            f"  {run['workers']} worker(s), cores {','.join(run['cores'])}: {run['files']} files "
            f"({run['per_worker_files']} per worker), {run['chunks']} chunks in {run['wall_s']} s "
            f"(start-up {run['startup_s']} s): {run['chunks_per_s']} chunks/s "
            f"({run['chunks_per_s_with_startup']} with start-up), failed {run['failed']}, "
            f"ingested twice {run['ingested_twice']}"
        )
    lines.append(f"  speed-up: x{result['speedup']} (x{result['speedup_with_startup']} with start-up)")
    return "\n".join(lines)


def add_bench_workers_command(bench_commands: Any) -> None:
    """Register `bench workers` on the bench subparsers."""
    workers = bench_commands.add_parser(
        "workers", help="chunks/s of several ingest workers on the shared stores vs one worker"
    )
    workers.add_argument(
        "paths", nargs="*", type=Path, metavar="PATH", help="default: the demo corpus and three SEC 10-Q PDFs"
    )
    workers.add_argument(
        "--cores", default="0,1", help="one worker per core (taskset); the first alone is the baseline"
    )
    workers.add_argument("--copies", type=int, default=2, help="copies of every file in the folder the workers share")
    workers.add_argument("--json", action="store_true")


def cmd_bench_workers(args: Any, settings: Settings, error: type[Exception]) -> int:
    """Run `bench workers` and print its figures."""
    from appliance.demo.runner import DEMO_CORPUS

    sec_filings = sorted((settings.bench.eval_dir / "qa" / "docugami_sec10q" / "docs").glob("2023 Q[123] AAPL.pdf"))
    cores = [c.strip() for c in args.cores.split(",") if c.strip()]
    if len(cores) < 2 or args.copies < 1:
        raise error("bench workers: --cores names two or more cores (e.g. 0,1); --copies is at least 1")
    progress = None if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        result = run_workers_bench(
            settings, list(args.paths) or [DEMO_CORPUS, *sec_filings], cores, args.copies, progress
        )
    except WorkersBenchError as failure:
        raise error(str(failure)) from None
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0
