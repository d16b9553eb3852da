"""`appliance bench web`: a bounded load test of the web UI over loopback HTTP.

A fresh APPLIANCE_HOME (under APPLIANCE_HOME/tmp) gets the demo corpus and N analyst
accounts; the real web service (uvicorn, our sign-in, the session gate, Gradio's queue)
serves it from this process. First one signed-in user asks the questions one after the
other (the baseline), then N signed-in users ask at the same time. Each ask is a Gradio
API call (`/gradio_api/call/ask`, the same event the Ask button fires). Reported: latency
p50/p95, throughput, errors, and whether every question has its own audit event.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.actors import Actor
from appliance.bench.stats import percentile
from appliance.settings import Settings

if TYPE_CHECKING:
    from appliance.build import Models

BENCH_PASSWORD = "bench password, loopback only"
COLLECTION = "demo"
QUESTIONS = (
    "What is the hotel cap per night?",
    "How long is the data-retention period?",
    "What is the daily meal allowance?",
    "Who approves claims above EUR 2,000?",
    "Within how many days must expense claims be submitted?",
    "Which class is mandatory for flights under 6 hours?",
    "Who won the 1998 football World Cup?",
    "What travel agency books flights and hotels?",
)
Progress = Callable[[str], None]


def _session_run(url: str, user: str, questions: Sequence[str]) -> dict[str, Any]:
    """One signed-in user asking `questions` in turn: latencies and errors."""
    from ui.http_client import call, sign_in

    latencies: list[float] = []
    errors: list[str] = []
    with closing(sign_in(url, user, BENCH_PASSWORD)) as client:
        for question in questions:
            started = time.perf_counter()
            kind, payload = call(client, "ask", [question, "rag", COLLECTION, None])
            elapsed = time.perf_counter() - started
            if kind == "complete" and payload and "audit event" in str(payload[1]):
                latencies.append(elapsed)
            else:
                errors.append(f"{user}: {kind} {payload!r}"[:300])
    return {"user": user, "latencies": latencies, "errors": errors, "asked": list(questions)}


def _phase(url: str, users: Sequence[str], per_user: int) -> dict[str, Any]:
    """All `users` at once, each asking `per_user` questions; wall time, latencies, errors."""
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def worker(index: int, user: str) -> None:
        questions = [QUESTIONS[(index + i) % len(QUESTIONS)] for i in range(per_user)]
        try:
            outcome = _session_run(url, user, questions)
        except Exception as error:  # noqa: BLE001 - a failed session is an error in the figures, not a crash
            outcome = {"user": user, "latencies": [], "errors": [f"{user}: {error}"], "asked": questions}
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker, args=(i, u)) for i, u in enumerate(users)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies = [x for r in results for x in r["latencies"]]
    return {
        "users": len(users),
        "questions": sum(len(r["asked"]) for r in results),
        "answered": len(latencies),
        "errors": [e for r in results for e in r["errors"]],
        "wall_s": round(wall, 3),
        "throughput_per_s": round(len(latencies) / wall, 3) if wall else 0.0,
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p95_s": round(percentile(latencies, 95), 3) if latencies else None,
        "max_s": round(max(latencies), 3) if latencies else None,
        "asked": {r["user"]: r["asked"] for r in results},
    }


def _audit_matches(app: Any, asked: dict[str, list[str]], since_seq: int) -> dict[str, Any]:
    """Whether each user's questions appear as their own `ask` events, one per question."""
    found: dict[str, Counter[str]] = {user: Counter() for user in asked}
    for event in app.audit.events("action = 'ask' AND seq > :s", {"s": since_seq}):
        user = event["actor"].removeprefix("user:")
        if user in found:
            found[user][event["details"].get("question", "")] += 1
    missing = {
        user: sorted((Counter(questions) - found[user]).elements())
        for user, questions in asked.items()
        if Counter(questions) != found[user]
    }
    return {"every_question_audited": not missing, "mismatches": missing}


def run_web_bench(
    settings: Settings,
    models: Models,
    *,
    users: int = 8,
    per_user: int = 4,
    baseline_questions: int = 8,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Serve a fresh home over loopback; one user, then `users` at once; latency, throughput, audit check."""
    from appliance.build import build
    from appliance.demo.runner import demo_files
    from ingestion.pipeline import ingest_paths
    from ui.context import new_context
    from ui.server import RunningServer

    say = progress or (lambda _line: None)
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-web-", dir=settings.tmp_dir) as folder:
        run_settings = settings.model_copy(update={"home": Path(folder)})
        with build(run_settings, models) as app:
            say("ingesting the demo corpus ...")
            ingest_paths(app, demo_files(), collection=COLLECTION, actor=Actor("bench:web", "operator"))
            directory = app.users
            names = [f"bench-{i + 1}" for i in range(max(users, 1))]
            for name in names:
                directory.add(name, "analyst", BENCH_PASSWORD, by=Actor("bench:web", "operator"))
                directory.grant(name, [COLLECTION], by=Actor("bench:web", "operator"))
            server = RunningServer(new_context(app), loop="auto")  # the event loop `appliance serve` uses
            try:
                say(f"serving on {server.url}; warming up ...")
                _session_run(server.url, names[0], QUESTIONS[:1])
                head = app.audit.head()
                start_seq = head.seq if head else 0
                say(f"1 user, {baseline_questions} questions in turn ...")
                single = _phase(server.url, names[:1], baseline_questions)
                say(f"{users} users at once, {per_user} questions each ...")
                concurrent = _phase(server.url, names[:users], per_user)
                asked: dict[str, list[str]] = {}
                for phase in (single, concurrent):
                    for user, questions in phase.pop("asked").items():
                        asked.setdefault(user, []).extend(questions)
                audit = _audit_matches(app, asked, start_seq)
            finally:
                server.close()
    return {
        "single": single,
        "concurrent": concurrent,
        "audit": audit,
        "ask_concurrency": settings.web.ask_concurrency,
        "threads": settings.runtime.threads,
        "throughput_ratio": round(concurrent["throughput_per_s"] / single["throughput_per_s"], 2)
        if single["throughput_per_s"]
        else None,
    }


def format_report(result: dict[str, Any]) -> str:
    """The figures as a terminal table."""
    lines = [
        f"web UI load test over loopback (ask concurrency {result['ask_concurrency']}, {result['threads']} threads)",
        f"{'':<14}{'questions':>10}{'errors':>8}{'p50 s':>8}{'p95 s':>8}{'max s':>8}{'answers/s':>11}{'wall s':>9}",
    ]
    for label, key in (("1 user", "single"), (f"{result['concurrent']['users']} users", "concurrent")):
        row = result[key]
        lines.append(
            f"{label:<14}{row['questions']:>10}{len(row['errors']):>8}{row['p50_s'] or 0:>8.2f}{row['p95_s'] or 0:>8.2f}"
            f"{row['max_s'] or 0:>8.2f}{row['throughput_per_s']:>11.2f}{row['wall_s']:>9.1f}"
        )
    lines.append(f"throughput, {result['concurrent']['users']} users vs 1: x{result['throughput_ratio']}")
    audit = result["audit"]
    lines.append(
        "every question has its audit event: "
        + ("yes" if audit["every_question_audited"] else f"NO, mismatches: {audit['mismatches']}")
    )
    for row in (result["single"], result["concurrent"]):
        lines += [f"error: {e}" for e in row["errors"][:5]]
    return "\n".join(lines)


def add_bench_web_command(bench_commands: Any) -> None:
    """Register `bench web` on the bench subparsers."""
    web = bench_commands.add_parser("web", help="web UI load test: N signed-in users asking at once vs one user")
    web.add_argument("--users", type=int, default=8, help="concurrent signed-in sessions")
    web.add_argument("--questions", type=int, default=4, help="questions per user in the concurrent run")
    web.add_argument("--baseline", type=int, default=8, help="questions the single user asks in turn")
    web.add_argument("--json", action="store_true")


def cmd_bench_web(args: Any, settings: Settings, error: type[Exception]) -> int:
    """Run `bench web` and print the figures; exit 1 when any ask failed or lacks its audit event."""
    import json
    import sys

    from appliance.build import load_models

    if not (1 <= args.users <= 64 and 1 <= args.questions <= 100 and 1 <= args.baseline <= 100):
        raise error("--users must be 1-64, --questions and --baseline 1-100")
    progress = None if args.json else (lambda line: print(line, file=sys.stderr))
    result = run_web_bench(
        settings,
        load_models(settings),
        users=args.users,
        per_user=args.questions,
        baseline_questions=args.baseline,
        progress=progress,
    )
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    failed = (
        result["single"]["errors"] or result["concurrent"]["errors"] or not result["audit"]["every_question_audited"]
    )
    return 1 if failed else 0
