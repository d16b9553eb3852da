"""The `appliance` command line: a thin surface over the core (no logic of its own).

Heavy libraries are imported only after the offline switches are set, and only by
the commands that need them, so `appliance --help` is instant.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from appliance.actors import os_operator
from appliance.cli.audit import add_audit_commands, cmd_audit
from appliance.cli.backup import add_backup_commands, cmd_backup, cmd_restore
from appliance.cli.bench import add_bench_commands, cmd_bench
from appliance.cli.finetune import add_finetune_commands, cmd_adapters, cmd_dataset, cmd_finetune
from appliance.cli.redact import add_redact_commands, cmd_redact
from appliance.cli.selftest import add_selftest_command, cmd_selftest
from appliance.cli.serve import add_serve_command, cmd_serve
from appliance.cli.tabular import add_tabular_commands, cmd_tabular
from appliance.cli.users import add_user_commands, cmd_users
from appliance.file_modes import use_private_umask
from appliance.offline import apply_offline_environment
from appliance.settings import Settings
from appliance.store.collection_names import DEFAULT_COLLECTION

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """An expected failure: printed as one line, no traceback."""


def parser() -> argparse.ArgumentParser:
    """The whole command line: the store commands here, every other group from its own module."""
    root = argparse.ArgumentParser(prog="appliance", description="Privacy-first on-prem document appliance.")
    root.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = root.add_subparsers(dest="command", required=True)
    for add in (
        _add_ingest_command,
        _add_docs_commands,
        _add_ask_command,
        _add_feedback_command,
        add_audit_commands,
        add_user_commands,
        add_redact_commands,
        add_backup_commands,
        add_serve_command,
        add_selftest_command,
        add_bench_commands,
        add_tabular_commands,
        add_finetune_commands,
    ):
        add(commands)
    commands.add_parser("demo", help="ingest the embedded demo corpus and show what was redacted")
    return root


def _add_ingest_command(commands: Any) -> None:
    ingest = commands.add_parser("ingest", help="redact, chunk, embed and index files or folders")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest.add_argument("--collection", default=DEFAULT_COLLECTION)
    ingest.add_argument("--json", action="store_true", help="print the documented JSON report")
    ingest.add_argument(
        "--warm-up", action="store_true", help="load the models before the run starts (its times exclude loading)"
    )


def _add_docs_commands(commands: Any) -> None:
    docs = commands.add_parser("docs", help="list, show or delete stored documents")
    docs_commands = docs.add_subparsers(dest="docs_command", required=True)
    for name, helptext in (
        ("list", "list documents"),
        ("show", "stored text and chunk spans"),
        ("delete", "remove everywhere"),
    ):
        sub = docs_commands.add_parser(name, help=helptext)
        if name != "list":
            sub.add_argument("doc_id", metavar="DOC_ID")
        sub.add_argument("--collection", default=None)
        sub.add_argument("--json", action="store_true")


def _add_ask_command(commands: Any) -> None:
    ask = commands.add_parser("ask", help="answer a question from the documents, with verified citations")
    ask.add_argument("question", metavar="QUESTION")
    ask.add_argument("--json", action="store_true", help="print the documented JSON")
    ask.add_argument("--mode", choices=["rag", "direct"], default="rag", help="direct: no retrieval, ungrounded")
    ask.add_argument(
        "--adapter", default=None, help="answer with this fine-tuned LoRA adapter (appliance adapters list)"
    )
    ask.add_argument("--top-k", type=int, default=None, help="chunks to retrieve (default: answering.top_k)")
    ask.add_argument("--collection", action="append", default=None, help="collection to search (repeatable)")


def _add_feedback_command(commands: Any) -> None:
    feedback = commands.add_parser("feedback", help="rate an answer (by its audit event number) and correct it")
    feedback.add_argument("ask_seq", type=int, metavar="EVENT", help="the answer's audit event (ask --json: audit_seq)")
    feedback.add_argument("--rating", choices=["up", "down"], required=True)
    feedback.add_argument("--correction", default="", help="what the answer should have said (redacted before storing)")
    feedback.add_argument("--collection", default=DEFAULT_COLLECTION, help="collection whose pseudonyms apply")


def main(argv: Sequence[str] | None = None) -> int:
    use_private_umask()  # before anything is created: APPLIANCE_HOME is owner-only
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("presidio-analyzer", "chromadb", "sentence_transformers", "httpx"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.debug else logging.ERROR)
    try:
        settings = Settings()
        apply_offline_environment(settings.home, settings.runtime.threads)
        return COMMANDS[args.command](args, settings)
    except Exception as error:  # one line, unless --debug
        if args.debug:
            raise
        print(f"appliance: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE if isinstance(error, CommandError) else EXIT_FAILED


def _one_line(error: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        return f"invalid settings: {problems}"
    return " ".join(str(error).split()) or type(error).__name__


def _build(settings: Settings) -> Any:
    from appliance.build import build

    return build(settings)


def _run(settings: Settings, command: str, args: dict[str, Any], on_event: Any = None) -> Any:
    """A store command, through the running service's control socket if there is one, else here."""
    from appliance.cli.control import CommandFailed, run_anywhere

    try:
        return run_anywhere(settings, command, args, on_event or (lambda _kind, _payload: None))
    except CommandFailed as error:
        if error.usage:
            raise CommandError(str(error)) from None
        raise


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    bar = _progress_bar(enabled=not args.json and sys.stderr.isatty())

    def on_event(kind: str, payload: Any) -> None:
        if kind == "progress":
            from ingestion.report import Progress

            bar.update(Progress(**payload))

    paths = [str(p.absolute()) for p in args.paths]
    report = _run(
        settings, "ingest", {"paths": paths, "collection": args.collection, "warm_up": args.warm_up}, on_event
    )
    bar.close()
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        for doc in report["ingested"]:
            print(
                f"ingested   {doc['path']}  v{doc['version']}, {doc['chunks']} chunks, redacted {_counts(doc['redactions'])}"
            )
        for item in report["unchanged"]:
            print(f"unchanged  {item['path']}")
        for item in report["failed"]:
            print(f"FAILED     {item['path']}: {item['error']}")
        ingested, unchanged, failed = (len(report[k]) for k in ("ingested", "unchanged", "failed"))
        print(f"{ingested} ingested, {unchanged} unchanged, {failed} failed")
    return EXIT_FAILED if report["failed"] else EXIT_OK


def cmd_docs(args: argparse.Namespace, settings: Settings) -> int:
    request: dict[str, Any] = {"collections": [args.collection] if args.collection else []}
    if args.docs_command != "list":
        request["doc_id"] = args.doc_id
    result = _run(settings, f"docs.{args.docs_command}", request)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    elif args.docs_command == "list":
        for doc in result:
            print(f"{doc['collection']:<12} v{doc['version']:<3} {doc['chunks']:>5} chunks  {doc['doc_id']}")
        print(f"{len(result)} documents")
    elif args.docs_command == "show":
        print(f"{result['doc_id']} ({result['collection']}, v{result['version']}, {result['kind']})")
        print(f"redacted: {_counts(result['redactions'])}")
        print(result["text"])
    else:
        print(f"deleted {result['deleted']} ({result['collection']}, v{result['version']}, {result['chunks']} chunks)")
    return EXIT_OK


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    streaming = not args.json and sys.stdout.isatty()

    def on_event(kind: str, payload: Any) -> None:
        if kind == "token":
            print(payload["text"], end="", flush=True)

    request = {
        "question": args.question,
        "collections": args.collection or [DEFAULT_COLLECTION],
        "mode": args.mode,
        "top_k": args.top_k,
        "stream": streaming,
        "adapter": args.adapter,
    }
    result = _run(settings, "ask", request, on_event)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return EXIT_OK
    print("" if streaming and not result["refused"] else result["answer"])
    if result["mode"] == "direct":
        print("(direct answer: no documents were consulted; not grounded)")
    for citation in result["citations"]:
        page = f", page {citation['page']}" if citation["page"] else ""
        print(f'[{citation["n"]}] {Path(citation["source"]).name}{page}: "{citation["quote"]}"')
    return EXIT_OK


def cmd_feedback(args: argparse.Namespace, settings: Settings) -> int:
    request = {
        "ask_seq": args.ask_seq,
        "rating": args.rating,
        "correction": args.correction,
        "collections": [args.collection],
    }
    result = _run(settings, "feedback", request)
    print(f"feedback recorded as audit event {result['seq']}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from appliance.demo.runner import run_demo

    with _build(settings) as app:
        return run_demo(app, actor=os_operator())


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing"


class _NoBar:
    def update(self, _event: object) -> None: ...

    def close(self) -> None: ...


class _FileBar:
    """A tqdm bar over files, advanced on each file's final stage."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=0, unit="file", file=sys.stderr, dynamic_ncols=True)

    def update(self, event: Any) -> None:
        self._bar.total = event.file_count
        self._bar.set_description(f"{event.stage:<9} {Path(event.path).name[:40]}")
        if event.stage in {"ingested", "unchanged", "failed"}:
            self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


def _progress_bar(enabled: bool) -> _NoBar | _FileBar:
    return _FileBar() if enabled else _NoBar()


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "ingest": cmd_ingest,
    "docs": cmd_docs,
    "ask": cmd_ask,
    "feedback": cmd_feedback,
    "demo": cmd_demo,
    "bench": lambda args, settings: cmd_bench(args, settings, CommandError),
    "audit": lambda args, settings: cmd_audit(args, settings, CommandError),
    "users": lambda args, settings: cmd_users(args, settings, CommandError),
    "backup": lambda args, settings: cmd_backup(args, settings, _run, CommandError),
    "redact": lambda args, settings: cmd_redact(args, settings, _run, CommandError),
    "restore": lambda args, settings: cmd_restore(args, settings, CommandError),
    "serve": lambda args, settings: cmd_serve(args, settings, CommandError),
    "selftest": cmd_selftest,
    "tabular": lambda args, settings: cmd_tabular(args, settings, _run, CommandError),
    "dataset": lambda args, settings: cmd_dataset(args, settings, _run, CommandError),
    "finetune": lambda args, settings: cmd_finetune(args, settings, _run, CommandError),
    "adapters": lambda args, settings: cmd_adapters(args, settings, _run, CommandError),
}


if __name__ == "__main__":
    sys.exit(main())
