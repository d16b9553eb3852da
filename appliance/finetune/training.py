"""`appliance finetune`: a data set in, a registered GGUF LoRA adapter out, or nothing at all.

The run lives in APPLIANCE_HOME/finetune/runs/NAME (checkpoints, the adapter being written) until
it has finished, llama.cpp has loaded the adapter on the quantized base, and the registry holds it;
Ctrl-C or a kill before that registers nothing, and `--resume` continues from the last checkpoint.
Examples without a system message get the one direct mode answers with, so the adapter learns in
the exact format it is served in.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from appliance.actors import Actor
from appliance.answer.prompts import direct_messages
from appliance.app import Appliance
from appliance.audit import events as audit_events
from appliance.file_digest import file_sha256
from appliance.finetune.adapters import AdapterRegistry, AdapterVersion, check_name
from appliance.finetune.datasets import Dataset, DatasetRegistry
from appliance.finetune.examples import Example
from appliance.ports import Generator, LoraParams, LoraTrainer, TrainingStep
from appliance.settings import Settings


class FinetuneError(ValueError):
    """A run that cannot start or whose adapter cannot be registered (the message says why)."""


@dataclass(frozen=True)
class FinetuneRequest:
    dataset: str
    name: str
    overrides: Mapping[str, Any]  # rank, alpha, epochs, learning_rate, max_steps, seed: None keeps the setting
    resume: bool = False


def params_for_settings(settings: Settings, overrides: Mapping[str, Any]) -> LoraParams:
    """The settings' parameters with the command's overrides."""
    ft = settings.finetune
    params = LoraParams(
        rank=ft.rank,
        alpha=ft.alpha,
        target_modules=tuple(ft.target_modules),
        epochs=ft.epochs,
        learning_rate=ft.learning_rate,
        batch_size=ft.batch_size,
        max_steps=ft.max_steps,
        max_tokens=ft.max_tokens,
        checkpoint_every=ft.checkpoint_every,
        seed=ft.seed,
        threads=settings.runtime.threads,
    )
    chosen = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(chosen) - set(params.__dict__)
    if unknown:
        raise FinetuneError(f"unknown training parameter {sorted(unknown)[0]!r}")
    return replace(params, **chosen)


def _trainable_base(settings: Settings, base_gguf: Path) -> str:
    """The sha256 of the GGUF trained on; with an inference server, refused (before hours of training)
    unless it is the base the operator declared the server serves, or the adapter could never be served."""
    digest = file_sha256(base_gguf)
    generation = settings.generation
    if generation.backend == "openai_server" and digest != generation.server_model_sha256:
        raise FinetuneError(
            f"answers come from an inference server whose base is declared as "
            f"{generation.server_model_sha256[:12] or '(none)'} (generation.server_model_sha256), but the GGUF "
            f"here ({base_gguf.name}, generation.model_path) is {digest[:12]}: train on the GGUF the server serves"
        )
    return digest


def conversation(example: Example) -> list[dict[str, str]]:
    """The chat the model is trained on: direct mode's system message unless the example brings one."""
    messages = [{"role": role, "content": content} for role, content in example.messages]
    if messages[0]["role"] != "system":
        messages = [direct_messages("")[0], *messages]
    return messages


def finetune(
    app: Appliance,
    trainer: LoraTrainer,
    host: Generator,
    base_gguf: Path,
    request: FinetuneRequest,
    actor: Actor,
    progress: Callable[[TrainingStep], None] | None = None,
) -> AdapterVersion:
    """Train, export, prove the adapter loads on the base, register and audit it."""
    check_name(request.name)
    base_sha256 = _trainable_base(app.settings, base_gguf)
    datasets = DatasetRegistry(app.settings.finetune_dir / "datasets")
    adapters = AdapterRegistry(app.settings.finetune_dir / "adapters")
    dataset = datasets.latest(request.dataset)
    examples = datasets.examples(dataset)
    params = params_for_settings(app.settings, request.overrides)
    if dataset.task == "evidence":  # the recall prompt carries its candidate sentences: longer than a Q&A pair
        params = replace(params, max_tokens=max(params.max_tokens, app.settings.finetune.evidence_max_tokens))
    run_dir = app.settings.finetune_dir / "runs" / request.name
    if not request.resume:
        shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    started_ms = int(time.time() * 1000)
    trained = trainer.train(
        base_gguf, [conversation(e) for e in examples], params, run_dir, resume=request.resume, progress=progress
    )
    try:
        host.check_adapter(trained.path)
    except ValueError as problem:
        raise FinetuneError(
            f"the trained adapter does not load on the base, so it is not registered: {problem}"
        ) from None
    version = AdapterVersion(
        name=request.name,
        version=0,
        sha256="",
        file="",
        base_model=base_gguf.name,
        base_sha256=base_sha256,
        dataset=_dataset_ref(dataset),
        collections=list(dataset.collections),
        params={k: (list(v) if isinstance(v, tuple) else v) for k, v in params.__dict__.items()},
        losses={"first": trained.losses[0], "last": trained.losses[-1], "steps": trained.steps},
        tokens=trained.tokens,
        seconds=round(trained.seconds, 2),
        device=trained.device,
        trained_by=actor.name,
        trained_ms=started_ms,
    )
    version = adapters.add(version, trained.path, loss_curve(request.name, trained.losses))
    app.audit.record(
        actor, audit_events.FINETUNE, subject=request.name, details=finetune_details(version, trained.resumed_from)
    )
    shutil.rmtree(run_dir, ignore_errors=True)
    return version


def loss_curve(name: str, losses: list[float]) -> bytes:
    from appliance.backends.charts import loss_curve_png

    return loss_curve_png(losses, f"{name}: training loss")


def finetune_details(version: AdapterVersion, resumed_from: int) -> dict[str, Any]:
    """The audit event of a run: identities, data, parameters, losses and time (never the examples)."""
    return {
        "version": version.version,
        "sha256": version.sha256,
        "base_sha256": version.base_sha256,
        "dataset": version.dataset,
        "collections": version.collections,
        "params": version.params,
        "losses": version.losses,
        "tokens": version.tokens,
        "seconds": version.seconds,
        "device": version.device,
        "resumed_from_step": resumed_from,
    }


def _dataset_ref(dataset: Dataset) -> dict[str, Any]:
    return {
        "name": dataset.name,
        "version": dataset.version,
        "sha256": dataset.sha256,
        "train_examples": dataset.train_examples,
        "heldout_examples": dataset.heldout_examples,
    }
