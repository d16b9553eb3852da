"""`appliance redact add|remove|import`: operator terms for a collection's redaction (operator_terms.py).

Values come from standard input (`-`) or, for `import`, from a file this command reads, never
from the command line, so they stay out of shell history and the process list. While the
service runs they go to it over the 0600 control socket, like every store command.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.settings import Settings

RunStore = Callable[[Settings, str, dict[str, Any]], Any]
MAX_IMPORT_BYTES = 20 * 1024 * 1024


def add_redact_commands(commands: Any) -> None:
    """Register `redact` and its subcommands on the root parser's subparsers."""
    redact = commands.add_parser("redact", help="add values to a collection's redaction, or take one off")
    sub = redact.add_subparsers(dest="redact_command", required=True)
    add = sub.add_parser("add", help="redact a value (read from stdin) everywhere in a collection, now and from now on")
    add.add_argument("stdin", choices=["-"], metavar="-", help="the value is read from standard input")
    add.add_argument("--type", required=True, dest="entity_type", help="entity type, e.g. PERSON")
    add.add_argument("--collection", required=True)
    add.add_argument("--dry-run", action="store_true", help="report the counts, change nothing")
    add.add_argument("--json", action="store_true")
    remove = sub.add_parser("remove", help="stop redacting a value (read from stdin) that was redacted by mistake")
    remove.add_argument("stdin", choices=["-"], metavar="-")
    remove.add_argument("--collection", required=True)
    remove.add_argument("--json", action="store_true")
    imports = sub.add_parser(
        "import", help="redact every value of a list (one per line: a staff or customer directory)"
    )
    imports.add_argument("file", type=Path, metavar="FILE")
    imports.add_argument("--type", required=True, dest="entity_type")
    imports.add_argument("--collection", required=True)
    imports.add_argument("--dry-run", action="store_true")
    imports.add_argument("--json", action="store_true")


def cmd_redact(args: argparse.Namespace, settings: Settings, run: RunStore, error: type[Exception]) -> int:
    request: dict[str, Any] = {"collection": args.collection}
    if args.redact_command == "remove":
        request["value"] = _stdin(error)
        result = run(settings, "redact.remove", request)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            state = "was already on" if result["already_ignored"] else "is now on"
            print(f"the value {state} the ignore list of {args.collection}; text already redacted stays redacted")
        return 0
    request |= {"entity_type": args.entity_type.strip().upper(), "dry_run": args.dry_run}
    if args.redact_command == "add":
        request["values"] = [_stdin(error)]
    else:
        request["values"] = _read_list(args.file, error)
    result = run(settings, f"redact.{args.redact_command}", request)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    would = "would be" if result["dry_run"] else "were"
    print(
        f"{result['values']} value(s) of type {result['type']} in {result['collection']}: "
        f"{result['documents_re_redacted']} document(s) and {result['chunks_re_redacted']} chunk(s) {would} re-redacted "
        f"({result['occurrences']} occurrence(s))"
    )
    if result["audit_events_containing"]:
        print(
            f"{result['audit_events_containing']} earlier audit event(s) contain a value; the audit log is append-only "
            "(see README: Redaction terms)"
        )
    return 0


def _stdin(error: type[Exception]) -> str:
    if sys.stdin.isatty():
        raise error("type the value and end with Ctrl-D, or pipe it in: the value is never taken from the command line")
    value = sys.stdin.read()
    if not value.strip():
        raise error("no value on standard input")
    if len(value.strip().splitlines()) > 1:
        raise error("one value per call on standard input; use `appliance redact import FILE` for a list")
    return value.strip()


def _read_list(path: Path, error: type[Exception]) -> list[str]:
    try:
        if path.stat().st_size > MAX_IMPORT_BYTES:
            raise error(f"{path}: larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text") from None
    except OSError as problem:
        raise error(f"{path}: {problem.strerror or problem}") from None
    values = [line.strip() for line in text.splitlines() if line.strip()]
    if not values:
        raise error(f"{path}: no values (one per line)")
    return values
