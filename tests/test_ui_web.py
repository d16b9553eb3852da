"""The web UI on a real server: sign-in, roles and collections, citations, upload, export, zero egress, no HTML injection.

One server per module (real models, Chroma, SQLite, uvicorn on a loopback port). The
HTTP tests call Gradio's API routes directly with a user's session cookie, the way a
script would, to show that every handler checks role and collection on the server. The
browser tests drive Debian's chromium through playwright and record every request the
page makes.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.audit.chain import verify_bundle
from appliance.store.documents import show_document
from tests.actors import TESTER
from tests.browser import Visit, launched_browser
from tests.conftest import DEMO_CORPUS
from tests.served import PASSWORD, served_appliance
from ui.context import WebContext
from ui.http_client import call, sign_in, stream

HOSTILE = (
    "Security notice for the finance team.\n"
    "The reimbursement hotline is open on weekdays <script>window.__xss = 1; alert('script')</script> "
    "and answers within two days.\n"
    'The visitor parking garage code is 4711 <img src="http://cdn.example.net/pixel.png" '
    "onerror=\"window.__xss = 2; alert('img')\"> for all guests.\n"
)
HR_TEXT = (
    "Personnel handbook for the HR team only.\n"
    "The annual bonus pool for 2026 is set at 4.5 percent of the salary budget.\n"
)


@dataclass
class Web:
    url: str
    ctx: WebContext
    hostile_doc: str
    hr_doc: str
    ingest_files: Path
    asked: list[str] = field(default_factory=list)

    @property
    def app(self) -> Any:
        return self.ctx.app


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, models: Any) -> Iterator[Web]:
    """A served appliance: finance (travel policy, a hostile note) and hr collections; admin, analyst, auditor."""
    root = tmp_path_factory.mktemp("web")
    home, corpus = root / "home", root / "corpus"
    (corpus / "finance").mkdir(parents=True)
    (corpus / "hr").mkdir()
    shutil.copy(DEMO_CORPUS / "travel_expense_policy.md", corpus / "finance")
    (corpus / "finance" / "hostile_note.txt").write_text(HOSTILE)
    (corpus / "hr" / "handbook.txt").write_text(HR_TEXT)
    uploads = root / "to-upload"
    uploads.mkdir()
    (uploads / "meal_rules.txt").write_text("The breakfast allowance on business trips is EUR 18 per day.\n")
    users = [("ada", "admin", []), ("ana", "analyst", ["finance"]), ("aud", "auditor", [])]
    corpus_by_collection = {"finance": [corpus / "finance"], "hr": [corpus / "hr"]}
    with served_appliance(home, models, corpus_by_collection, users) as served:
        yield Web(
            served.url,
            served.ctx,
            str(corpus / "finance" / "hostile_note.txt"),
            str(corpus / "hr" / "handbook.txt"),
            uploads,
        )


def events(web: Web, action: str, actor: str) -> list[dict[str, Any]]:
    return list(web.app.audit.events("action = :a AND actor = :u", {"a": action, "u": actor}))


# --- over plain HTTP: what a script calling the API directly gets ----------------------------


def test_everything_under_the_app_needs_a_session(web: Web) -> None:
    with httpx.Client(base_url=web.url, follow_redirects=False) as anonymous:
        page = anonymous.get("/app/")
        assert page.status_code == 303 and page.headers["location"] == "/login"
        for path in ("/app/config", "/app/gradio_api/queue/data?session_hash=x"):
            assert anonymous.get(path).status_code == 401, path
        assert anonymous.get("/app/gradio_api/info").status_code == 404  # not a route the pages use
        direct = anonymous.post("/app/gradio_api/call/ask", json={"data": ["hotel cap?", "rag", "finance", None]})
        assert direct.status_code == 401
        assert anonymous.post("/app/gradio_api/upload", files={"files": ("a.txt", b"x")}).status_code == 401
        assert anonymous.get("/login").status_code == 200
        # Forged or stale cookies are no better than none.
        anonymous.cookies.set("appliance_session", "forged.0000")
        assert anonymous.get("/app/config").status_code == 401
    with pytest.raises(PermissionError):
        sign_in(web.url, "ana", "not the password at all")
    assert events(web, "login.failure", "user:ana")


def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_it(web: Web) -> None:
    with closing(sign_in(web.url, "ana", PASSWORD)) as client:
        cookie = next(c for c in client.cookies.jar if c.name == "appliance_session")
        assert cookie.has_nonstandard_attr("HttpOnly")
        assert str(cookie.get_nonstandard_attr("SameSite")).lower() == "strict"
        assert client.get("/app/config").status_code == 200
        stolen = cookie.value
        assert client.get("/logout").status_code == 303
        with httpx.Client(base_url=web.url) as other:
            other.cookies.set("appliance_session", stolen)
            assert other.get("/app/config").status_code == 401  # ended on the server, not just in the browser


def test_each_role_is_checked_on_the_server_for_direct_api_calls(web: Web) -> None:
    with closing(sign_in(web.url, "aud", PASSWORD)) as auditor:
        kind, payload = call(auditor, "ask", ["What is the hotel cap per night?", "rag", "finance", None])
        assert kind == "error" and "Not allowed" in str(payload)
        kind, _ = call(auditor, "delete", [web.hr_doc, "hr"])
        assert kind == "error"
        kind, payload = call(auditor, "audit_verify", [])
        assert kind == "complete" and payload[0]["ok"]
        upload = auditor.post("/app/gradio_api/upload", files={"files": ("a.txt", b"hello")})
        assert upload.status_code == 403
    assert any(e["subject"] == "ask" for e in events(web, "access.denied", "user:aud"))
    with closing(sign_in(web.url, "ana", PASSWORD)) as analyst:
        for api_name, data in (
            ("audit_search", ["", "", "", "", ""]),
            ("audit_export", ["", "", "", "", ""]),
            ("settings", []),
            ("delete", [web.hostile_doc, "finance"]),
        ):
            kind, payload = call(analyst, api_name, data)
            assert kind == "error" and "Not allowed" in str(payload), api_name
        # Gradio's file route never serves anything back (uploads, cached files).
        assert analyst.get(f"/app/gradio_api/file={web.hostile_doc}").status_code == 404
    assert web.app.catalog.find_active(web.hostile_doc, ["finance"])  # still there


def test_an_analyst_never_reaches_another_collection(web: Web) -> None:
    with closing(sign_in(web.url, "ana", PASSWORD)) as analyst:
        kind, payload = call(analyst, "ask", ["What is the annual bonus pool?", "rag", "hr", None])
        assert kind == "error" and "hr" in str(payload)
        kind, payload = call(analyst, "open", [web.hr_doc, "hr"])
        assert kind == "error"
        kind, payload = call(analyst, "open", [web.hr_doc, "finance"])
        assert kind == "error"  # not in finance, and hr is not searched
        kind, payload = call(analyst, "documents", [])
        assert kind == "complete"
        listed = str(payload)
        assert "travel_expense_policy.md" in listed and "handbook.txt" not in listed and "'hr'" not in listed
        kind, payload = call(analyst, "ask", ["What is the annual bonus pool for 2026?", "rag", "finance", None])
        assert kind == "complete" and "4.5 percent" not in str(payload)


def test_a_direct_answer_streams_and_says_it_is_not_grounded(web: Web) -> None:
    with closing(sign_in(web.url, "ana", PASSWORD)) as analyst:
        updates = stream(analyst, "ask", ["Say hello to the finance team.", "direct", "finance", None])
    kinds = [kind for kind, _ in updates]
    assert kinds[-1] == "complete" and kinds.count("generating") >= 2, kinds
    final = updates[-1][1]
    assert final[0] and "not grounded" in final[1]


def test_download_links_are_for_their_owner_once(web: Web) -> None:
    with closing(sign_in(web.url, "aud", PASSWORD)) as auditor, closing(sign_in(web.url, "ada", PASSWORD)) as admin:
        kind, payload = call(auditor, "audit_export", ["", "", "", "login.*", ""])
        assert kind == "complete"
        link = payload[0].split('href="', 1)[1].split('"', 1)[0]
        assert admin.get(link).status_code == 404  # someone else's export
        first = auditor.get(link)
        assert first.status_code == 200 and first.content[:2] == b"PK"
        assert auditor.get(link).status_code == 404  # once
    deadline = time.monotonic() + 10
    while any(web.ctx.exports_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)  # removed by a background task once the response is sent
    assert not any(web.ctx.exports_dir.iterdir())


# --- in a real browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_browser() as launched:
        yield launched


@pytest.fixture
def visit(browser: Any, web: Web) -> Iterator[Any]:
    opened: list[Visit] = []

    def start(downloads: bool = False) -> Visit:
        opened.append(Visit(browser, web.url, downloads))
        return opened[-1]

    yield start
    for item in opened:
        item.close()


@pytest.mark.slow
def test_browser_sign_in_page_and_wrong_password(visit: Any, web: Web) -> None:
    v = visit()
    v.page.goto(web.url + "/app/")
    assert v.page.url.endswith("/login")  # sent to our own sign-in page
    v.sign_in("ana", "wrong password, surely")
    v.page.wait_for_url("**/login?message=failed")
    assert "Sign-in failed" in v.page.inner_text("body")
    v.sign_in("ana")
    assert v.requests and all(u.startswith(web.url) for u in v.requests)
    assert not v.failed, v.failed


@pytest.mark.slow
def test_browser_analyst_asks_and_sees_verified_citations(visit: Any, web: Web) -> None:
    v = visit()
    v.sign_in("ana")
    v.tab("Documents").wait_for()
    assert not v.tab("Audit").is_visible() and not v.tab("Settings").is_visible()
    assert not v.tab("Models").is_visible()  # no model is granted to her
    assert v.value("signed-in-as").endswith("analyst; finance)")
    v.page.locator("textarea").nth(1).fill("What is the hotel cap per night?")
    v.page.click("#ask-button")
    v.wait_value("answer-note", "audit event")
    assert "EUR 180" in v.value("answer")
    shown = v.page.inner_text("#citations")
    assert "[1] travel_expense_policy.md" in shown
    asked = events(web, "ask", "user:ana")[-1]
    citations = asked["details"]["citations"]
    assert citations
    for citation in citations:
        document = show_document(web.app, citation["doc_id"], actor=TESTER, collections=["finance"])
        assert document["text"][citation["start"] : citation["end"]] == citation["quote"]
        assert " ".join(citation["quote"].split()) in " ".join(shown.split())
    highlighted = v.page.locator("#citations .textspan.hl, #citations mark, #citations [class*=hl]")
    assert highlighted.count() >= 1
    # Thumbs down with a correction lands as a feedback event on that answer.
    v.page.get_by_text("Feedback on this answer").click()
    v.page.locator("#thumbs-down").click()
    v.wait_value("feedback-note", "recorded as audit event")
    feedback = events(web, "feedback", "user:ana")[-1]
    assert feedback["details"]["ask_seq"] == asked["seq"] and feedback["details"]["rating"] == "down"
    assert not v.failed, v.failed


@pytest.mark.slow
def test_browser_analyst_lists_only_their_collection_and_html_stays_text(visit: Any, web: Web) -> None:
    v = visit()
    v.sign_in("ana")
    v.tab("Documents").click()
    v.wait_text("#document-list", "hostile_note.txt")
    text = v.page.inner_text("#document-list")
    assert "travel_expense_policy.md" in text and "handbook.txt" not in text
    assert not v.page.locator("#delete-document").is_visible()  # admins only
    v.page.locator("#doc-id textarea, #doc-id input").first.fill(web.hostile_doc)
    v.page.locator("#doc-collection textarea, #doc-collection input").first.fill("finance")
    v.page.click("#open-document")
    v.wait_value("document-text", "parking garage")
    stored = v.value("document-text")
    assert "<script>" in stored and "<img" in stored  # shown as characters
    assert events(web, "docs.view", "user:ana")  # opening a document is audited
    v.tab("Ask").click()
    v.page.locator("textarea").nth(1).fill("What is the visitor parking garage code?")
    v.page.click("#ask-button")
    v.wait_value("answer-note", "audit event")
    v.wait_text("#citations", "hostile_note.txt")  # rendered after the answer: wait for it, not for a time
    assert "hostile_note.txt" in v.page.inner_text("#citations")
    assert "<script>" in v.page.inner_text("#citations") or "<img" in v.page.inner_text("#citations")
    assert v.page.evaluate("window.__xss") is None
    assert v.page.locator("#citations img, #citations script, #document-text img").count() == 0


@pytest.mark.slow
def test_browser_auditor_cannot_ask_and_exports_a_bundle_that_verifies(visit: Any, web: Web, tmp_path: Path) -> None:
    v = visit(downloads=True)
    v.sign_in("aud")
    v.tab("Audit").wait_for()
    assert not v.tab("Ask").is_visible() and not v.tab("Documents").is_visible()
    v.tab("Audit").click()
    v.page.click("#audit-search")
    v.page.locator("#audit-search").wait_for()
    v.page.click("#audit-export")
    link = v.page.locator("#audit-download")
    link.wait_for()
    with v.page.expect_download() as download:
        link.click()
    bundle = tmp_path / "bundle.zip"
    download.value.save_as(bundle)
    report = verify_bundle(str(bundle), web.app.audit.signer.public_key_pem)
    assert report.ok, report.problem
    assert report.events > 0
    v.page.click("#audit-verify")
    v.wait_text("#audit-verify-result", "true")
    # The auditor's page has no ask handler to call, and calling it anyway is refused (HTTP tests).
    assert not v.failed, v.failed


@pytest.mark.slow
def test_browser_admin_upload_ingests_and_deletes_the_original(visit: Any, web: Web) -> None:
    v = visit()
    v.sign_in("ada")
    for name in ("Ask", "Documents", "Models", "Audit", "Settings"):
        v.tab(name).wait_for()
    v.tab("Documents").click()
    v.page.set_input_files("#upload-files input[type=file]", str(web.ingest_files / "meal_rules.txt"))
    v.wait_text("#upload-files", "meal_rules.txt")
    v.page.click("#ingest-button")
    v.wait_text("#ingest-results", "ingested (version 1)")
    assert "meal_rules.txt" in v.page.inner_text("#ingest-results")
    stored = web.app.catalog.list_active(["finance"])
    uploaded = next(d for d in stored if d.source.endswith("meal_rules.txt"))
    assert uploaded.chunk_count >= 1 and uploaded.doc_id == "upload:meal_rules.txt"
    leftovers = [p for p in web.ctx.settings.tmp_dir.rglob("meal_rules.txt")]
    assert leftovers == [], "uploaded originals must be deleted once ingested"
    v.tab("Settings").click()
    v.wait_text("#settings-json", "queue_size")
    assert not v.failed, v.failed
