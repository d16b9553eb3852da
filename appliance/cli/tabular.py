"""`appliance tabular train|list|show|explain|predict|delete`: tabular side-models (appliance/tabular/)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from appliance.settings import Settings


def add_tabular_commands(commands: Any) -> None:
    """Register `tabular` and its subcommands on the root parser's subparsers."""
    tabular = commands.add_parser("tabular", help="gradient-boosted tree models on tables, every decision explained")
    sub = tabular.add_subparsers(dest="tabular_command", required=True)
    train = sub.add_parser("train", help="train a model on a CSV table and register it")
    train.add_argument("table", type=Path, metavar="CSV")
    train.add_argument("--target", required=True, help="the column to predict")
    train.add_argument("--name", required=True, help="the model's name (a new version if it exists)")
    train.add_argument("--favourable", default=None, help="the favourable outcome of a two-class target")
    train.add_argument("--key", default=None, help="the row key column (kept only as a keyed pseudonym)")
    train.add_argument(
        "--allow-protected", action="append", default=[], metavar="COL", help="use a protected column as a feature"
    )
    train.add_argument(
        "--actionable", action="append", default=None, metavar="COL", help="a column counterfactuals may change"
    )
    train.add_argument("--json", action="store_true")
    sub.add_parser("list", help="registered models").add_argument("--json", action="store_true")
    for name, helptext in (
        ("show", "a model's schema, metrics, disparity report and identity"),
        ("explain", "global importance: mean |SHAP| per feature"),
        ("delete", "delete a model, or retire it when decisions are on record"),
    ):
        command = sub.add_parser(name, help=helptext)
        command.add_argument("name", metavar="NAME")
        command.add_argument("--json", action="store_true")
        if name == "explain":
            command.add_argument("--plots", type=Path, default=None, metavar="DIR", help="write a bar chart PNG here")
    review = sub.add_parser("review", help="confirm or override a recorded decision, with a reason (audited)")
    review.add_argument("seq", type=int, metavar="SEQ", help="the decision's audit event")
    choice = review.add_mutually_exclusive_group(required=True)
    choice.add_argument("--confirm", action="store_true")
    choice.add_argument("--override", default=None, metavar="OUTCOME")
    review.add_argument("--reason", required=True)
    review.add_argument("--json", action="store_true")
    predict = sub.add_parser("predict", help="predict and explain each row of a CSV table")
    predict.add_argument("name", metavar="NAME")
    predict.add_argument("--input", type=Path, required=True, metavar="CSV")
    predict.add_argument("--plots", type=Path, default=None, metavar="DIR", help="write a waterfall PNG per decision")
    predict.add_argument(
        "--narrate", action="store_true", help="the local model phrases the reasons (checked; else the template)"
    )
    predict.add_argument("--json", action="store_true")


def cmd_tabular(args: argparse.Namespace, settings: Settings, run: Any, error: type[Exception]) -> int:
    """Run one tabular subcommand; those that need the store go through `run` (the control socket while
    `appliance serve` runs, else this process); `error` is the CLI's one-line error type."""
    from appliance.tabular.registry import ModelRegistry, ModelVersion, RegistryError

    registry = ModelRegistry(settings.tabular_dir)
    command = args.tabular_command
    try:
        if command == "list":
            return _list(registry, args.json)
        if command in ("show", "explain"):
            code = _show(registry, args.name, args.json, importance_only=command == "explain")
            if getattr(args, "plots", None):
                from appliance.tabular.plots import importance_plot

                print(f"wrote {importance_plot(registry.versions(args.name)[-1], args.plots)}", file=sys.stderr)
            return code
    except RegistryError as problem:
        raise error(str(problem)) from None
    if command == "train":
        request = {
            "path": str(args.table.absolute()),
            "name": args.name,
            "target": args.target,
            "key": args.key,
            "favourable": args.favourable,
            "allow_protected": list(args.allow_protected),
            "actionable": args.actionable,
        }
        version = ModelVersion(**run(settings, "tabular.train", request))
        print(json.dumps(_version_json(version), indent=2) if args.json else _train_report(version))
        return 0
    if command == "review":
        request = {"seq": args.seq, "override": args.override, "reason": args.reason}
        done = run(settings, "tabular.review", request)
        print(json.dumps(done) if args.json else f"decision {args.seq} {done['review']} as {done['outcome']!r}")
        return 0
    if command == "delete":
        outcome = run(settings, "tabular.delete", {"name": args.name})
        print(json.dumps(outcome) if args.json else f"{args.name}: {outcome['result']}")
        return 0
    request = {"name": args.name, "path": str(args.input.absolute()), "narrate": args.narrate}
    result = run(settings, "tabular.predict", request)
    if args.plots:
        from appliance.tabular.plots import decision_plots

        written = decision_plots(result, registry.current(args.name), args.plots)
        print(f"wrote {len(written)} waterfall plots to {args.plots}", file=sys.stderr)
    print(json.dumps(result, indent=2) if args.json else _predict_report(result))
    return 1 if result["failed"] else 0


def _list(registry: Any, as_json: bool) -> int:
    rows = []
    for name in registry.names():
        versions = registry.versions(name)
        latest = versions[-1]
        rows.append(
            {
                "name": name,
                "versions": len(versions),
                "task": latest.parsed_schema.task,
                "retired": latest.retired,
                "decisions": sum(v.decisions for v in versions),
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
    for row in [] if as_json else rows:
        state = " (retired)" if row["retired"] else ""
        print(f"{row['name']}{state}: {row['task']}, {row['versions']} version(s), {row['decisions']} decision(s)")
    return 0


def _show(registry: Any, name: str, as_json: bool, *, importance_only: bool) -> int:
    version = registry.versions(name)[-1]
    if importance_only:
        importance = dict(sorted(version.metrics["importance"].items(), key=lambda item: -item[1]))
        if as_json:
            print(json.dumps(importance, indent=2))
        for feature, value in [] if as_json else importance.items():
            print(f"{value:10.4f}  {feature}")
        return 0
    print(json.dumps(_version_json(version), indent=2) if as_json else _train_report(version))
    return 0


def _version_json(version: Any) -> dict[str, Any]:
    data = {k: v for k, v in vars(version).items() if k != "file"}
    return data


def _train_report(version: Any) -> str:
    schema = version.parsed_schema
    lines = [f"{version.name} v{version.version} ({schema.task}, sha256 {version.sha256[:16]}...)"]
    lines.append("features: " + ", ".join(f"{f.name} ({f.kind})" for f in schema.features))
    lines += [f"not used: {e.name}: {e.reason} ({e.detail})" for e in schema.excluded]
    metrics = {k: v for k, v in version.metrics.items() if k != "importance"}
    lines.append("held-out metrics: " + ", ".join(f"{k} {v}" for k, v in metrics.items()))
    for report in version.disparity:
        groups = "; ".join(
            f"{g['group']}: {g['favourable_rate']:.2f} (ratio {g['ratio']:.2f}{', FLAGGED' if g['flagged'] else ''})"
            for g in report["groups"]
        )
        lines.append(f"disparity, {report['column']} ({report['attribute']}): {groups}")
    return "\n".join(lines)


def _predict_report(result: dict[str, Any]) -> str:
    lines = [f"{result['model']} v{result['version']}"]
    for p in result["predictions"]:
        chance = f" (p={p['probability']:.3f})" if p["probability"] is not None else ""
        lines.append(f"row {p['row']}: {p['prediction']}{chance}")
        lines += [f"    {reason}" for reason in p["reasons"]]
        if p.get("narrative"):
            told = p["narrative"]
            source = "the model's text, checked" if told["source"] == "model" else f"template ({told['check']})"
            lines.append(f"    narrative [{source}]: {told['text']}")
        if p.get("counterfactual"):
            changes = ", ".join(
                f"{k} {v['to']} instead of {v['from']}" for k, v in p["counterfactual"]["changes"].items()
            )
            lines.append(f"    would have been {p['counterfactual']['prediction']!r} with {changes}")
    lines += [f"row {f['row']}: FAILED {f['error']}" for f in result["failed"]]
    return "\n".join(lines)
