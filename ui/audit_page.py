"""Audit: filter the log, open one event (a tabular decision with its picture, re-computed), download a
signed export bundle, verify the chain."""

from __future__ import annotations

import datetime as dt
import html
import secrets
from collections import deque
from typing import Any

import gradio as gr

from appliance.access.roles import Permission, allowed
from appliance.access.users import UserRecord
from appliance.audit import events as audit_events
from appliance.audit.export import export_bundle
from appliance.audit.search import build_filter, iso_time, search
from appliance.audit.verify import verify_log
from appliance.build import tree_learner
from appliance.tabular.plots import decision_attachments
from appliance.tabular.registry import ModelRegistry, RegistryError
from appliance.tabular.review import recompute
from ui.context import WebContext
from ui.decision_view import decision_html
from ui.guard import guarded
from ui.page import Page

SHOWN_EVENTS = 500
EVENT_HEADERS = ["seq", "time (UTC)", "actor", "role", "action", "subject"]


def build(ctx: WebContext) -> Page:
    """The Audit tab and its handlers."""
    with gr.Tab("Audit", id="audit", visible=False) as tab:
        with gr.Row():
            since = gr.Textbox(label="Since (ISO date or date-time, UTC)", elem_id="audit-since")
            until = gr.Textbox(label="Until", elem_id="audit-until")
            actor = gr.Textbox(label="Actor (e.g. user:alice)", elem_id="audit-actor")
            action = gr.Textbox(label="Action (exact, or a prefix ending in *)", elem_id="audit-action")
            text = gr.Textbox(label="Text in subject or details", elem_id="audit-text")
        search_button = gr.Button("Search", variant="primary", elem_id="audit-search")
        events = gr.Dataframe(
            headers=EVENT_HEADERS, label=f"Events (newest first, at most {SHOWN_EVENTS})", interactive=False
        )
        with gr.Row():
            seq = gr.Number(value=None, label="Event number", precision=0, elem_id="audit-seq")
            open_button = gr.Button("Open event", elem_id="audit-open")
        event_json = gr.JSON(label="Event", elem_id="audit-event")
        decision_view = gr.HTML(elem_id="audit-decision")
        with gr.Row():
            export_button = gr.Button("Export signed bundle (current filters)", visible=False, elem_id="audit-export")
            verify_button = gr.Button("Verify the chain", visible=False, elem_id="audit-verify")
        export_link = gr.HTML(elem_id="audit-export-link")
        verify_json = gr.JSON(label="Verification", elem_id="audit-verify-result")

    @guarded
    def on_search(since: str, until: str, actor: str, action: str, text: str, request: gr.Request) -> Any:
        ctx.authorize(request, Permission.AUDIT_SEARCH)
        selection = build_filter(since.strip(), until.strip(), actor.strip(), action.strip(), text.strip())
        latest: deque[dict[str, Any]] = deque(search(ctx.app.audit, selection, limit=None), maxlen=SHOWN_EVENTS)
        rows = [
            [e["seq"], iso_time(e["ts_ms"]), e["actor"], e["role"], e["action"], e["subject"] or ""]
            for e in reversed(latest)
        ]
        return gr.Dataframe(value=rows, headers=EVENT_HEADERS)

    def on_select(event: gr.SelectData) -> Any:
        row = event.row_value or []
        return row[0] if row else None

    @guarded
    def on_open(number: float | None, request: gr.Request) -> tuple[Any, str]:
        ctx.authorize(request, Permission.AUDIT_VIEW)
        if number is None:
            raise gr.Error("Choose an event first.")
        found = next(iter(ctx.app.audit.events("seq = :seq", {"seq": int(number)})), None)
        if found is None:
            raise gr.Error(f"No event {int(number)}.")
        return {**found, "time_utc": iso_time(found["ts_ms"])}, recorded_decision_view(found)

    def recorded_decision_view(event: dict[str, Any]) -> str:
        """A tabular decision's picture, reasons and re-computation; nothing for other events."""
        if event["action"] != audit_events.TABULAR_PREDICT:
            return ""
        try:
            again = recompute(
                ctx.app.audit, tree_learner(ctx.settings), ModelRegistry(ctx.settings.tabular_dir), event["seq"]
            )
        except (RegistryError, ValueError) as problem:
            return decision_html(event) + f"<p>Cannot re-compute this decision: {html.escape(str(problem))}</p>"
        return decision_html(event, again)

    @guarded
    def on_export(since: str, until: str, actor: str, action: str, text: str, request: gr.Request) -> str:
        user, _ = ctx.authorize(request, Permission.AUDIT_EXPORT)
        selection = build_filter(since.strip(), until.strip(), actor.strip(), action.strip(), text.strip())
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        filename = f"audit-export-{stamp}.zip"
        ctx.exports_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        summary = export_bundle(
            ctx.app.audit,
            ctx.exports_dir / f"{secrets.token_hex(8)}-{filename}",
            selection,
            user.actor,
            decision_attachments,
        )
        key = ctx.downloads.add(summary.path, user.name, filename)
        # Our own markup around values we made (a number and a hex digest), escaped all the same.
        return (
            f'<p><a id="audit-download" href="/downloads/{html.escape(key)}" download="{html.escape(filename)}">'
            f"Download {html.escape(filename)}</a> — {summary.events} events, sha256 "
            f"<code>{html.escape(summary.sha256)}</code>. The link works once, for 15 minutes.</p>"
        )

    @guarded
    def on_verify(request: gr.Request) -> Any:
        ctx.authorize(request, Permission.AUDIT_VERIFY)
        return verify_log(ctx.app.audit, ctx.settings.audit.checkpoint_copy).to_json()

    filters = [since, until, actor, action, text]
    search_button.click(on_search, filters, events, api_name="audit_search", api_visibility="undocumented")
    events.select(on_select, None, seq, api_visibility="private")
    open_button.click(on_open, seq, [event_json, decision_view], api_name="audit_event", api_visibility="undocumented")
    export_button.click(on_export, filters, export_link, api_name="audit_export", api_visibility="undocumented")
    verify_button.click(on_verify, None, verify_json, api_name="audit_verify", api_visibility="undocumented")

    def load(user: UserRecord, _collections: list[str]) -> list[Any]:
        return [
            gr.Button(visible=allowed(user.role, Permission.AUDIT_EXPORT)),
            gr.Button(visible=allowed(user.role, Permission.AUDIT_VERIFY)),
        ]

    return Page(tab=tab, permission=Permission.AUDIT_SEARCH, outputs=[export_button, verify_button], load=load)
