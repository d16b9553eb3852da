"""`appliance dataset ...`, `appliance finetune ...`, `appliance adapters ...`: fine-tuning (appliance/finetune/).

`dataset build`, `dataset review`, `dataset delete`, `finetune`, `adapters promote` and `adapters
delete` are store commands (they use the redactor or the loaded model, or change what the service
serves): while `appliance serve` runs they go through its control socket. Listing and showing read
the registries directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from appliance.actors import Actor
from appliance.app import Appliance
from appliance.audit import events as audit_events
from appliance.settings import Settings

STORE_COMMANDS = (
    "dataset.build",
    "dataset.review",
    "dataset.delete",
    "finetune",
    "adapters.evaluate",
    "adapters.promote",
    "adapters.delete",
)


def add_finetune_commands(commands: Any) -> None:
    """Register `dataset`, `finetune` and `adapters` on the root parser's subparsers."""
    dataset = commands.add_parser("dataset", help="training sets from curated files and reviewed feedback")
    sub = dataset.add_subparsers(dest="dataset_command", required=True)
    build = sub.add_parser("build", help="gather, redact, split and register a training set")
    build.add_argument("--name", required=True)
    build.add_argument("--from-file", type=Path, default=None, metavar="JSONL")
    build.add_argument("--from-feedback", action="store_true", help="use feedback an admin accepted")
    build.add_argument("--collection", default=None, help="whose pseudonyms apply (required with --from-file)")
    build.add_argument(
        "--task",
        choices=["answer", "evidence"],
        default="answer",
        help="answer: from --from-file/--from-feedback; evidence: questions written from --collection's documents",
    )
    build.add_argument("--json", action="store_true")
    sub.add_parser("list", help="registered training sets").add_argument("--json", action="store_true")
    for name, helptext in (("show", "one training set's versions"), ("delete", "remove a training set")):
        command = sub.add_parser(name, help=helptext)
        command.add_argument("name")
        command.add_argument("--json", action="store_true")
    feedback = sub.add_parser("feedback", help="feedback events, what each would teach, and its review")
    feedback.add_argument("--json", action="store_true")
    review = sub.add_parser("review", help="accept or reject a feedback event as training data (audited)")
    review.add_argument("seq", type=int, metavar="SEQ")
    choice = review.add_mutually_exclusive_group(required=True)
    choice.add_argument("--accept", action="store_true")
    choice.add_argument("--reject", action="store_true")
    review.add_argument("--reason", required=True)
    review.add_argument("--json", action="store_true")

    finetune = commands.add_parser("finetune", help="train a LoRA adapter on a training set (or a JSONL file)")
    finetune.add_argument("dataset", metavar="DATASET|FILE.jsonl")
    finetune.add_argument("--name", required=True, help="the adapter's name (a new version if it exists)")
    finetune.add_argument("--collection", default=None, help="for a JSONL file: whose pseudonyms apply")
    finetune.add_argument("--rank", type=int, default=None)
    finetune.add_argument("--alpha", type=int, default=None)
    finetune.add_argument("--epochs", type=int, default=None)
    finetune.add_argument("--lr", type=float, default=None, dest="learning_rate")
    finetune.add_argument("--max-steps", type=int, default=None)
    finetune.add_argument("--seed", type=int, default=None)
    finetune.add_argument("--resume", action="store_true", help="continue a stopped run from its last checkpoint")
    finetune.add_argument("--json", action="store_true")

    adapters = commands.add_parser("adapters", help="fine-tuned LoRA adapters: list, show, evaluate, promote, delete")
    asub = adapters.add_subparsers(dest="adapters_command", required=True)
    asub.add_parser("list", help="registered adapters").add_argument("--json", action="store_true")
    for name, helptext in (("show", "an adapter's versions"), ("delete", "remove an adapter and its files")):
        command = asub.add_parser(name, help=helptext)
        command.add_argument("name")
        command.add_argument("--json", action="store_true")
    evaluate = asub.add_parser(
        "evaluate", help="the gate: measure the newest version against the base (held-out data, red team, privacy)"
    )
    evaluate.add_argument("name")
    evaluate.add_argument("--json", action="store_true")
    promote = asub.add_parser(
        "promote", help="let users be served the newest version, if it passes the gate (admins; audited)"
    )
    promote.add_argument("name")
    promote.add_argument("--reason", required=True)
    promote.add_argument("--force", action="store_true", help="promote although it failed the gate (audited)")
    promote.add_argument("--json", action="store_true")


def cmd_dataset(args: argparse.Namespace, settings: Settings, run: Any, error: type[Exception]) -> int:
    """`dataset ...`; store commands go through `run`."""
    from appliance.finetune.datasets import DatasetError, DatasetRegistry

    command = args.dataset_command
    registry = DatasetRegistry(settings.finetune_dir / "datasets")
    try:
        if command == "list":
            rows = [_dataset_row(registry.latest(name)) for name in registry.names()]
            return _print(
                rows,
                args.json,
                lambda r: (
                    f"{r['name']} v{r['version']}: {r['train_examples']} train, "
                    f"{r['heldout_examples']} held out, collections {', '.join(r['collections']) or '-'}"
                ),
            )
        if command == "show":
            rows = [vars(v) for v in registry.versions(args.name)]
            return _print(rows, args.json, lambda r: json.dumps(r, indent=2))
        if command == "feedback":
            return _feedback(settings, args.json)
    except DatasetError as problem:
        raise error(str(problem)) from None
    if command == "build":
        request = {
            "name": args.name,
            "from_file": str(args.from_file.absolute()) if args.from_file else None,
            "from_feedback": args.from_feedback,
            "collection": args.collection,
            "task": args.task,
        }
        built = run(settings, "dataset.build", request, _progress_lines("dataset build"))
        print(json.dumps(built, indent=2) if args.json else _built(built))
        return 0
    if command == "review":
        request = {"seq": args.seq, "accept": args.accept, "reason": args.reason}
        done = run(settings, "dataset.review", request)
        print(json.dumps(done) if args.json else f"feedback {args.seq} {done['review']}")
        return 0
    done = run(settings, "dataset.delete", {"name": args.name})
    print(json.dumps(done) if args.json else f"deleted {done['versions']} version(s) of {args.name}")
    return 0


def _progress_lines(label: str) -> Callable[[str, Mapping[str, Any]], None]:
    """An event handler that prints each progress line of a long command on stderr, as it comes."""

    def on_event(kind: str, payload: Mapping[str, Any]) -> None:
        if kind == "progress" and "line" in payload:
            print(f"{label}: {payload['line']}", file=sys.stderr, flush=True)

    return on_event


def cmd_finetune(args: argparse.Namespace, settings: Settings, run: Any, error: type[Exception]) -> int:
    """`finetune DATASET|FILE --name NAME`: progress on stderr, the registered adapter on stdout."""
    request = {
        "dataset": args.dataset,
        "name": args.name,
        "collection": args.collection,
        "resume": args.resume,
        "overrides": {
            "rank": args.rank,
            "alpha": args.alpha,
            "epochs": args.epochs,
            "learning_rate": args.learning_rate,
            "max_steps": args.max_steps,
            "seed": args.seed,
        },
    }
    bar = _Progress(enabled=sys.stderr.isatty() or not args.json)

    def on_event(kind: str, payload: Mapping[str, Any]) -> None:
        if kind == "progress":
            bar.show(payload)

    done = run(settings, "finetune", request, on_event)
    bar.close()
    if args.json:
        print(json.dumps(done, indent=2))
    else:
        print(
            f"adapter {done['name']} v{done['version']} (sha256 {done['sha256'][:16]}...) from data set "
            f"{done['dataset']['name']} v{done['dataset']['version']}: loss {done['losses']['first']:.3f} -> "
            f"{done['losses']['last']:.3f} over {done['losses']['steps']} steps, {done['seconds']:.0f} s on "
            f"{done['device']}; state {done['state']}"
        )
    return 0


def cmd_adapters(args: argparse.Namespace, settings: Settings, run: Any, error: type[Exception]) -> int:
    """`adapters list|show|promote|delete`."""
    from appliance.finetune.adapters import AdapterError, AdapterRegistry

    registry = AdapterRegistry(settings.finetune_dir / "adapters")
    command = args.adapters_command
    try:
        if command == "list":
            rows = [_adapter_row(registry.latest(name)) for name in registry.names()]
            return _print(
                rows,
                args.json,
                lambda r: (
                    f"{r['name']} v{r['version']} ({r['state']}): data "
                    f"{r['dataset']}, collections {', '.join(r['collections']) or '-'}"
                ),
            )
        if command == "show":
            rows = [vars(v) for v in registry.versions(args.name)]
            return _print(rows, args.json, lambda r: json.dumps(r, indent=2))
    except AdapterError as problem:
        raise error(str(problem)) from None
    on_event = _progress_lines("gate")
    if command == "evaluate":
        report = run(settings, "adapters.evaluate", {"name": args.name}, on_event)
        print(json.dumps(report, indent=2) if args.json else report["table"])
        return 0 if report["passed"] else 1
    if command == "promote":
        request = {"name": args.name, "reason": args.reason, "force": args.force}
        done = run(settings, "adapters.promote", request, on_event)
        shown = f"{args.name} v{done['version']} promoted"
        print(json.dumps(done) if args.json else shown + (" over a failed gate" if args.force else ""))
        return 0
    done = run(settings, "adapters.delete", {"name": args.name})
    print(json.dumps(done) if args.json else f"deleted {done['versions']} version(s) of {args.name}")
    return 0


def run_finetune_command(app: Appliance, actor: Actor, name: str, args: Mapping[str, Any], emit: Any) -> Any:
    """The store side of these commands (in this process, or in the service behind the control socket)."""
    from appliance.build import adapter_host, base_model_path, lora_trainer, question_writer
    from appliance.finetune.adapters import AdapterRegistry
    from appliance.finetune.datasets import DatasetRegistry, build
    from appliance.finetune.feedback_review import ACCEPT, REJECT, review_feedback
    from appliance.finetune.gate import evaluate_adapter, promote_adapter
    from appliance.finetune.training import FinetuneRequest, finetune

    datasets = DatasetRegistry(app.settings.finetune_dir / "datasets")
    adapters = AdapterRegistry(app.settings.finetune_dir / "adapters")
    if name == "dataset.build":
        source = Path(args["from_file"]) if args.get("from_file") else None
        built = build(
            app,
            datasets,
            str(args["name"]),
            actor=actor,
            collection=args.get("collection"),
            from_file=source,
            from_feedback=bool(args.get("from_feedback")),
            task=str(args.get("task") or "answer"),
            question_writer=question_writer(app.settings) if args.get("task") == "evidence" else None,
            progress=lambda line: emit("progress", {"line": line}),
        )
        return vars(built)
    if name == "dataset.review":
        decision = ACCEPT if args.get("accept") else REJECT
        return review_feedback(app.audit, int(args["seq"]), decision, str(args["reason"]), actor)
    if name == "dataset.delete":
        versions = datasets.delete(str(args["name"]))
        app.audit.record(actor, audit_events.DATASET_DELETE, subject=str(args["name"]), details={"versions": versions})
        return {"name": args["name"], "versions": versions}
    if name == "finetune":
        dataset = str(args["dataset"])
        if dataset.endswith(".jsonl"):
            source = Path(dataset)
            dataset = f"{args['name']}-data"
            build(app, datasets, dataset, actor=actor, collection=args.get("collection"), from_file=source)
        request = FinetuneRequest(
            dataset, str(args["name"]), dict(args.get("overrides") or {}), bool(args.get("resume"))
        )

        def progress(step: Any) -> None:
            emit("progress", {"step": step.step, "total": step.total_steps, "loss": step.loss, "seconds": step.seconds})

        version = finetune(
            app, lora_trainer(), adapter_host(app), base_model_path(app.settings), request, actor, progress
        )
        return vars(version)
    if name == "adapters.evaluate":
        report = evaluate_adapter(app, str(args["name"]), actor, lambda line: emit("progress", {"line": line}))
        return {**report.to_json(), "table": report.table()}
    if name == "adapters.promote":
        done = promote_adapter(
            app,
            str(args["name"]),
            str(args.get("reason") or ""),
            actor,
            force=bool(args.get("force")),
            progress=lambda line: emit("progress", {"line": line}),
        )
        return vars(done)
    removed = adapters.delete(str(args["name"]))
    app.audit.record(
        actor,
        audit_events.ADAPTER_DELETE,
        subject=str(args["name"]),
        details={"versions": [{"version": v.version, "sha256": v.sha256} for v in removed]},
    )
    return {"name": args["name"], "versions": len(removed)}


class _Progress:
    """Step, loss and time left on one stderr line."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def show(self, payload: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        step, total, seconds = int(payload["step"]), int(payload["total"]), float(payload["seconds"])
        left = seconds / max(step, 1) * (total - step)
        width = 30
        filled = int(width * step / max(total, 1))
        line = f"\rtraining [{'#' * filled}{'.' * (width - filled)}] step {step}/{total} loss {payload['loss']:.3f} "
        print(line + f"about {left:.0f} s left ", end="", file=sys.stderr, flush=True)
        self.shown = True

    def close(self) -> None:
        if self.shown:
            print(file=sys.stderr)


def _feedback(settings: Settings, as_json: bool) -> int:
    from appliance.build import build_records
    from appliance.finetune.feedback_review import feedback_items

    with build_records(settings) as records:
        items = [item.to_json() for item in feedback_items(records.audit)]
    return _print(
        items,
        as_json,
        lambda i: (
            f"{i['seq']}: {i['rating']} on answer {i['ask_seq']} "
            f"({i['collection']}): {i['review'] or 'not reviewed'}{'' if i['example'] else ', nothing to learn'}"
        ),
    )


def _built(built: Mapping[str, Any]) -> str:
    return (
        f"data set {built['name']} v{built['version']}: {built['train_examples']} training and "
        f"{built['heldout_examples']} held-out examples, sha256 {built['sha256'][:16]}..., redacted "
        f"{', '.join(f'{k} {v}' for k, v in sorted(built['redactions'].items())) or 'nothing'}"
    )


def _dataset_row(dataset: Any) -> dict[str, Any]:
    return {
        k: getattr(dataset, k)
        for k in ("name", "version", "train_examples", "heldout_examples", "collections", "sha256")
    }


def _adapter_row(version: Any) -> dict[str, Any]:
    return {
        "name": version.name,
        "version": version.version,
        "state": version.state,
        "dataset": f"{version.dataset['name']} v{version.dataset['version']}",
        "collections": version.collections,
        "sha256": version.sha256,
    }


def _print(rows: list[dict[str, Any]], as_json: bool, line: Any) -> int:
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(line(row))
    return 0
