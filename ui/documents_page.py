"""Documents: upload and ingest, the list of the user's documents, open one (audited), delete (admins).

Uploads arrive in Gradio's temporary folder under APPLIANCE_HOME/tmp through its upload
route, which the gate records per session (ui/ownership.py); the ingest handler accepts only
those files, once, never a path or URL named in a request. Role and collection are checked
before a file is read; then it is moved to tmp/uploads/COLLECTION/NAME, ingested as document
`upload:NAME` (so a file uploaded again under the same name becomes a new version of the same
document), and deleted, as is a refused or failed upload, at once. Uploads are never served
back: the gate lists no file route.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from appliance.access.roles import Forbidden, Permission, allowed
from appliance.access.rules import readable_documents
from appliance.access.users import UserRecord
from appliance.store.documents import delete_document, show_document
from ingestion.pipeline import ingest_paths
from ingestion.report import IngestReport, Progress
from ui.context import WebContext
from ui.guard import guarded
from ui.ownership import delete_uploads
from ui.page import Page

RESULT_HEADERS = ["file", "result", "chunks", "redactions", "error"]
LIST_HEADERS = ["collection", "name", "doc_id", "version", "kind", "chunks", "pages", "redactions"]


def counts(redactions: dict[str, int]) -> str:
    """`PERSON 3, EMAIL_ADDRESS 1` or `none`."""
    return ", ".join(f"{k} {v}" for k, v in sorted(redactions.items())) or "none"


def stage_uploads(ctx: WebContext, files: list[Path], collection: str) -> list[Path]:
    """Move this session's uploaded files from Gradio's folder to tmp/uploads/COLLECTION/NAME."""
    target = ctx.uploads_dir / collection
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    staged: list[Path] = []
    for source in files:
        destination = target / source.name
        os.replace(source, destination)
        staged.append(destination)
    return staged


def result_rows(report: IngestReport) -> list[list[Any]]:
    """One row per file: what happened to it."""
    rows: list[list[Any]] = [
        [Path(d.path).name, f"ingested (version {d.version})", d.chunks, counts(d.redactions), ""]
        for d in report.ingested
    ]
    rows += [[Path(u["path"]).name, "unchanged", "", "", ""] for u in report.unchanged]
    rows += [[Path(f["path"]).name, "failed", "", "", f["error"]] for f in report.failed]
    return rows


def document_rows(documents: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            d["collection"],
            Path(d["source"]).name,
            d["doc_id"],
            d["version"],
            d["kind"],
            d["chunks"],
            d["pages"] or "",
            counts(d["redactions"]),
        ]
        for d in documents
    ]


def ingest_uploads(
    ctx: WebContext, received: list[Path], collection: str, user: UserRecord, progress: Callable[..., Any]
) -> IngestReport:
    """Ingest this session's uploads as `upload:NAME` documents; every upload is deleted, whatever happens."""
    staged: list[Path] = []
    try:
        if not received:
            raise gr.Error("Choose one or more files first.")
        staged = stage_uploads(ctx, received, collection)

        def step(event: Progress) -> None:
            progress((event.file_index - 1, event.file_count), desc=f"{event.stage} {Path(event.path).name}")

        return ingest_paths(
            ctx.app,
            staged,
            collection=collection,
            actor=user.actor,
            progress=step,
            doc_id_for=lambda path: f"upload:{path.name}",
        )
    finally:  # ingested, refused or failed: no upload outlives its request
        delete_uploads(received, ctx.uploads.folder)
        for path in staged:
            path.unlink(missing_ok=True)


def build(ctx: WebContext) -> Page:
    """The Documents tab and its handlers."""
    with gr.Tab("Documents", id="documents", visible=False) as tab:
        with gr.Group(visible=False) as upload_group:
            gr.Markdown("### Add documents")
            with gr.Row():
                files = gr.File(label="Files", file_count="multiple", type="filepath", elem_id="upload-files", scale=3)
                with gr.Column(scale=1):
                    upload_collection = gr.Dropdown(choices=[], label="Into collection", allow_custom_value=True)
                    ingest_button = gr.Button("Ingest", variant="primary", elem_id="ingest-button")
            results = gr.Dataframe(headers=RESULT_HEADERS, label="Results", interactive=False, elem_id="ingest-results")
        gr.Markdown("### Your documents")
        refresh = gr.Button("Refresh list", elem_id="refresh-documents")
        listing = gr.Dataframe(headers=LIST_HEADERS, label="Documents", interactive=False, elem_id="document-list")
        with gr.Row():
            doc_id = gr.Textbox(label="Document id", elem_id="doc-id", scale=3)
            doc_collection = gr.Textbox(label="Collection", elem_id="doc-collection", scale=1)
        with gr.Row():
            open_button = gr.Button("Open (audited)", elem_id="open-document")
            delete_button = gr.Button("Delete", variant="stop", visible=False, elem_id="delete-document")
        doc_info = gr.Textbox(label="Document", interactive=False, elem_id="document-info")
        doc_text = gr.Textbox(label="Stored (redacted) text", lines=12, interactive=False, elem_id="document-text")

    @guarded
    def on_ingest(
        paths: list[str] | None,
        collection: str,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - how Gradio asks for progress
    ) -> Any:
        session, _ = ctx.session_of(request)
        named = list(paths or [])
        try:
            user, collections = ctx.authorize(request, Permission.INGEST, [collection], scoped_to=True)
        except Forbidden:
            ctx.uploads.discard(session.id, named)  # a refused upload is deleted at once, unread
            raise
        received = ctx.uploads.take(session.id, named)  # only this session's own uploads, once
        report = ingest_uploads(ctx, received, collections[0], user, progress)
        rows = result_rows(report)
        listing_rows = document_rows(readable_documents(ctx.app, user))
        return gr.Dataframe(value=rows, headers=RESULT_HEADERS), None, gr.Dataframe(value=listing_rows)

    @guarded
    def on_refresh(request: gr.Request) -> Any:
        user = ctx.user_for(request)
        return gr.Dataframe(value=document_rows(readable_documents(ctx.app, user)), headers=LIST_HEADERS)

    def on_select(event: gr.SelectData) -> tuple[str, str]:
        row = event.row_value or []
        return (str(row[2]), str(row[0])) if len(row) > 2 else ("", "")

    @guarded
    def on_open(document: str, collection: str, request: gr.Request) -> tuple[str, str]:
        user, collections = ctx.authorize(request, Permission.VIEW_DOCUMENT, [collection], scoped_to=True)
        shown = show_document(ctx.app, document.strip(), actor=user.actor, collections=collections)
        info = (
            f"{Path(shown['source']).name} · collection {shown['collection']} · version {shown['version']} · "
            f"{shown['kind']} · {len(shown['chunks'])} chunks · redacted: {counts(shown['redactions'])}"
        )
        return info, shown["text"]

    @guarded
    def on_delete(document: str, collection: str, request: gr.Request) -> tuple[str, str, Any]:
        user, collections = ctx.authorize(request, Permission.DELETE_DOCUMENT, [collection], scoped_to=True)
        deleted = delete_document(ctx.app, document.strip(), actor=user.actor, collections=collections)
        listing_rows = document_rows(readable_documents(ctx.app, user))
        info = f"Deleted {deleted['deleted']} (version {deleted['version']}, {deleted['chunks']} chunks)."
        return info, "", gr.Dataframe(value=listing_rows)

    ingest_button.click(
        on_ingest,
        [files, upload_collection],
        [results, files, listing],
        api_name="ingest",
        api_visibility="undocumented",
        concurrency_id="ingest",
        concurrency_limit=1,
    )
    refresh.click(on_refresh, None, listing, api_name="documents", api_visibility="undocumented")
    listing.select(on_select, None, [doc_id, doc_collection], api_visibility="private")
    open_button.click(
        on_open, [doc_id, doc_collection], [doc_info, doc_text], api_name="open", api_visibility="undocumented"
    )
    delete_button.click(
        on_delete,
        [doc_id, doc_collection],
        [doc_info, doc_text, listing],
        api_name="delete",
        api_visibility="undocumented",
    )

    def load(user: UserRecord, collections: list[str]) -> list[Any]:
        may_ingest = allowed(user.role, Permission.INGEST)
        return [
            gr.Group(visible=may_ingest),
            gr.Dropdown(choices=collections, value=collections[0] if collections else None),
            gr.Dataframe(value=document_rows(readable_documents(ctx.app, user)), headers=LIST_HEADERS),
            gr.Button(visible=allowed(user.role, Permission.DELETE_DOCUMENT)),
        ]

    return Page(
        tab=tab,
        permission=Permission.LIST_DOCUMENTS,
        outputs=[upload_group, upload_collection, listing, delete_button],
        load=load,
    )
