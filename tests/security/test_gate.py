"""Finding 2 (high) and the stream part of finding 4: what the gate in front of Gradio lets through.

Gradio's `/gradio_api/file/` alias served uploaded files back and fetched outside URLs; a
FileData `path` of `http://...` made the server download it; another user's `session_hash`
or `event_id` gave their answer stream. Now the gate passes only the routes the pages need,
by exact pattern, binds every queue and call stream to the session that started it, and no
request makes the server open a connection anywhere.
"""

from __future__ import annotations

import uuid
from contextlib import closing

import httpx

from tests.conftest import EGRESS_ATTEMPTS
from tests.security.conftest import OUTSIDE, file_data, function_index, upload
from tests.served import PASSWORD, Served
from ui.http_client import call, sign_in

# Gradio routes the pages never use (and one Gradio may add tomorrow): all refused, signed in or not.
NOT_LISTED = [
    ("GET", "/app/gradio_api/info"),
    ("GET", "/app/gradio_api/openapi.json"),
    ("GET", "/app/gradio_api/queue/status"),
    ("GET", "/app/gradio_api/startup-events"),
    ("GET", "/app/gradio_api/deep_link"),
    ("GET", "/app/login_check"),
    ("GET", "/app/user"),
    ("GET", "/app/token"),
    ("GET", "/app/app_id"),
    ("GET", "/app/manifest.json"),
    ("GET", "/app/robots.txt"),
    ("GET", "/app/gradio_api/stream/abc/0/1/playlist.m3u8"),
    ("POST", "/app/gradio_api/reset"),
    ("POST", "/app/gradio_api/run/documents"),
    ("POST", "/app/gradio_api/api/documents"),
    ("POST", "/app/gradio_api/call/v2/documents"),
    ("GET", "/app/gradio_api/a-route-gradio-adds-next-year"),
    ("GET", "/app/gradio_api/monitoring"),
]


def status_of(client: httpx.Client, route: str, params: dict[str, str] | None = None) -> int:
    """The status of a GET without reading its body (an answer stream may stay open)."""
    with client.stream("GET", route, params=params, timeout=30) as reply:
        return reply.status_code


def test_uploaded_files_are_never_served_back(site: Served) -> None:
    with closing(sign_in(site.url, "ana", PASSWORD)) as analyst, closing(sign_in(site.url, "aud", PASSWORD)) as auditor:
        stored = upload(analyst, "salary_table.txt", b"Unredacted salary table, not for the auditor.\n")
        for client in (auditor, analyst):
            for route in (f"/app/gradio_api/file/{stored}", f"/app/gradio_api/file//{stored}", f"/app/file={stored}"):
                reply = client.get(route)
                assert reply.status_code == 404, (route, reply.status_code)
                assert b"Unredacted salary" not in reply.content


def test_no_request_makes_the_server_fetch_an_outside_address(site: Served) -> None:
    before = len(EGRESS_ATTEMPTS)
    with closing(sign_in(site.url, "aud", PASSWORD)) as auditor, closing(sign_in(site.url, "ada", PASSWORD)) as admin:
        statuses = {
            route: auditor.get(route).status_code
            for route in (
                f"/app/gradio_api/file/http://{OUTSIDE}/robots.txt",
                f"/app/gradio_api/file=http://{OUTSIDE}/robots.txt",
                f"/app/gradio_api/proxy=http://{OUTSIDE}/robots.txt",
            )
        }
        kind, payload = call(admin, "ingest", [[file_data(f"http://{OUTSIDE}/policy.txt")], "finance"])
    attempts = EGRESS_ATTEMPTS[before:]
    del EGRESS_ATTEMPTS[before:]  # reported here, with the finding's name, rather than by the guard
    assert attempts == [], f"the server tried to reach outside: {attempts}"
    assert set(statuses.values()) == {404}, statuses
    assert kind in ("http", "error"), payload


def test_only_the_routes_the_pages_need_are_open(site: Served) -> None:
    with closing(sign_in(site.url, "ada", PASSWORD)) as admin:
        for method, route in NOT_LISTED:
            reply = admin.request(method, route, json={} if method == "POST" else None)
            assert reply.status_code == 404, (method, route, reply.status_code)
        # The routes the page does use still work.
        assert admin.get("/app/").status_code == 200
        assert admin.get("/app/config").status_code == 200
        assert call(admin, "documents", [])[0] == "complete"


def test_an_answer_stream_belongs_to_the_session_that_asked(site: Served) -> None:
    with closing(sign_in(site.url, "ana", PASSWORD)) as ana, closing(sign_in(site.url, "ben", PASSWORD)) as ben:
        # The call route: ben knows ana's event id.
        started = ana.post(
            "/app/gradio_api/call/ask", json={"data": ["What is the hotel cap per night?", "rag", "finance", None]}
        )
        assert started.status_code == 200
        event_id = started.json()["event_id"]
        assert status_of(ben, f"/app/gradio_api/call/ask/{event_id}") in (403, 404)
        with ana.stream("GET", f"/app/gradio_api/call/ask/{event_id}") as own:
            assert own.status_code == 200
            assert "complete" in "".join(own.iter_text())
        # The queue route: ben knows ana's session hash.
        session_hash = uuid.uuid4().hex
        body = {
            "data": ["What is the hotel cap per night?", "rag", "finance", None],
            "fn_index": function_index(ana, "ask"),
            "session_hash": session_hash,
            "event_data": None,
            "trigger_id": None,
        }
        assert ana.post("/app/gradio_api/queue/join", json=body).status_code == 200
        assert status_of(ben, "/app/gradio_api/queue/data", {"session_hash": session_hash}) in (403, 404)
        assert ben.post("/app/gradio_api/queue/join", json=body).status_code in (403, 404)  # nor join it
        assert status_of(ben, f"/app/gradio_api/heartbeat/{session_hash}") in (403, 404)
        with ana.stream("GET", "/app/gradio_api/queue/data", params={"session_hash": session_hash}) as own:
            assert own.status_code == 200
            assert "process_completed" in "".join(own.iter_text())


def test_a_signed_out_client_reaches_nothing_under_the_app(site: Served) -> None:
    with httpx.Client(base_url=site.url) as anonymous:
        for route in ("/app/gradio_api/upload", "/app/gradio_api/queue/join"):
            assert anonymous.post(route, json={}).status_code == 401
        assert anonymous.get("/app/config").status_code == 401


def test_every_page_and_app_response_carries_the_content_security_policy(site: Served) -> None:
    """A missing header makes no console error in a browser test; this checks the header itself."""
    from ui.server import APP_CSP, PAGE_CSP

    with httpx.Client(base_url=site.url) as anonymous:
        page = anonymous.get("/login")
        assert page.headers["content-security-policy"] == PAGE_CSP
        assert anonymous.get("/app/config").headers["content-security-policy"] == APP_CSP
    with closing(sign_in(site.url, "ana", PASSWORD)) as analyst:
        reply = analyst.get("/app/")
        assert reply.status_code == 200
        assert reply.headers["content-security-policy"] == APP_CSP
        assert "default-src 'self'" in APP_CSP and "http" not in APP_CSP.replace("'self'", "")
        assert reply.headers["x-frame-options"] == "DENY"


def test_disabling_an_account_ends_its_open_session_at_the_next_request(site: Served) -> None:
    from tests.actors import TESTER

    with closing(sign_in(site.url, "ana", PASSWORD)) as analyst:
        assert analyst.get("/app/config").status_code == 200
        site.ctx.directory.set_disabled("ana", True, by=TESTER)
        try:
            assert analyst.get("/app/config").status_code == 401
            assert analyst.post("/app/gradio_api/queue/join", json={}).status_code == 401
        finally:
            site.ctx.directory.set_disabled("ana", False, by=TESTER)
