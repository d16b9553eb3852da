"""Models: tabular side-models. Admins train (upload a table) and retire; analysts use the models
granted to them (`appliance users grant NAME --model MODEL`): upload a table or fill in one row,
and see each decision with its waterfall, reasons and counterfactual.

Every handler checks the role and the model grant on the server (appliance/access/rules.py);
the dropdown lists only the caller's models, but that is never what keeps anyone out. Uploaded
tables are claimed from this session's uploads once (ui/ownership.py) and deleted after use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html import escape
from pathlib import Path
from typing import Any

import gradio as gr

from appliance.access.roles import Forbidden, Permission, allowed
from appliance.access.rules import authorize_model, usable_models
from appliance.access.users import UserRecord
from appliance.build import tree_learner
from appliance.tabular.plots import model_importance_png
from appliance.tabular.predict import predict, predict_table
from appliance.tabular.registry import ModelRegistry, ModelVersion
from appliance.tabular.removal import remove_model
from appliance.tabular.review import decision_event, recompute
from appliance.tabular.table import Table
from appliance.tabular.training import TrainRequest, train
from ui.context import WebContext
from ui.decision_view import decision_html, png_img
from ui.guard import guarded
from ui.ownership import delete_uploads
from ui.page import Page

DECISION_HEADERS = ["row", "prediction", "probability", "audit event", "error"]


def registry_of(ctx: WebContext) -> ModelRegistry:
    return ModelRegistry(ctx.settings.tabular_dir)


def model_choices(ctx: WebContext, user: UserRecord) -> list[str]:
    """The models `user` may use that are not retired."""
    registry = registry_of(ctx)
    live = [name for name in registry.names() if not registry.versions(name)[-1].retired]
    return usable_models(user, live)


def model_summary(version: ModelVersion) -> str:
    """The schema, held-out metrics and disparity report of a model version, as escaped HTML."""
    schema = version.parsed_schema
    favourable = f", favourable outcome {escape(version.favourable)}" if version.favourable else ""
    rows = [
        f"<h4>{escape(version.name)} v{version.version}: {escape(schema.task)} on {escape(schema.target)}"
        f"{favourable}</h4>",
        f"<p>sha256 <code>{escape(version.sha256[:16])}…</code>, trained by {escape(version.trained_by)} "
        f"on {version.rows} rows.</p>",
        "<p><b>Features</b>: " + ", ".join(f"{escape(f.name)} ({escape(f.kind)})" for f in schema.features) + "</p>",
    ]
    if schema.excluded:
        rows.append(
            "<p><b>Not used</b>: "
            + "; ".join(f"{escape(e.name)}: {escape(e.reason)}" for e in schema.excluded)
            + "</p>"
        )
    metrics = {k: v for k, v in version.metrics.items() if k != "importance"}
    rows.append(
        "<p><b>Held-out metrics</b>: " + ", ".join(f"{escape(k)} {escape(str(v))}" for k, v in metrics.items()) + "</p>"
    )
    for report in version.disparity:
        groups = "".join(
            f"<tr><td>{escape(str(g['group']))}</td><td>{g['favourable_rate']:.2f}</td><td>{g['ratio']:.2f}</td>"
            f"<td>{'FLAGGED (below 0.8)' if g['flagged'] else ''}</td></tr>"
            for g in report["groups"]
        )
        rows.append(
            f"<p><b>Disparity, {escape(report['column'])}</b> ({escape(report['attribute'])})</p>"
            "<table class='disparity'><tr><th>group</th><th>favourable rate</th><th>ratio to the most favoured</th>"
            f"<th></th></tr>{groups}</table>"
        )
    return "\n".join(rows)


def model_view(version: ModelVersion) -> str:
    """The summary and the global importance plot."""
    plot = png_img(model_importance_png(version), f"global importance of {version.name}", "model-importance")
    return model_summary(version) + "\n" + plot


def form_row(version: ModelVersion) -> Any:
    """A one-row table with the model's features, started with values inside what it saw."""
    features = version.parsed_schema.features
    return gr.Dataframe(
        value=[[f.example() for f in features]], headers=[f.name for f in features], column_count=len(features)
    )


def decision_rows(result: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = [
        [
            p["row"],
            str(p["prediction"]),
            "" if p["probability"] is None else f"{p['probability']:.3f}",
            p["audit_seq"],
            "",
        ]
        for p in result["predictions"]
    ]
    rows += [[f["row"], "", "", "", f["error"]] for f in result["failed"]]
    return sorted(rows, key=lambda row: row[0])


def table_from_form(form: Any) -> Table:
    """The form's rows as a table of text cells (the same path a CSV takes)."""
    headers = [str(h) for h in form.columns] if hasattr(form, "columns") else list(form["headers"])
    data = form.values.tolist() if hasattr(form, "values") else form["data"]
    rows = [["" if cell is None else str(cell) for cell in row] for row in data]
    return Table("form", headers, [row for row in rows if any(cell.strip() for cell in row)])


@contextmanager
def claimed_upload(ctx: WebContext, request: gr.Request, path: str | None, check: Callable[[], Any]) -> Iterator[Path]:
    """This session's one uploaded file, after `check()` passed; deleted afterwards (or at once when refused)."""
    session, _ = ctx.session_of(request)
    named = [path] if path else []
    try:
        check()
    except Forbidden:
        ctx.uploads.discard(session.id, named)
        raise
    if not named:
        raise gr.Error("Choose a table (CSV or XLSX) first.")
    received = ctx.uploads.take(session.id, named)
    try:
        yield received[0]
    finally:
        delete_uploads(received, ctx.uploads.folder)


def build(ctx: WebContext) -> Page:
    """The Models tab and its handlers."""
    with gr.Tab("Models", id="models", visible=False) as tab:
        with gr.Row():
            model = gr.Dropdown(choices=[], label="Model", elem_id="model-choice", scale=3, allow_custom_value=True)
            show_button = gr.Button("Show model", elem_id="model-show", scale=1)
        model_info = gr.HTML(elem_id="model-info")
        with gr.Group(visible=False) as train_group:
            gr.Markdown("### Train a model (admins)")
            with gr.Row():
                train_file = gr.File(label="Table (CSV or XLSX)", type="filepath", elem_id="train-file", scale=2)
                with gr.Column(scale=2):
                    name = gr.Textbox(label="Model name", elem_id="train-name")
                    target = gr.Textbox(label="Target column", elem_id="train-target")
                    favourable = gr.Textbox(label="Favourable outcome (two classes)", elem_id="train-favourable")
                    key = gr.Textbox(label="Row key column (kept only as a pseudonym)", elem_id="train-key")
            with gr.Row():
                train_button = gr.Button("Train", variant="primary", elem_id="train-button")
                remove_button = gr.Button("Retire or delete the chosen model", variant="stop", elem_id="model-remove")
        gr.Markdown("### Decide")
        with gr.Row():
            input_file = gr.File(label="Rows to decide (CSV or XLSX)", type="filepath", elem_id="predict-file", scale=2)
            predict_file_button = gr.Button("Decide the file's rows", elem_id="predict-file-button", scale=1)
        form = gr.Dataframe(label="Or fill in one row", interactive=True, elem_id="predict-form")
        predict_row_button = gr.Button("Decide this row", variant="primary", elem_id="predict-row-button")
        decisions = gr.Dataframe(headers=DECISION_HEADERS, label="Decisions", interactive=False, elem_id="decisions")
        with gr.Row():
            decision_seq = gr.Number(value=None, label="Decision (audit event)", precision=0, elem_id="decision-seq")
            open_button = gr.Button("Open decision", elem_id="decision-open")
        decision = gr.HTML(elem_id="decision-view")

    def use(request: gr.Request, chosen: str | None) -> tuple[UserRecord, ModelRegistry, str]:
        user = ctx.user_for(request)
        if not chosen:
            raise gr.Error("Choose a model first.")
        authorize_model(ctx.app.audit, user, Permission.USE_MODELS, chosen)
        return user, registry_of(ctx), chosen

    def shown_decisions(result: dict[str, Any]) -> tuple[Any, Any, str]:
        rows = decision_rows(result)
        first = result["predictions"][0]["audit_seq"] if result["predictions"] else None
        view = open_decision(first) if first is not None else "<p>No row could be decided.</p>"
        return gr.Dataframe(value=rows, headers=DECISION_HEADERS), first, view

    def open_decision(seq: int) -> str:
        registry = registry_of(ctx)
        return decision_html(
            decision_event(ctx.app.audit, seq), recompute(ctx.app.audit, tree_learner(ctx.settings), registry, seq)
        )

    @guarded
    def on_show(chosen: str | None, request: gr.Request) -> tuple[str, Any]:
        _, registry, chosen = use(request, chosen)
        version = registry.current(chosen)
        return model_view(version), form_row(version)

    @guarded
    def on_train(
        path: str | None, model_name: str, target_column: str, good: str, key_column: str, request: gr.Request
    ) -> tuple[str, Any, Any, None]:
        user = ctx.user_for(request)
        with claimed_upload(ctx, request, path, lambda: ctx.authorize(request, Permission.TRAIN_MODELS)) as table:
            train_request = TrainRequest(
                table,
                model_name.strip(),
                target_column.strip(),
                key=key_column.strip() or None,
                favourable=good.strip() or None,
            )
            version = train(ctx.app, tree_learner(ctx.settings), registry_of(ctx), train_request, user.actor)
        choices = model_choices(ctx, user)
        return model_view(version), gr.Dropdown(choices=choices, value=version.name), form_row(version), None

    @guarded
    def on_remove(chosen: str | None, request: gr.Request) -> tuple[str, Any]:
        user, _ = ctx.authorize(request, Permission.TRAIN_MODELS)
        if not chosen:
            raise gr.Error("Choose a model first.")
        outcome = remove_model(ctx.app, registry_of(ctx), chosen, user.actor)
        note = (
            "retired: its decisions stay re-computable, it makes no new ones"
            if outcome["result"] == "retired"
            else "deleted"
        )
        return f"<p>{escape(chosen)}: {note}.</p>", gr.Dropdown(choices=model_choices(ctx, user), value=None)

    @guarded
    def on_predict_file(path: str | None, chosen: str | None, request: gr.Request) -> tuple[Any, Any, str, None]:
        checked: list[tuple[UserRecord, ModelRegistry, str]] = []
        with claimed_upload(ctx, request, path, lambda: checked.append(use(request, chosen))) as table:
            user, registry, chosen_model = checked[0]
            result = predict(ctx.app, tree_learner(ctx.settings), registry, chosen_model, table, user.actor)
        return (*shown_decisions(result), None)

    @guarded
    def on_predict_row(chosen: str | None, filled: Any, request: gr.Request) -> tuple[Any, Any, str]:
        user, registry, chosen = use(request, chosen)
        table = table_from_form(filled)
        if not table.rows:
            raise gr.Error("Fill in the row first.")
        result = predict_table(ctx.app, tree_learner(ctx.settings), registry, chosen, table, user.actor)
        return shown_decisions(result)

    @guarded
    def on_open(seq: float | None, request: gr.Request) -> str:
        user = ctx.user_for(request)
        if seq is None:
            raise gr.Error("Choose a decision first.")
        event = decision_event(ctx.app.audit, int(seq))
        authorize_model(ctx.app.audit, user, Permission.USE_MODELS, event["subject"])
        return open_decision(int(seq))

    def on_select(event: gr.SelectData) -> Any:
        row = event.row_value or []
        return row[3] if len(row) > 3 and row[3] != "" else None

    show_button.click(on_show, model, [model_info, form], api_name="model_show", api_visibility="undocumented")
    train_button.click(
        on_train,
        [train_file, name, target, favourable, key],
        [model_info, model, form, train_file],
        api_name="model_train",
        concurrency_id="train",
        concurrency_limit=1,
        api_visibility="undocumented",
    )
    remove_button.click(on_remove, model, [model_info, model], api_name="model_remove", api_visibility="undocumented")
    predict_file_button.click(
        on_predict_file,
        [input_file, model],
        [decisions, decision_seq, decision, input_file],
        api_name="model_predict_file",
        api_visibility="undocumented",
    )
    predict_row_button.click(
        on_predict_row,
        [model, form],
        [decisions, decision_seq, decision],
        api_name="model_predict_row",
        api_visibility="undocumented",
    )
    open_button.click(on_open, decision_seq, decision, api_name="model_decision", api_visibility="undocumented")
    decisions.select(on_select, None, decision_seq, api_visibility="private")

    def load(user: UserRecord, _collections: list[str]) -> list[Any]:
        choices = model_choices(ctx, user)
        return [
            gr.Dropdown(choices=choices, value=choices[0] if choices else None),
            gr.Group(visible=allowed(user.role, Permission.TRAIN_MODELS)),
        ]

    def shown_if(user: UserRecord) -> bool:  # an analyst with no model granted has nothing to do here
        return allowed(user.role, Permission.TRAIN_MODELS) or bool(user.models)

    return Page(tab=tab, permission=Permission.USE_MODELS, outputs=[model, train_group], load=load, shown_if=shown_if)
