"""`appliance bench scale`: does throughput grow with inference servers? The same 16-user question stream against

1. one front-end with the embedded model (the single-server default: the naive baseline),
2. two front-ends sharing one inference server,
3. two front-ends, each with its own inference server.

A front-end here is a whole appliance (its own home with the demo corpus, redactor, retrieval, citations,
audit log) in this process, asked through `ask()` as the web and API handlers ask it; the HTTP layer is
what `bench web` measures. The inference servers are real `llama_cpp.server` processes on loopback serving
the configured GGUF, one per core when `taskset` exists (`--cores`), one thread each. Reported per
configuration: answers per second, p50/p95 latency, errors, audit events lost (questions answered
without their `ask` event), and this process's CPU seconds per answer (the front-ends' own work, which
shares the host's cores with the servers here). The figure the layout is judged by is (3) over (2).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.actors import Actor
from appliance.bench.stats import percentile
from appliance.bench.web import QUESTIONS
from appliance.settings import GenerationSettings, Settings

if TYPE_CHECKING:
    from appliance.app import Appliance
    from appliance.build import Models

COLLECTION = "demo"
SERVED_AS = "bench-base"
Progress = Callable[[str], None]


def run_scale_bench(
    settings: Settings,
    models: Models,
    *,
    users: int = 16,
    per_user: int = 2,
    cores: Sequence[str] = ("0", "1"),
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The three configurations on the same question stream; their figures and the two-server ratio."""
    from appliance.bench.inference_servers import llama_cpp_server
    from appliance.build import Models, base_model_path

    if len(cores) < 2:
        raise ValueError("bench scale needs two cores for its two inference servers (--cores 0,1)")
    say = progress or (lambda _line: None)
    pinned = shutil.which("taskset") is not None
    cpus = [c if pinned else None for c in cores]
    model = base_model_path(settings)
    stream = [[QUESTIONS[(u + i) % len(QUESTIONS)] for i in range(per_user)] for u in range(users)]
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=settings.tmp_dir) as folder:
        root = Path(folder)
        say("1 front-end, embedded model ...")
        with _front_ends(settings, root / "embedded", [models]) as apps:
            results["embedded"] = _phase(apps, stream)
        with ExitStack() as servers:
            urls = [
                servers.enter_context(llama_cpp_server(root / f"server-{n}", [SERVED_AS], model=model, cpus=cpu))
                for n, cpu in enumerate(cpus[:2])
            ]
            for label, chosen in (("one_server", [urls[0], urls[0]]), ("two_servers", urls)):
                say(f"2 front-ends, {len(set(chosen))} inference server(s) ...")
                front_models = [
                    Models(
                        detector=models.detector, embedder=models.embedder, generator=_server_generator(settings, url)
                    )
                    for url in chosen
                ]
                with _front_ends(settings, root / label, front_models) as apps:
                    results[label] = _phase(apps, stream)
    one, two = results["one_server"]["answers_per_s"], results["two_servers"]["answers_per_s"]
    return {
        **results,
        "users": users,
        "per_user": per_user,
        "pinned_cores": list(cores[:2]) if pinned else None,
        "front_end_threads": settings.runtime.threads,
        "two_servers_vs_one": round(two / one, 2) if one else None,
    }


def _server_generator(settings: Settings, url: str) -> Any:
    from appliance.backends.openai_server_generator import ServerGenerator

    return ServerGenerator(
        GenerationSettings(
            backend="openai_server",
            server_url=url,
            server_model=SERVED_AS,
            server_schema_style="json_object",
            max_answer_tokens=settings.generation.max_answer_tokens,
            seed=settings.generation.seed,
        )
    )


@contextmanager
def _front_ends(settings: Settings, folder: Path, per_front_end: Sequence[Models]) -> Iterator[list[Appliance]]:
    """One appliance per models object, each in its own home holding the demo corpus."""
    from appliance.build import build
    from appliance.demo.runner import demo_files
    from ingestion.pipeline import ingest_paths

    with ExitStack() as stack:
        apps = []
        for n, models in enumerate(per_front_end):
            home = folder / f"front-end-{n}"
            app = stack.enter_context(build(settings.model_copy(update={"home": home}), models))
            ingest_paths(app, demo_files(), collection=COLLECTION, actor=Actor("bench:scale", "operator"))
            apps.append(app)
        yield apps


def _phase(apps: Sequence[Appliance], stream: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Every user at once, user u on front-end u mod len(apps); one warm-up question per front-end first."""
    from appliance.answer.answering import ask

    for app in apps:
        ask(app, QUESTIONS[0], actor=Actor("bench:warm-up", "operator"), collections=[COLLECTION])
    heads = [_head_seq(app) for app in apps]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def user(index: int, questions: Sequence[str]) -> None:
        app = apps[index % len(apps)]
        actor = Actor(f"bench:user-{index}", "analyst")
        for question in questions:
            started = time.perf_counter()
            try:
                ask(app, question, actor=actor, collections=[COLLECTION])
            except Exception as error:  # noqa: BLE001 - a failed question is a figure, not a crash
                with lock:
                    errors.append(f"user {index}: {type(error).__name__}: {error}"[:300])
                continue
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=user, args=(u, q)) for u, q in enumerate(stream)]
    started, cpu_started = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started  # this process: the front-ends (and, embedded, the model too)
    recorded = sum(
        1
        for app, head in zip(apps, heads, strict=True)
        for _ in app.audit.events("action = 'ask' AND seq > :s AND actor LIKE 'bench:user-%'", {"s": head})
    )
    return {
        "front_ends": len(apps),
        "questions": sum(len(q) for q in stream),
        "answered": len(latencies),
        "errors": errors,
        "lost_audit_events": len(latencies) - recorded,
        "wall_s": round(wall, 2),
        "answers_per_s": round(len(latencies) / wall, 3) if wall else 0.0,
        "p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "p95_s": round(percentile(latencies, 95), 2) if latencies else None,
        "front_end_cpu_s_per_answer": round(cpu / len(latencies), 3) if latencies else None,
    }


def _head_seq(app: Appliance) -> int:
    head = app.audit.head()
    return head.seq if head else 0


def format_report(result: dict[str, Any]) -> str:
    """The figures as a terminal table."""
    pinned = result["pinned_cores"]
    lines = [
        f"{result['users']} users x {result['per_user']} questions at once; inference servers: llama_cpp.server, "
        + (f"one core each (taskset {', '.join(pinned)}), 1 thread" if pinned else "not pinned (no taskset), 1 thread")
        + f"; front-ends in this process ({result['front_end_threads']} threads)",
        f"{'':<34}{'answered':>9}{'errors':>8}{'lost audit':>11}{'p50 s':>8}{'p95 s':>8}{'answers/s':>11}"
        f"{'CPU s/answer here':>19}",
    ]
    for label, key in (
        ("1 front-end, embedded model", "embedded"),
        ("2 front-ends, 1 inference server", "one_server"),
        ("2 front-ends, 2 inference servers", "two_servers"),
    ):
        row = result[key]
        lines.append(
            f"{label:<34}{row['answered']:>9}{len(row['errors']):>8}{row['lost_audit_events']:>11}"
            f"{row['p50_s'] or 0:>8.2f}{row['p95_s'] or 0:>8.2f}{row['answers_per_s']:>11.2f}"
            f"{row['front_end_cpu_s_per_answer'] or 0:>19.2f}"
        )
    lines.append(f"two inference servers vs one: x{result['two_servers_vs_one']} (target: at least x1.7)")
    for key in ("embedded", "one_server", "two_servers"):
        lines += [f"error: {e}" for e in result[key]["errors"][:3]]
    return "\n".join(lines)


def add_bench_scale_command(bench_commands: Any) -> None:
    """Register `bench scale` on the bench subparsers."""
    scale = bench_commands.add_parser(
        "scale", help="answers/s: embedded model vs 2 front-ends on 1 and on 2 inference servers"
    )
    scale.add_argument("--users", type=int, default=16, help="users asking at once")
    scale.add_argument("--questions", type=int, default=2, help="questions per user")
    scale.add_argument("--cores", default="0,1", help="cores the two inference servers are pinned to (taskset)")
    scale.add_argument("--json", action="store_true")


def cmd_bench_scale(args: Any, settings: Settings, error: type[Exception]) -> int:
    """Run `bench scale` and print its figures."""
    import json
    import sys

    from appliance.build import load_models

    cores = [c.strip() for c in args.cores.split(",") if c.strip()]
    if len(cores) < 2 or args.users < 1 or args.questions < 1:
        raise error("bench scale: --cores names two cores (e.g. 0,1); --users and --questions are at least 1")
    models = load_models(settings)
    models.warm_up()
    progress = None if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    result = run_scale_bench(
        settings,
        models,
        users=args.users,
        per_user=args.questions,
        cores=cores,
        progress=progress,
    )
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0
