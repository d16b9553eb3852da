"""The Gradio Blocks: a header with the signed-in user, then one tab per page.

Tabs start hidden; when the page loads, each is shown only to roles holding its
permission. Every handler checks again on the server (ui/context.py `authorize`).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from appliance.access.rules import known_collections, usable_collections
from ui import adapters_page, ask_page, audit_page, documents_page, models_page, settings_page
from ui.context import WebContext
from ui.guard import guarded
from ui.page import Page

TITLE = "Document appliance"
# Files uploaded but never ingested are removed from Gradio's folder: checked every 15 minutes, kept 1 hour.
UPLOAD_CACHE = (900, 3600)


def build_blocks(ctx: WebContext) -> gr.Blocks:
    """The whole UI, wired to `ctx`."""
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=UPLOAD_CACHE) as blocks:
        with gr.Row():
            gr.Markdown(f"## {TITLE}")
            who = gr.Textbox(show_label=False, interactive=False, container=False, elem_id="signed-in-as", scale=2)
            gr.Button("Sign out", link="/logout", size="sm", scale=0, elem_id="sign-out")
        with gr.Tabs():
            pages: list[Page] = [
                ask_page.build(ctx),
                documents_page.build(ctx),
                models_page.build(ctx),
                adapters_page.build(ctx),
                audit_page.build(ctx),
                settings_page.build(ctx),
            ]

        @guarded
        def on_load(request: gr.Request) -> list[Any]:
            user = ctx.user_for(request)
            collections = usable_collections(user, known_collections(ctx.app))
            grants = ", ".join(collections) or "no collections"
            updates: list[Any] = [f"Signed in as {user.name} ({user.role}; {grants})"]
            for page in pages:
                updates.append(gr.Tab(visible=page.shown_to(user)))
            for page in pages:
                if page.shown_to(user) and page.load is not None:
                    updates += page.load(user, collections)
                else:
                    updates += [gr.skip() for _ in page.outputs]
            return updates

        outputs = [who, *(p.tab for p in pages), *(o for p in pages for o in p.outputs)]
        blocks.load(on_load, None, outputs, api_visibility="private")
    return blocks
