"""Adapters (admins): feedback to review, training sets, adapters, and training runs with progress, a
loss curve and a cancel button; the evaluation gate's report; promotion with a reason, through the gate
(a failed gate is overridden only with Force, audited).

Training runs in a worker thread while the handler streams its progress; one run at a time. Cancel
stops it at the next step: the last checkpoint stays under APPLIANCE_HOME/finetune/runs/NAME (so
`appliance finetune ... --resume` continues it) and nothing is registered. Every action is
checked against the role on the server and audited by the core.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import gradio as gr

from appliance.access.roles import Permission
from appliance.access.users import UserRecord
from appliance.build import adapter_host, base_model_path, lora_trainer
from appliance.finetune.adapters import AdapterRegistry
from appliance.finetune.datasets import DatasetRegistry
from appliance.finetune.datasets import build as build_dataset
from appliance.finetune.feedback_review import ACCEPT, REJECT, feedback_items, review_feedback
from appliance.finetune.gate import evaluate_adapter, promote_adapter
from appliance.finetune.training import FinetuneRequest, finetune
from appliance.ports import TrainingStep
from ui.context import WebContext
from ui.decision_view import png_img
from ui.guard import guarded
from ui.page import Page

FEEDBACK_HEADERS = ["event", "rating", "collection", "review", "question", "would teach"]
DATASET_HEADERS = ["name", "version", "training", "held out", "collections", "sha256"]
ADAPTER_HEADERS = ["name", "version", "state", "data set", "collections", "loss", "device", "seconds"]


class TrainingCancelled(Exception):
    """An admin pressed Cancel: the run stops at its next step."""


def feedback_rows(ctx: WebContext) -> list[list[Any]]:
    rows = []
    for item in feedback_items(ctx.app.audit):
        messages = dict(item.example.messages) if item.example else {}
        rows.append(
            [
                item.seq,
                item.rating,
                item.collection,
                item.review or "not reviewed",
                messages.get("user", ""),
                messages.get("assistant", "(nothing to learn)"),
            ]
        )
    return rows


def dataset_rows(ctx: WebContext) -> list[list[Any]]:
    registry = DatasetRegistry(ctx.settings.finetune_dir / "datasets")
    rows = []
    for name in registry.names():
        d = registry.latest(name)
        rows.append([d.name, d.version, d.train_examples, d.heldout_examples, ", ".join(d.collections), d.sha256[:16]])
    return rows


def adapter_rows(ctx: WebContext) -> list[list[Any]]:
    registry = AdapterRegistry(ctx.settings.finetune_dir / "adapters")
    rows = []
    for name in registry.names():
        v = registry.latest(name)
        loss = f"{v.losses.get('first', 0):.3f} → {v.losses.get('last', 0):.3f}" if v.losses else ""
        rows.append(
            [
                v.name,
                v.version,
                v.state,
                f"{v.dataset.get('name')} v{v.dataset.get('version')}",
                ", ".join(v.collections),
                loss,
                v.device,
                v.seconds,
            ]
        )
    return rows


def loss_curve_html(ctx: WebContext, name: str) -> str:
    registry = AdapterRegistry(ctx.settings.finetune_dir / "adapters")
    version = registry.latest(name)
    curve = version.losses.get("curve")
    if not curve:
        return ""
    return png_img((registry.folder / curve).read_bytes(), f"training loss of {name}", "loss-curve")


def tables(ctx: WebContext) -> list[Any]:
    return [
        gr.Dataframe(value=feedback_rows(ctx), headers=FEEDBACK_HEADERS),
        gr.Dataframe(value=dataset_rows(ctx), headers=DATASET_HEADERS),
        gr.Dataframe(value=adapter_rows(ctx), headers=ADAPTER_HEADERS),
    ]


def build(ctx: WebContext) -> Page:
    """The Adapters tab and its handlers."""
    cancel_run = threading.Event()
    with gr.Tab("Adapters", id="adapters", visible=False) as tab:
        gr.Markdown("### Feedback waiting for review")
        feedback = gr.Dataframe(headers=FEEDBACK_HEADERS, interactive=False, elem_id="feedback-list")
        with gr.Row():
            feedback_seq = gr.Number(value=None, label="Feedback event", precision=0, elem_id="feedback-seq")
            review_reason = gr.Textbox(label="Reason", elem_id="review-reason", scale=2)
            accept = gr.Button("Accept as training data", elem_id="feedback-accept")
            reject = gr.Button("Reject", elem_id="feedback-reject")
        gr.Markdown("### Training sets")
        datasets = gr.Dataframe(headers=DATASET_HEADERS, interactive=False, elem_id="dataset-list")
        with gr.Row():
            dataset_name = gr.Textbox(label="New training set from accepted feedback", elem_id="dataset-name")
            build_button = gr.Button("Build", elem_id="dataset-build")
        gr.Markdown("### Adapters")
        adapters = gr.Dataframe(headers=ADAPTER_HEADERS, interactive=False, elem_id="adapter-list")
        with gr.Row():
            train_dataset = gr.Textbox(label="Training set", elem_id="train-dataset")
            adapter_name = gr.Textbox(label="Adapter name", elem_id="train-adapter")
            max_steps = gr.Number(value=0, label="Max steps (0: the epochs decide)", precision=0, elem_id="train-steps")
        with gr.Row():
            train_button = gr.Button("Train", variant="primary", elem_id="adapter-train")
            cancel_button = gr.Button("Cancel the run", variant="stop", elem_id="adapter-cancel")
        run_status = gr.Textbox(label="Training run", interactive=False, elem_id="train-status")
        curve = gr.HTML(elem_id="train-curve")
        with gr.Row():
            promote_name = gr.Textbox(label="Adapter to evaluate or promote", elem_id="promote-name")
            promote_reason = gr.Textbox(label="Reason (audited)", elem_id="promote-reason", scale=2)
            force = gr.Checkbox(label="Force: promote although the gate failed (audited)", elem_id="promote-force")
            evaluate_button = gr.Button("Evaluate", elem_id="adapter-evaluate")
            promote_button = gr.Button("Promote", elem_id="adapter-promote")
        promote_note = gr.Textbox(label="Promotion", interactive=False, elem_id="promote-note")
        gate_report = gr.Textbox(
            label="Evaluation gate: base and adapter on the same held-out questions",
            interactive=False,
            lines=14,
            elem_id="gate-report",
        )

    def admin(request: gr.Request) -> UserRecord:
        return ctx.authorize(request, Permission.MANAGE_ADAPTERS)[0]

    def on_review(decision: str, seq: float | None, reason: str, request: gr.Request) -> list[Any]:
        user = admin(request)
        if seq is None or not reason.strip():
            raise gr.Error("Give the feedback event and a reason.")
        review_feedback(ctx.app.audit, int(seq), decision, reason, user.actor)
        return tables(ctx)

    @guarded
    def on_accept(seq: float | None, reason: str, request: gr.Request) -> list[Any]:
        return on_review(ACCEPT, seq, reason, request)

    @guarded
    def on_reject(seq: float | None, reason: str, request: gr.Request) -> list[Any]:
        return on_review(REJECT, seq, reason, request)

    @guarded
    def on_build(name: str, request: gr.Request) -> list[Any]:
        user = admin(request)
        registry = DatasetRegistry(ctx.settings.finetune_dir / "datasets")
        build_dataset(ctx.app, registry, name.strip(), actor=user.actor, collection=None, from_feedback=True)
        return tables(ctx)

    @guarded
    def on_train(dataset: str, name: str, steps: float | None, request: gr.Request) -> Any:
        user = admin(request)
        cancel_run.clear()
        updates: queue.Queue[TrainingStep | None] = queue.Queue()
        outcome: dict[str, Any] = {}

        def progress(step: TrainingStep) -> None:
            if cancel_run.is_set():
                raise TrainingCancelled
            updates.put(step)

        def work() -> None:
            try:
                request_ = FinetuneRequest(dataset.strip(), name.strip(), {"max_steps": int(steps or 0) or None})
                outcome["version"] = finetune(
                    ctx.app,
                    lora_trainer(),
                    adapter_host(ctx.app),
                    base_model_path(ctx.settings),
                    request_,
                    user.actor,
                    progress,
                )
            except BaseException as error:  # noqa: BLE001 - handed to the handler's thread below
                outcome["error"] = error
            finally:
                updates.put(None)

        worker = threading.Thread(target=work, name="web-finetune", daemon=True)
        worker.start()
        yield "Loading the base model for training…", "", gr.skip()
        last = 0.0
        while (step := updates.get()) is not None:
            if time.monotonic() - last >= 0.5 or step.step == step.total_steps:
                last = time.monotonic()
                left = step.seconds / step.step * (step.total_steps - step.step)
                yield (
                    f"step {step.step}/{step.total_steps}, loss {step.loss:.3f}, about {left:.0f} s left",
                    "",
                    gr.skip(),
                )
        worker.join()
        error = outcome.get("error")
        if isinstance(error, TrainingCancelled):
            yield (
                f"Cancelled. Nothing was registered; the last checkpoint is kept (appliance finetune {dataset} "
                f"--name {name} --resume continues it).",
                "",
                gr.Dataframe(value=adapter_rows(ctx), headers=ADAPTER_HEADERS),
            )
            return
        if error is not None:
            raise error
        version = outcome["version"]
        yield (
            f"Registered {version.name} v{version.version} (sha256 {version.sha256[:16]}…): loss "
            f"{version.losses['first']:.3f} → {version.losses['last']:.3f} in {version.seconds:.0f} s on {version.device}.",
            loss_curve_html(ctx, version.name),
            gr.Dataframe(value=adapter_rows(ctx), headers=ADAPTER_HEADERS),
        )

    @guarded
    def on_cancel(request: gr.Request) -> str:
        admin(request)
        cancel_run.set()
        return "Cancelling at the next step…"

    @guarded
    def on_evaluate(name: str, request: gr.Request) -> tuple[str, Any]:
        user = admin(request)
        report = evaluate_adapter(ctx.app, name.strip(), user.actor)
        return report.table(), gr.Dataframe(value=adapter_rows(ctx), headers=ADAPTER_HEADERS)

    @guarded
    def on_promote(name: str, reason: str, forced: bool, request: gr.Request) -> tuple[str, Any]:
        user = admin(request)
        done = promote_adapter(ctx.app, name.strip(), reason, user.actor, force=bool(forced))
        gate = "the gate overridden" if done.evaluation.get("passed") is False else "the gate passed"
        note = f"{done.name} v{done.version} promoted ({gate})."
        return note, gr.Dataframe(value=adapter_rows(ctx), headers=ADAPTER_HEADERS)

    accept.click(
        on_accept,
        [feedback_seq, review_reason],
        [feedback, datasets, adapters],
        api_name="feedback_accept",
        api_visibility="undocumented",
    )
    reject.click(
        on_reject,
        [feedback_seq, review_reason],
        [feedback, datasets, adapters],
        api_name="feedback_reject",
        api_visibility="undocumented",
    )
    build_button.click(
        on_build, dataset_name, [feedback, datasets, adapters], api_name="dataset_build", api_visibility="undocumented"
    )
    train_button.click(
        on_train,
        [train_dataset, adapter_name, max_steps],
        [run_status, curve, adapters],
        api_name="adapter_train",
        concurrency_id="finetune",
        concurrency_limit=1,
        api_visibility="undocumented",
    )
    cancel_button.click(on_cancel, None, run_status, api_name="adapter_cancel", api_visibility="undocumented")
    evaluate_button.click(
        on_evaluate,
        promote_name,
        [gate_report, adapters],
        api_name="adapter_evaluate",
        concurrency_id="finetune",
        concurrency_limit=1,
        api_visibility="undocumented",
    )
    promote_button.click(
        on_promote,
        [promote_name, promote_reason, force],
        [promote_note, adapters],
        api_name="adapter_promote",
        api_visibility="undocumented",
    )

    def load(_user: UserRecord, _collections: list[str]) -> list[Any]:
        return tables(ctx)

    return Page(tab=tab, permission=Permission.MANAGE_ADAPTERS, outputs=[feedback, datasets, adapters], load=load)
