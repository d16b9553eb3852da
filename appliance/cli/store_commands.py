"""The store commands (ingest, docs, ask, feedback) as named operations on JSON-able data.

The command line runs them in its own process, or, while `appliance serve` owns the
store, sends them over the control socket (control.py) to the service, which runs the very
same function. Either way they act as the caller and are audited the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from appliance.actors import Actor
from appliance.app import Appliance
from appliance.audit import events as audit_events
from appliance.cli.finetune import STORE_COMMANDS as FINETUNE_COMMANDS
from appliance.store.collection_names import DEFAULT_COLLECTION, InvalidCollectionName, check_collection_name

# (kind, payload): "progress" {file_index, file_count, path, stage} or "token" {"text"}
Emit = Callable[[str, Mapping[str, Any]], None]
COMMANDS = (
    "ingest",
    "docs.list",
    "docs.show",
    "docs.delete",
    "ask",
    "feedback",
    "backup",
    "redact.add",
    "redact.import",
    "redact.remove",
    "tabular.train",
    "tabular.predict",
    "tabular.delete",
    "tabular.review",
    *FINETUNE_COMMANDS,
)


class UsageError(ValueError):
    """A request that cannot be carried out as asked (bad name, missing document); one line."""


def run_store_command(app: Appliance, actor: Actor, name: str, args: Mapping[str, Any], emit: Emit) -> Any:
    """Run one store command for `actor`; progress and tokens go to `emit`."""
    try:
        match name:
            case "ingest":
                return _ingest(app, actor, args, emit)
            case "docs.list" | "docs.show" | "docs.delete":
                return _docs(app, actor, name, args)
            case "ask":
                return _ask(app, actor, args, emit)
            case "feedback":
                return _feedback(app, actor, args)
            case "backup":
                return _backup(app, actor, args)
            case "redact.add" | "redact.import" | "redact.remove":
                return _redact(app, actor, name, args)
            case "tabular.train" | "tabular.predict" | "tabular.delete" | "tabular.review":
                return _tabular(app, actor, name, args)
            case _ if name in FINETUNE_COMMANDS:
                return _finetune(app, actor, name, args, emit)
    except InvalidCollectionName as error:
        raise UsageError(str(error)) from None
    raise UsageError(f"unknown command {name!r}")


def _ingest(app: Appliance, actor: Actor, args: Mapping[str, Any], emit: Emit) -> Any:
    from ingestion.pipeline import ingest_paths

    collection = str(args.get("collection") or DEFAULT_COLLECTION)
    check_collection_name(collection)
    paths = [Path(p) for p in args["paths"]]
    if args.get("warm_up"):  # the models load before the run's clock starts (benchmarks time the ingest alone)
        from appliance.build import models_of

        models_of(app).warm_up()
    report = ingest_paths(
        app,
        paths,
        collection=collection,
        actor=actor,
        progress=lambda p: emit("progress", {**p.__dict__}),
    )
    return report.to_json()


def _docs(app: Appliance, actor: Actor, name: str, args: Mapping[str, Any]) -> Any:
    from appliance.store import documents

    collections = _collections(args.get("collections")) or None
    try:
        if name == "docs.list":
            return documents.list_documents(app, collections)
        if name == "docs.show":
            return documents.show_document(app, str(args["doc_id"]), actor=actor, collections=collections)
        return documents.delete_document(app, str(args["doc_id"]), actor=actor, collections=collections)
    except documents.DocumentNotFound as error:
        raise UsageError(str(error)) from None


def _ask(app: Appliance, actor: Actor, args: Mapping[str, Any], emit: Emit) -> Any:
    from appliance.answer.answering import ask

    top_k = args.get("top_k")
    if top_k is not None and not 1 <= int(top_k) <= 100:
        raise UsageError("--top-k must be between 1 and 100")
    mode = args.get("mode", "rag")
    if mode not in ("rag", "direct"):
        raise UsageError(f"mode must be rag or direct, not {mode!r}")
    stream = bool(args.get("stream"))
    collections = _collections(args.get("collections")) or [DEFAULT_COLLECTION]
    adapter = _adapter(app, args.get("adapter"), collections)
    answer = ask(
        app,
        str(args["question"]),
        actor=actor,
        collections=collections,
        mode=mode,
        top_k=int(top_k) if top_k is not None else None,
        on_token=(lambda text: emit("token", {"text": text})) if stream else None,
        adapter=adapter,
    )
    return answer.to_json()


def _adapter(app: Appliance, requested: Any, collections: list[str]) -> Any:
    """The adapter an operator's question is answered with (operators may use any registered one)."""
    from appliance.finetune.adapters import AdapterError, AdapterRegistry, adapter_for

    try:
        return adapter_for(
            AdapterRegistry(app.settings.finetune_dir / "adapters"),
            app.generator.model_sha256,
            app.settings.finetune.collection_adapters,
            str(requested) if requested else None,
            collections,
            all_collections=True,
        )
    except AdapterError as problem:
        raise UsageError(str(problem)) from None


def _finetune(app: Appliance, actor: Actor, name: str, args: Mapping[str, Any], emit: Emit) -> Any:
    """Data sets, feedback review, training runs and adapters (appliance/finetune/)."""
    from appliance.cli.finetune import run_finetune_command
    from appliance.finetune.adapters import AdapterError
    from appliance.finetune.datasets import DatasetError
    from appliance.finetune.examples import ExampleError
    from appliance.finetune.feedback_review import ReviewError
    from appliance.finetune.training import FinetuneError

    try:
        return run_finetune_command(app, actor, name, args, emit)
    except (AdapterError, DatasetError, ExampleError, ReviewError, FinetuneError) as problem:
        raise UsageError(str(problem)) from None


def _feedback(app: Appliance, actor: Actor, args: Mapping[str, Any]) -> Any:
    from appliance.answer.feedback import FeedbackError, submit_feedback

    try:
        recorded = submit_feedback(
            app,
            actor=actor,
            ask_seq=int(args["ask_seq"]),
            rating=args["rating"],
            correction=str(args.get("correction") or ""),
            collections=_collections(args.get("collections")) or [DEFAULT_COLLECTION],
        )
    except FeedbackError as error:
        raise UsageError(str(error)) from None
    return {"seq": recorded.seq}


def _redact(app: Appliance, actor: Actor, name: str, args: Mapping[str, Any]) -> Any:
    from appliance.redaction.operator_terms import TermsError, add_terms, remove_term

    collection = str(args.get("collection") or "")
    check_collection_name(collection)
    try:
        if name == "redact.remove":
            return remove_term(app, actor, collection=collection, value=str(args.get("value") or ""))
        values = args.get("values")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise UsageError("values must be a list of strings")
        return add_terms(
            app,
            actor,
            collection=collection,
            entity_type=str(args.get("entity_type") or ""),
            values=values,
            dry_run=bool(args.get("dry_run")),
            action=audit_events.REDACT_ADD if name == "redact.add" else audit_events.REDACT_IMPORT,
        )
    except TermsError as error:
        raise UsageError(str(error)) from None


def _collections(value: Any) -> list[str]:
    names: Sequence[str] = [value] if isinstance(value, str) else list(value or [])
    for collection in names:
        check_collection_name(collection)
    return list(names)


def _backup(app: Appliance, actor: Actor, args: Mapping[str, Any]) -> Any:
    from appliance.backup.archive import write_backup
    from appliance.backup.crypto import BackupCryptoError, Sealing

    public_key = args.get("public_key_pem")
    sealing = Sealing(passphrase=args.get("passphrase"), public_key_pem=public_key.encode() if public_key else None)
    out = Path(str(args["out"]))
    try:
        summary = write_backup(app, out, sealing)
    except (BackupCryptoError, OSError) as error:
        raise UsageError(f"{out}: {error}") from None
    app.audit.record(
        actor,
        audit_events.BACKUP,
        subject=out.name,
        details={
            "files": summary.files,
            "bytes": summary.bytes_out,
            "sealed_to": "public key" if public_key else "passphrase",
        },
    )
    return {
        "path": str(summary.path),
        "files": summary.files,
        "bytes_in": summary.bytes_in,
        "bytes_out": summary.bytes_out,
        "seconds": round(summary.seconds, 2),
        "notes": list(summary.notes),
    }


def _tabular(app: Appliance, actor: Actor, name: str, args: Mapping[str, Any]) -> Any:
    """Tabular models: train, predict, delete (or retire), review; the registry lives under APPLIANCE_HOME."""
    from appliance.build import tree_learner
    from appliance.tabular.predict import predict
    from appliance.tabular.registry import ModelRegistry, RegistryError
    from appliance.tabular.removal import remove_model
    from appliance.tabular.review import ReviewError, review
    from appliance.tabular.schema import SchemaError
    from appliance.tabular.table import TableError
    from appliance.tabular.training import TrainRequest, train

    registry = ModelRegistry(app.settings.tabular_dir)
    try:
        if name == "tabular.train":
            request = TrainRequest(
                Path(args["path"]),
                str(args["name"]),
                str(args["target"]),
                args.get("key"),
                args.get("favourable"),
                tuple(args.get("allow_protected") or ()),
                None if args.get("actionable") is None else tuple(args["actionable"]),
            )
            return vars(train(app, tree_learner(app.settings), registry, request, actor))
        if name == "tabular.predict":
            return predict(
                app,
                tree_learner(app.settings),
                registry,
                str(args["name"]),
                Path(args["path"]),
                actor,
                narrate=bool(args.get("narrate")),
            )
        if name == "tabular.review":
            return review(app, int(args["seq"]), override=args.get("override"), reason=str(args["reason"]), actor=actor)
        return remove_model(app, registry, str(args["name"]), actor)
    except (RegistryError, SchemaError, TableError, ReviewError) as problem:
        raise UsageError(str(problem)) from None
