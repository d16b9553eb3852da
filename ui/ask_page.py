"""Ask: a question, the mode, a collection and optionally a fine-tuned adapter; a streamed answer; cited
passages; feedback.

The adapter list offers only what the caller may be served; the handler checks again (ui/served_adapters.py)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import gradio as gr

from appliance.access.roles import Forbidden, Permission
from appliance.access.users import UserRecord
from appliance.answer.answering import Answer, Mode, ask
from appliance.answer.feedback import FeedbackError, submit_feedback
from ui.citations_view import QUOTE, citation_segments
from ui.context import WebContext
from ui.guard import guarded
from ui.page import Page
from ui.question_slots import MAX_QUESTION_CHARS
from ui.served_adapters import servable_adapters, served_adapter

STREAM_EVERY_SECONDS = 0.1
SHORTENED = f"Your question was shortened to its first {MAX_QUESTION_CHARS:,} characters. "


def note(answer: Answer) -> str:
    """One line about how the answer was made."""
    if answer.mode == "direct":
        return f"Direct answer: no documents were consulted, so it is not grounded. (audit event {answer.audit_seq})"
    if answer.refused:
        return f"No passage in the chosen collection supports an answer. (audit event {answer.audit_seq})"
    count = len(answer.citations)
    late = " The model's evidence step hit its time limit, so the most relevant passages were used." * bool(
        answer.recall_timed_out
    )
    return (
        f"Answered from {count} verified quotation{'s' if count != 1 else ''} ({answer.evidence}).{late} "
        f"(audit event {answer.audit_seq})"
    )


def adapter_choices(ctx: WebContext, user: UserRecord) -> list[tuple[str, str]]:
    """(label, name) of the adapters `user` may be served, after the base model ("")."""
    allowed = servable_adapters(ctx, user)
    return [("base model (no adapter)", ""), *((f"{v.name} v{v.version} ({v.state})", v.name) for v in allowed)]


def stream_answer(
    ctx: WebContext, user: UserRecord, question: str, collections: list[str], mode: Mode, adapter: Any = None
) -> Iterator[str | Answer]:
    """The answer text as it grows, then the finished Answer (ask runs in a worker thread)."""
    pieces: queue.Queue[str | None] = queue.Queue()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["answer"] = ask(
                ctx.app,
                question,
                actor=user.actor,
                collections=collections,
                mode=mode,
                on_token=pieces.put,
                adapter=adapter,
            )
        except BaseException as error:  # noqa: BLE001 - handed to the handler's thread below
            outcome["error"] = error
        finally:
            pieces.put(None)

    worker = threading.Thread(target=work, name="web-ask", daemon=True)
    worker.start()
    text, last, done = "", 0.0, False
    while not done:
        piece = pieces.get()
        done = piece is None
        text += piece or ""
        while not done and not pieces.empty():  # take what has arrived meanwhile
            more = pieces.get()
            done = more is None
            text += more or ""
        if text and time.monotonic() - last >= STREAM_EVERY_SECONDS:
            last = time.monotonic()
            yield text
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    yield outcome["answer"]


def build(ctx: WebContext) -> Page:
    """The Ask tab and its handlers."""
    with gr.Tab("Ask", id="ask", visible=False) as tab:
        with gr.Row():
            question = gr.Textbox(label="Question", lines=2, max_length=MAX_QUESTION_CHARS, scale=4)
            with gr.Column(scale=1):
                mode = gr.Radio(["rag", "direct"], value="rag", label="Mode")
                collection = gr.Dropdown(
                    choices=[], label="Collection", allow_custom_value=True
                )  # checked in authorize()
                adapter = gr.Dropdown(
                    choices=[], label="Adapter", allow_custom_value=True, elem_id="ask-adapter"
                )  # checked in served_adapter()
        ask_button = gr.Button("Ask", variant="primary", elem_id="ask-button")
        answer_box = gr.Textbox(label="Answer", lines=5, interactive=False, elem_id="answer")
        answer_note = gr.Textbox(label="How this answer was made", interactive=False, elem_id="answer-note")
        citations = gr.HighlightedText(
            label="Citations: each quote highlighted inside its passage",
            color_map={QUOTE: "#fde68a"},
            show_inline_category=False,
            elem_id="citations",
        )
        last_answer = gr.State({})
        with gr.Accordion("Feedback on this answer", open=False):
            correction = gr.Textbox(label="Correction (optional; redacted before it is stored)", lines=2)
            with gr.Row():
                up = gr.Button("👍 Helpful", elem_id="thumbs-up")
                down = gr.Button("👎 Not helpful", elem_id="thumbs-down")
            feedback_note = gr.Textbox(label="Feedback", interactive=False, elem_id="feedback-note")

    @guarded
    def on_ask(
        question: str, mode: str, collection: str, adapter_name: str | None, request: gr.Request
    ) -> Iterator[Any]:
        user, collections = ctx.authorize(request, Permission.ASK, [collection], scoped_to=True)
        if mode not in ("rag", "direct"):
            raise Forbidden(f"unknown mode {mode!r}")
        if not (question or "").strip():
            raise gr.Error("Type a question first.")
        chosen = collections[:1]
        served = served_adapter(ctx, user, adapter_name, chosen)
        chosen_mode: Mode = "direct" if mode == "direct" else "rag"
        told = SHORTENED if len(question) > MAX_QUESTION_CHARS else ""
        with ctx.questions.hold(user.name):  # a few questions per user at a time, or TooManyQuestions
            yield "", told + "Waiting for the model…", [], gr.skip()
            for item in stream_answer(ctx, user, question[:MAX_QUESTION_CHARS], chosen, chosen_mode, served):
                if isinstance(item, Answer):
                    segments = citation_segments(item.citations, item.retrieved)
                    yield item.answer, told + note(item), segments, {"seq": item.audit_seq, "collections": chosen}
                else:
                    yield item, told + "Answering…", [], gr.skip()

    def rate(rating: str, correction: str, state: dict[str, Any], request: gr.Request) -> str:
        user, collections = ctx.authorize(request, Permission.FEEDBACK, state.get("collections"), scoped_to=True)
        if not state.get("seq"):
            raise FeedbackError("ask a question first; feedback belongs to an answer")
        recorded = submit_feedback(
            ctx.app,
            actor=user.actor,
            ask_seq=int(state["seq"]),
            rating=rating,  # type: ignore[arg-type]
            correction=correction or "",
            collections=collections,
        )
        return f"Thank you: recorded as audit event {recorded.seq}."

    @guarded
    def on_up(correction: str, state: dict[str, Any], request: gr.Request) -> str:
        return rate("up", correction, state, request)

    @guarded
    def on_down(correction: str, state: dict[str, Any], request: gr.Request) -> str:
        return rate("down", correction, state, request)

    ask_event = dict(
        fn=on_ask,
        inputs=[question, mode, collection, adapter],
        outputs=[answer_box, answer_note, citations, last_answer],
        api_name="ask",
        api_visibility="undocumented",
        concurrency_id="model",
        concurrency_limit=ctx.settings.web.ask_concurrency,
    )
    ask_button.click(**ask_event)  # type: ignore[arg-type]
    question.submit(**{**ask_event, "api_name": None, "api_visibility": "private"})  # type: ignore[arg-type]
    up.click(on_up, [correction, last_answer], feedback_note, api_name="feedback_up", api_visibility="undocumented")
    down.click(
        on_down, [correction, last_answer], feedback_note, api_name="feedback_down", api_visibility="undocumented"
    )

    def load(user: UserRecord, collections: list[str]) -> list[Any]:
        return [
            gr.Dropdown(choices=collections, value=collections[0] if collections else None),
            gr.Dropdown(choices=adapter_choices(ctx, user), value=""),
        ]

    return Page(tab=tab, permission=Permission.ASK, outputs=[collection, adapter], load=load)
