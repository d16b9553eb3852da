"""Finding 4, questions and messages: silent truncation, one user holding the model, HTML in error messages.

A 1 MB question was cut to 4,000 characters without a word and then held the only model slot
for a minute; user-supplied values came back as HTML in error toasts. Now the user is told when
a question was shortened, each user may have only a few questions waiting, the model's evidence
step has a time limit, over-long requests are refused at the gate, and messages are escaped.
"""

from __future__ import annotations

import os
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from appliance.answer.answering import ask
from appliance.build import build
from appliance.settings import AnsweringSettings, Settings
from ingestion.pipeline import ingest_paths
from tests.actors import TESTER
from tests.conftest import DEMO_CORPUS
from tests.served import PASSWORD, Served
from ui.http_client import call, sign_in

HOSTILE_VALUE = '<img src=x onerror="window.__xss=3">'


def test_a_shortened_question_says_so(site: Served) -> None:
    question = "What is the hotel cap per night? " + "Please answer briefly. " * 400
    assert len(question) > 4000
    with closing(sign_in(site.url, "ana", PASSWORD)) as analyst:
        kind, payload = call(analyst, "ask", [question, "rag", "finance", None])
        assert kind == "complete", payload
        assert "shortened" in payload[1], payload[1]
        too_big = analyst.post("/app/gradio_api/call/ask", json={"data": ["x" * 1_000_000, "rag", "finance", None]})
        assert too_big.status_code == 413


def test_one_user_cannot_fill_the_question_queue(site: Served) -> None:
    limit = getattr(site.ctx.settings.web, "questions_per_user", 2)
    results: list[tuple[str, Any]] = []
    with closing(sign_in(site.url, "ben", PASSWORD)) as ben:

        def ask_one(n: int) -> None:
            results.append(call(ben, "ask", [f"What is the hotel cap per night? ({n})", "rag", "finance", None]))

        workers = [threading.Thread(target=ask_one, args=(n,)) for n in range(limit + 2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=300)
    refused = [payload for kind, payload in results if kind == "error"]
    answered = [payload for kind, payload in results if kind == "complete"]
    assert refused and all("waiting" in str(p) for p in refused), results
    assert len(answered) >= limit, results
    # Someone else is not affected by ben's queue.
    with closing(sign_in(site.url, "ana", PASSWORD)) as ana:
        assert call(ana, "ask", ["What is the hotel cap per night?", "rag", "finance", None])[0] == "complete"


def test_the_evidence_step_has_a_time_limit(models: Any, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", answering=AnsweringSettings(recall_seconds=0.001))
    saved = dict(os.environ)  # build() points caches and TMPDIR at its home; put them back afterwards
    app = build(settings, models)
    try:
        report = ingest_paths(app, [DEMO_CORPUS / "travel_expense_policy.md"], collection="finance", actor=TESTER)
        assert not report.failed
        late = ask(app, "What is the hotel cap per night?", actor=TESTER, collections=["finance"])
        assert late.recall_timed_out and late.evidence == "extractive" and late.citations, late
        recorded = next(iter(app.audit.events("seq = :s", {"s": late.audit_seq})))
        assert recorded["details"]["recall_timed_out"] is True
    finally:
        app.close()
        os.environ.clear()
        os.environ.update(saved)


def test_error_messages_carry_user_values_as_text(site: Served) -> None:
    with closing(sign_in(site.url, "ana", PASSWORD)) as analyst:
        kind, payload = call(analyst, "open", ["some-document", HOSTILE_VALUE])
        assert kind == "error", payload
        message = str(payload)
        assert "<img" not in message and "&lt;img" in message, message


@pytest.mark.slow
def test_an_error_toast_shows_a_hostile_value_as_text(site: Served) -> None:
    from tests.browser import BROWSER_ARGS, CHROMIUM

    if not CHROMIUM.exists():
        pytest.skip("needs the Debian package chromium (make system-deps)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (make install)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=BROWSER_ARGS, env={**os.environ, "TMPDIR": "/tmp"}
        )
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(60_000)
            page.goto(site.url + "/login")
            page.fill("#name", "ana")
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            page.wait_for_url("**/app/")
            page.get_by_role("tab", name="Documents").click()
            page.locator("#doc-id textarea, #doc-id input").first.fill("some-document")
            page.locator("#doc-collection textarea, #doc-collection input").first.fill(HOSTILE_VALUE)
            page.click("#open-document")
            page.get_by_text("invalid collection name", exact=False).first.wait_for()
            # No img element exists once the message is shown, so no onerror can fire later: no wait needed.
            assert page.locator("img[src=x]").count() == 0
            assert page.evaluate("window.__xss") is None, "the value ran as markup in the error message"
            assert 'onerror="window.__xss=3"' in page.inner_text("body")  # shown as the characters typed
        finally:
            browser.close()


def test_while_the_model_is_busy_one_question_waits_and_the_next_is_told_the_queue_is_full(
    models: Any, tmp_path: Path
) -> None:
    """web.ask_concurrency questions run, web.queue_size wait, and beyond that a question is refused at once.

    The model is held by the test (its one-at-a-time lock), so the order of events is fixed, not raced.
    """
    from appliance.settings import WebSettings
    from tests.served import served_appliance

    (tmp_path / "finance").mkdir()
    policy = tmp_path / "finance" / "travel_expense_policy.md"
    policy.write_text((DEMO_CORPUS / "travel_expense_policy.md").read_text())
    settings = Settings(home=tmp_path / "home", web=WebSettings(ask_concurrency=1, queue_size=1))
    users = [(name, "analyst", ["finance"]) for name in ("ana", "ben", "cy")]
    saved = dict(os.environ)
    try:
        with served_appliance(tmp_path / "home", models, {"finance": [policy]}, users, settings) as site:
            generator = site.app.generator
            model_reached = threading.Event()
            real_chat = generator.chat

            def chat(*args: Any, **kwargs: Any) -> Any:
                model_reached.set()
                return real_chat(*args, **kwargs)

            generator.chat = chat  # the real model; only notes that a question reached it
            question = ["What is the hotel cap per night?", "rag", "finance", None]
            results: dict[str, tuple[str, Any]] = {}
            with closing(sign_in(site.url, "ana", PASSWORD)) as ana, closing(sign_in(site.url, "ben", PASSWORD)) as ben:
                with closing(sign_in(site.url, "cy", PASSWORD)) as cy:
                    generator._generating.acquire()  # the model is writing someone else's answer
                    try:
                        first = threading.Thread(target=lambda: results.update(ana=call(ana, "ask", question)))
                        first.start()
                        assert model_reached.wait(120), "the first question never reached the model"
                        waiting = ben.post("/app/gradio_api/call/ask", json={"data": question})
                        assert waiting.status_code == 200, waiting.text  # queued behind the first
                        refused = cy.post("/app/gradio_api/call/ask", json={"data": question})
                        assert refused.status_code == 503 and "Queue is full" in refused.text, refused.text
                    finally:
                        generator._generating.release()
                    first.join(300)
                    with ben.stream(
                        "GET", f"/app/gradio_api/call/ask/{waiting.json()['event_id']}", timeout=300
                    ) as reply:
                        ben_events = "".join(reply.iter_text())
            assert results["ana"][0] == "complete" and "180" in results["ana"][1][0], results
            assert "event: complete" in ben_events and "180" in ben_events, ben_events
    finally:
        os.environ.clear()
        os.environ.update(saved)
