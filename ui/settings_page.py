"""Settings: a read-only view for administrators, with any database password masked."""

from __future__ import annotations

from typing import Any

import gradio as gr

from appliance.access.roles import Permission
from appliance.access.rules import settings_view
from appliance.access.users import UserRecord
from ui.context import WebContext
from ui.guard import guarded
from ui.page import Page


def build(ctx: WebContext) -> Page:
    """The Settings tab and its handler."""
    with gr.Tab("Settings", id="settings", visible=False) as tab:
        gr.Markdown("Read-only. Change settings in `APPLIANCE_HOME/appliance.toml` or the environment, then restart.")
        view = gr.JSON(label="Settings in effect", elem_id="settings-json")
        refresh = gr.Button("Reload")

    @guarded
    def on_show(request: gr.Request) -> Any:
        ctx.authorize(request, Permission.VIEW_SETTINGS)
        return settings_view(ctx.settings)

    refresh.click(on_show, None, view, api_name="settings", api_visibility="undocumented")

    def load(user: UserRecord, _collections: list[str]) -> list[Any]:
        return [settings_view(ctx.settings)]

    return Page(tab=tab, permission=Permission.VIEW_SETTINGS, outputs=[view], load=load)
