"""`appliance audit ...`: verify, search, export, verify-export, public-key, purge.

The audit database may be written by several processes at once, so these commands do
not take the store lock and work while the service runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from appliance.actors import os_operator
from appliance.settings import Settings

EXIT_OK, EXIT_FAILED = 0, 1


def add_audit_commands(commands: Any) -> None:
    """Register `audit` and its subcommands on the root parser's subparsers."""
    audit = commands.add_parser("audit", help="verify, search and export the tamper-evident audit log")
    sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = sub.add_parser("verify", help="check every hash and link, and the signed checkpoint; exit 1 if tampered")
    verify.add_argument("--json", action="store_true")
    search = sub.add_parser("search", help="find events by time, actor, action and text")
    _filter_arguments(search)
    search.add_argument("--text", default=None, help="case-insensitive text in the subject or details")
    search.add_argument("--limit", type=int, default=1000)
    search.add_argument("--json", action="store_true")
    export = sub.add_parser("export", help="write a signed bundle (zip) for an outside examiner")
    export.add_argument("--out", type=Path, required=True, metavar="FILE")
    export.add_argument(
        "--no-plots", action="store_true", help="leave out the waterfall plot of each tabular decision (faster)"
    )
    _filter_arguments(export)
    check = sub.add_parser("verify-export", help="check a bundle's signature, file hashes and chain")
    check.add_argument("bundle", type=Path, metavar="FILE")
    check.add_argument("--public-key", type=Path, default=None, metavar="KEYFILE", help="PEM obtained separately")
    sub.add_parser("public-key", help="print the appliance's Ed25519 public key (PEM)")
    show = sub.add_parser("show", help="one event; a tabular decision is re-computed from its registered model")
    show.add_argument("seq", type=int, metavar="SEQ")
    show.add_argument("--json", action="store_true")
    purge = sub.add_parser("purge", help="remove events past the retention period (audited)")
    purge.add_argument("--days", type=int, default=None, help="default: audit.retention_days")


def _filter_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", default=None, help="ISO date or date-time, UTC unless an offset is given")
    parser.add_argument("--until", default=None, help="ISO date (inclusive) or date-time (exclusive)")
    parser.add_argument("--actor", default=None)
    parser.add_argument("--action", default=None, help="exact action, or a prefix ending in * (e.g. 'docs.*')")


def cmd_audit(args: argparse.Namespace, settings: Settings, error: type[Exception]) -> int:
    """Run one audit subcommand; `error` is the CLI's one-line error type."""
    from appliance.audit.chain import verify_bundle

    if args.audit_command == "verify-export":
        return _verify_export(args, verify_bundle, error)
    from appliance.audit.search import BadFilter
    from appliance.build import build_records

    records = build_records(settings)
    log = records.audit
    try:
        if args.audit_command == "verify":
            return _verify(args, log, settings)
        if args.audit_command == "public-key":
            print(log.signer.public_key_pem.decode(), end="")
            return EXIT_OK
        if args.audit_command == "purge":
            return _purge(args, log, settings, error)
        if args.audit_command == "show":
            return _show(args, log, settings, error)
        try:
            return _search(args, log) if args.audit_command == "search" else _export(args, log)
        except BadFilter as problem:
            raise error(str(problem)) from None
    finally:
        records.close()


def _show(args: argparse.Namespace, log: Any, settings: Settings, error: type[Exception]) -> int:
    """An event as recorded; for a tabular decision, whether the registered model still gives it (exit 1 if not)."""
    from appliance.audit import events as audit_events
    from appliance.build import tree_learner
    from appliance.tabular.registry import ModelRegistry, RegistryError
    from appliance.tabular.review import recompute

    found = list(log.events("seq = :seq", {"seq": args.seq}))
    if not found:
        raise error(f"no audit event {args.seq}")
    event = found[0]
    if event["action"] != audit_events.TABULAR_PREDICT:
        print(json.dumps(event, indent=2, default=str))
        return EXIT_OK
    try:
        result = recompute(log, tree_learner(settings), ModelRegistry(settings.tabular_dir), args.seq)
    except (RegistryError, ValueError) as problem:
        raise error(f"audit event {args.seq}: cannot re-compute the decision: {problem}") from None
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(json.dumps(event, indent=2, default=str))
        verdict = "matches the record" if result["matches"] else "DOES NOT match the record"
        print(
            f"re-computed from {result['model']} v{result['version']} (sha256 {result['sha256'][:16]}...): "
            f"{result['recomputed']['prediction']}, {verdict} (largest difference {result['max_difference']:.2e})"
        )
    return EXIT_OK if result["matches"] else 1


def _verify(args: argparse.Namespace, log: Any, settings: Settings) -> int:
    from appliance.audit.verify import verify_log

    result = verify_log(log, settings.audit.checkpoint_copy)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    elif result.ok:
        chain = result.chain
        rate = chain.events / result.seconds if result.seconds else 0
        print(
            f"OK: {chain.events} events (seq {chain.first_seq}..{chain.last_seq}) verified in "
            f"{result.seconds:.2f} s ({rate:,.0f} events/s); head {chain.head_hash}"
        )
    else:
        where = f" (first bad event: {result.chain.bad_seq})" if result.chain.bad_seq else ""
        print(f"TAMPERED: {result.chain.problem}{where}")
    return EXIT_OK if result.ok else EXIT_FAILED


def _search(args: argparse.Namespace, log: Any) -> int:
    from appliance.audit.search import build_filter, iso_time, search

    selection = build_filter(args.since, args.until, args.actor, args.action, args.text)
    events = list(search(log, selection, limit=args.limit))
    if args.json:
        print(json.dumps(events, indent=2, ensure_ascii=False))
        return EXIT_OK
    for event in events:
        subject = f" {event['subject']}" if event["subject"] else ""
        print(
            f"{event['seq']:>8} {iso_time(event['ts_ms'])} {event['actor']} ({event['role']}) {event['action']}{subject}"
        )
    print(f"{len(events)} events")
    return EXIT_OK


def _export(args: argparse.Namespace, log: Any) -> int:
    from appliance.audit.export import export_bundle
    from appliance.audit.search import build_filter
    from appliance.tabular.plots import decision_attachments

    selection = build_filter(args.since, args.until, args.actor, args.action)
    attachments = None if args.no_plots else decision_attachments
    summary = export_bundle(log, args.out, selection, os_operator(), attachments)
    span = f"seq {summary.first_seq}..{summary.last_seq}" if summary.events else "no events matched"
    plots = f", {summary.attachments} decision plots" if summary.attachments else ""
    print(f"exported {summary.events} events ({span}){plots}, chain head {summary.head_seq}, to {summary.path}")
    print(f"bundle sha256 {summary.sha256}")
    return EXIT_OK


def _verify_export(args: argparse.Namespace, verify_bundle: Any, error: type[Exception]) -> int:
    pem = None
    if args.public_key is not None:
        try:
            pem = args.public_key.read_bytes()
        except OSError as problem:
            raise error(f"{args.public_key}: cannot read the public key ({problem.strerror})") from None
    if not args.bundle.is_file():
        raise error(f"{args.bundle}: no such bundle")
    report = verify_bundle(str(args.bundle), pem)
    if not report.ok:
        print(f"FAILED: {args.bundle}: {report.problem}")
        return EXIT_FAILED
    events = report.manifest["events"]
    print(
        f"OK: {args.bundle}: signature valid ({report.key_source}), file hashes match, {report.events} events "
        f"(seq {events['first_seq']}..{events['last_seq']}) and {report.attachments} attachments hash-checked, "
        f"linked to chain head "
        f"{report.manifest['chain']['head_seq']}"
    )
    if pem is None:
        print("WARNING: checked against the key inside the bundle; pass --public-key with a key obtained separately")
    return EXIT_OK


def _purge(args: argparse.Namespace, log: Any, settings: Settings, error: type[Exception]) -> int:
    from appliance.audit.retention import purge_expired

    days = args.days or settings.audit.retention_days
    if not days or days < 1:
        raise error("no retention period: set audit.retention_days or pass --days N (N >= 1)")
    result = purge_expired(log, days, os_operator())
    print(f"purged {result.purged} events older than {days} days; recorded as event {result.event.seq}")
    return EXIT_OK
