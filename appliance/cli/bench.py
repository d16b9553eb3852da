"""`appliance bench ...`: every benchmark prints its figures beside a naive baseline measured in the same run."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.bench.ingest_workers import add_bench_workers_command, cmd_bench_workers
from appliance.bench.scale import add_bench_scale_command, cmd_bench_scale
from appliance.bench.web import add_bench_web_command, cmd_bench_web
from appliance.settings import Settings

if TYPE_CHECKING:
    from appliance.build import Models
    from appliance.finetune.adapters import ServedAdapter

PII_DATA = Path("pii") / "presidio_synth_dataset_v2.json"  # under settings.bench.eval_dir
PII_PUBLISHED = Path("pii") / "presidio_published_results.md"
QA_SQUAD = Path("qa") / "haystack_squad2_dev_small.json"
QA_DOCUGAMI = Path("qa") / "docugami_sec10q"


def add_bench_commands(commands: Any) -> None:
    """Register `bench` and its subcommands on the root parser's subparsers."""
    bench = commands.add_parser("bench", help="benchmarks that print figures against a naive baseline")
    bench_commands = bench.add_subparsers(dest="bench_command", required=True)
    redact = bench_commands.add_parser("redact", help="redaction quality on labelled PII vs plain Presidio")
    redact.add_argument("--data", type=Path, default=None, help=f"default: {PII_DATA} in the eval folder")
    redact.add_argument("--published", type=Path, default=None, help=f"default: {PII_PUBLISHED} in the eval folder")
    redact.add_argument("--limit", type=int, default=None, help="score only the first N samples")
    redact.add_argument("--json", action="store_true")
    qa = bench_commands.add_parser(
        "ask", help="retrieval recall, verbatim rate, refusals, F1 and latency on ../shared/eval/qa"
    )
    qa.add_argument("--limit", type=int, default=None, help="SQuAD questions (half answerable, half not)")
    qa.add_argument("--docugami-limit", type=int, default=30, help="Docugami 10-Q questions (0 skips them)")
    qa.add_argument("--article", default=None, help="only this SQuAD article, e.g. Computational_complexity_theory")
    qa.add_argument("--adapter", default=None, metavar="NAME", help="also ask every question with this adapter")
    qa.add_argument(
        "--abstain",
        action="store_true",
        help="measure the adapter deciding abstention (an empty pick refuses) even if the gate has not approved it",
    )
    qa.add_argument("--json", action="store_true")
    speed = bench_commands.add_parser("ingest", help="ingestion speed vs a naive baseline and the stage limit")
    speed.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="default: demo corpus + three SEC 10-Q PDFs")
    speed.add_argument("--known-values", type=int, default=10_000, help="values in the vault before the pipeline run")
    speed.add_argument("--json", action="store_true")
    scale = bench_commands.add_parser("retrieval", help="hybrid retrieval latency at N chunks vs brute force")
    scale.add_argument("--chunks", type=int, default=10_000, help="real sentence-sized chunks in the store")
    scale.add_argument("--questions", type=int, default=200, help="SQuAD questions timed")
    scale.add_argument("--json", action="store_true")
    retro = bench_commands.add_parser("retroactive", help="the retroactive redaction pass at N stored chunks vs naive")
    retro.add_argument("--chunks", type=int, default=10_000, help="real sentence-sized chunks in the store")
    retro.add_argument("--values", type=int, default=100, help="names added to the vault after the chunks")
    retro.add_argument("--json", action="store_true")
    add_bench_web_command(bench_commands)
    add_bench_scale_command(bench_commands)
    add_bench_workers_command(bench_commands)
    tabular = bench_commands.add_parser(
        "tabular", help="tabular models: CV metrics, SHAP speed vs baselines, decisions"
    )
    tabular.add_argument("--rows", type=int, default=100_000, help="rows of the synthetic table")
    tabular.add_argument("--folds", type=int, default=5, help="cross-validation folds on German credit")
    tabular.add_argument("--json", action="store_true")
    adapters = bench_commands.add_parser(
        "adapters", help="LoRA adapters switched on one base vs a model per adapter; training time"
    )
    adapters.add_argument("--adapters", type=int, default=8, help="adapters loaded beside the base")
    adapters.add_argument("--requests", type=int, default=16, help="answers per latency series")
    adapters.add_argument("--train-examples", type=int, default=100, help="examples trained on (0: skip training)")
    adapters.add_argument("--json", action="store_true")
    audit_speed = bench_commands.add_parser("audit", help="audit record() and verify speed vs naive baselines")
    audit_speed.add_argument("--events", type=int, default=100_000, help="events in the log that verify checks")
    audit_speed.add_argument("--json", action="store_true")


def cmd_bench(args: argparse.Namespace, settings: Settings, error: type[Exception]) -> int:
    """Run the benchmark the arguments name and print its figures."""
    if args.bench_command == "ingest":
        return _bench_ingest(args, settings, error)
    if args.bench_command == "ask":
        return _bench_ask(args, settings, error)
    if args.bench_command == "retroactive":
        return _bench_retroactive(args, settings, error)
    if args.bench_command == "retrieval":
        return _bench_retrieval(args, settings, error)
    if args.bench_command == "tabular":
        return _bench_tabular(args, settings, error)
    if args.bench_command == "adapters":
        return _bench_adapters(args, settings, error)
    if args.bench_command == "web":
        return cmd_bench_web(args, settings, error)
    if args.bench_command == "scale":
        return cmd_bench_scale(args, settings, error)
    if args.bench_command == "workers":
        return cmd_bench_workers(args, settings, error)
    if args.bench_command == "audit":
        from appliance.bench.audit import format_report, run_audit_bench

        if args.events < 1:
            raise error("--events must be at least 1")
        audit_result = run_audit_bench(args.events, None if args.json else lambda line: print(line, file=sys.stderr))
        print(json.dumps(audit_result, indent=2) if args.json else format_report(audit_result))
        return 0
    return _bench_redact(args, settings, error)


def _bench_ask(args: argparse.Namespace, settings: Settings, error: type[Exception]) -> int:
    from appliance.bench.ask import format_report, run_ask_bench
    from appliance.build import load_models

    squad = settings.bench.eval_dir / QA_SQUAD
    if not squad.is_file():
        raise error(f"no QA data at {squad}")
    progress = (lambda line: print(line, file=sys.stderr)) if not args.json else None
    if args.abstain and not args.adapter:
        raise error("--abstain needs --adapter NAME")
    models = load_models(settings)
    adapter = _bench_adapter(settings, models, args.adapter, args.abstain, error) if args.adapter else None
    try:
        result = run_ask_bench(
            settings,
            models,
            squad_path=squad,
            docugami_dir=settings.bench.eval_dir / QA_DOCUGAMI,
            limit=args.limit,
            docugami_limit=args.docugami_limit,
            progress=progress,
            adapter=adapter,
            article=args.article,
        )
    except ValueError as exc:  # an unknown article
        raise error(str(exc)) from exc
    print(json.dumps(result, indent=2, default=str) if args.json else format_report(result))
    return 0


def _bench_adapter(
    settings: Settings, models: Models, name: str, abstain: bool, error: type[Exception]
) -> ServedAdapter:
    """The newest version of adapter `name` in this home, checked against the configured base."""
    import dataclasses

    from appliance.finetune.adapters import AdapterError, AdapterRegistry

    try:
        served = AdapterRegistry(settings.finetune_dir / "adapters").served(name, models.generator.model_sha256)
    except AdapterError as exc:
        raise error(str(exc)) from exc
    return dataclasses.replace(served, abstains=True) if abstain else served


def _bench_ingest(args: argparse.Namespace, settings: Settings, error: type[Exception]) -> int:
    from appliance.bench.ingest import format_report, run_ingest_bench
    from appliance.build import load_models
    from appliance.demo.runner import DEMO_CORPUS

    sec_filings = sorted((settings.bench.eval_dir / QA_DOCUGAMI / "docs").glob("2023 Q[123] AAPL.pdf"))
    paths = list(args.paths) or [DEMO_CORPUS, *sec_filings]
    progress = (lambda line: print(line, file=sys.stderr)) if not args.json else None
    if args.known_values < 0:
        raise error("--known-values must be 0 or more")
    result = run_ingest_bench(settings, load_models(settings), paths, progress, known_values=args.known_values)
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0


def _bench_retroactive(args: argparse.Namespace, settings: Settings, error: type[Exception]) -> int:
    from appliance.bench.retroactive import format_report, run_retroactive_bench

    if args.chunks < 1 or args.values < 1:
        raise error("--chunks and --values must be at least 1")
    return _run_at_scale(
        run_retroactive_bench, format_report, settings, args.json, chunks=args.chunks, values=args.values
    )


def _bench_retrieval(args: argparse.Namespace, settings: Settings, error: type[Exception]) -> int:
    from appliance.bench.retrieval import format_report, run_retrieval_bench

    if args.chunks < 1 or args.questions < 1:
        raise error("--chunks and --questions must be at least 1")
    return _run_at_scale(
        run_retrieval_bench, format_report, settings, args.json, chunks=args.chunks, questions=args.questions
    )


def _run_at_scale(
    run: Callable[..., dict[str, Any]],
    report: Callable[[dict[str, Any]], str],
    settings: Settings,
    as_json: bool,
    **sizes: int,
) -> int:
    """A benchmark over a store of real chunks from the eval folder: run it with progress on stderr, print it."""
    from appliance.build import load_models

    result = run(
        settings,
        load_models(settings),
        eval_dir=settings.bench.eval_dir,
        progress=lambda line: print(line, file=sys.stderr),
        **sizes,
    )
    print(json.dumps(result, indent=2) if as_json else report(result))
    return 0


def _bench_tabular(args: argparse.Namespace, settings: Settings, error: type[Exception]) -> int:
    from appliance.bench.tabular import GERMAN, format_report, run_tabular_bench
    from appliance.build import load_models

    if not (settings.bench.eval_dir / GERMAN).is_file():
        raise error(f"no German credit table at {settings.bench.eval_dir / GERMAN}")
    if args.rows < 1000 or args.folds < 2:
        raise error("--rows must be at least 1000 and --folds at least 2")
    result = run_tabular_bench(
        settings,
        load_models(settings),
        eval_dir=settings.bench.eval_dir,
        synthetic_rows=args.rows,
        folds=args.folds,
        progress=lambda line: print(line, file=sys.stderr),
    )
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0


def _bench_adapters(args: argparse.Namespace, settings: Settings, error: type[Exception]) -> int:
    from appliance.bench.adapters import format_report, run_adapters_bench

    if not 1 <= args.adapters <= 64 or args.requests < 2 or args.train_examples < 0:
        raise error("--adapters must be 1 to 64, --requests at least 2, --train-examples 0 or more")
    result = run_adapters_bench(
        settings, adapters=args.adapters, requests=args.requests, train_examples=args.train_examples
    )
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0


def _bench_redact(args: argparse.Namespace, settings: Settings, error: type[Exception]) -> int:
    from appliance.bench.redact import run_redaction_bench
    from appliance.build import baseline_detector, load_models
    from appliance.redaction.redactor import MergedDetector

    data = args.data or settings.bench.eval_dir / PII_DATA
    published = args.published or settings.bench.eval_dir / PII_PUBLISHED
    if not data.is_file():
        raise error(f"no labelled data at {data}")
    ours = MergedDetector(load_models(settings).detector)
    baseline = MergedDetector(baseline_detector(settings))
    progress = (lambda line: print(line, file=sys.stderr)) if sys.stderr.isatty() and not args.json else None
    result = run_redaction_bench(
        ours,
        baseline,
        data,
        published if published.is_file() else None,
        args.limit,
        progress,
        redacted_types=settings.redaction.redacted_types,
        propagated_types=settings.redaction.propagated_types if settings.redaction.propagate_known_values else (),
    )
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "table"}, indent=2))
    else:
        print(result["table"])
    return 0
