"""Finding 1 (critical): a file path in a request made the server read any file it could read.

`POST /app/gradio_api/call/ingest` with a FileData naming a server path ingested that file
into the caller's collection (another collection's source, anything with an accepted
extension), and Gradio copied it into tmp/gradio before any role check, even for an auditor.
Now only files this session sent through the upload route are accepted, roles and collections
are checked before anything is read, and a refused upload is deleted at once.
"""

from __future__ import annotations

import threading
import time
import uuid
from contextlib import closing

from tests.security.conftest import file_data, function_index, gradio_files, hr_source, upload
from tests.served import PASSWORD, Served
from ui.http_client import call, sign_in

REFUSED = ("http", "error")


def test_a_server_path_named_in_a_call_is_never_read(site: Served) -> None:
    secret = hr_source(site)
    with closing(sign_in(site.url, "ana", PASSWORD)) as analyst:
        kind, payload = call(analyst, "ingest", [[file_data(secret)], "finance"])
        assert kind in REFUSED, payload
    finance = {d.source for d in site.app.catalog.list_active(["finance"])}
    assert not any(source.endswith("handbook.txt") for source in finance), finance
    assert not [p for p in gradio_files(site) if p.name == "handbook.txt"], "the server copied a file it was named"


def test_a_server_path_sent_through_the_queue_is_never_read(site: Served) -> None:
    secret = hr_source(site)
    with closing(sign_in(site.url, "ana", PASSWORD)) as analyst:
        body = {
            "data": [[file_data(secret)], "finance"],
            "fn_index": function_index(analyst, "ingest"),
            "session_hash": uuid.uuid4().hex,
            "event_data": None,
            "trigger_id": None,
        }
        joined = analyst.post("/app/gradio_api/queue/join", json=body)
        if joined.status_code == 200:  # accepted by the queue: then the handler must refuse it
            with analyst.stream(
                "GET", "/app/gradio_api/queue/data", params={"session_hash": body["session_hash"]}
            ) as r:
                text = "".join(r.iter_text())
            assert '"success": false' in text or '"success":false' in text, text
    finance = {d.source for d in site.app.catalog.list_active(["finance"])}
    assert not any(source.endswith("handbook.txt") for source in finance), finance
    assert not [p for p in gradio_files(site) if p.name == "handbook.txt"]


def test_a_refused_ingest_copies_nothing_into_the_upload_cache(site: Served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "auditor_probe.txt"
    outside.write_text("A file that only the service account can read.\n")
    with closing(sign_in(site.url, "aud", PASSWORD)) as auditor:
        kind, payload = call(auditor, "ingest", [[file_data(str(outside))], "finance"])
        assert kind in REFUSED, payload
    assert not [p for p in gradio_files(site) if p.name == outside.name], "refused, yet copied into tmp/gradio"


def test_someone_elses_upload_cannot_be_ingested(site: Served) -> None:
    with closing(sign_in(site.url, "ada", PASSWORD)) as admin, closing(sign_in(site.url, "ana", PASSWORD)) as analyst:
        stored = upload(admin, "admins_draft.txt", b"The admin's unpublished draft names the new supplier.\n")
        kind, payload = call(analyst, "ingest", [[file_data(stored)], "finance"])
        assert kind in REFUSED, payload
    assert not [d for d in site.app.catalog.list_active(["finance"]) if d.source.endswith("admins_draft.txt")]


def test_a_refused_upload_is_deleted_at_once(site: Served) -> None:
    with closing(sign_in(site.url, "ana", PASSWORD)) as analyst:
        stored = upload(analyst, "unredacted_export.txt", b"Customer list with account numbers, not yet redacted.\n")
        kind, payload = call(analyst, "ingest", [[file_data(stored)], "hr"])  # hr is not granted to ana
        assert kind == "error" and "hr" in str(payload), payload
    assert not [p for p in gradio_files(site) if p.name == "unredacted_export.txt"], "a refused upload was kept"


def test_an_own_upload_is_ingested_and_removed(site: Served) -> None:
    with closing(sign_in(site.url, "ana", PASSWORD)) as analyst:
        stored = upload(analyst, "meal_rules.txt", b"The breakfast allowance on business trips is EUR 18 per day.\n")
        kind, payload = call(analyst, "ingest", [[file_data(stored)], "finance"])
        assert kind == "complete", payload
        assert "ingested (version 1)" in str(payload[0]), payload
        # Used once: the same path cannot be ingested a second time.
        kind, payload = call(analyst, "ingest", [[file_data(stored)], "finance"])
        assert kind in REFUSED, payload
    assert site.app.catalog.find_active("upload:meal_rules.txt", ["finance"])
    assert not [p for p in gradio_files(site) if p.name == "meal_rules.txt"]


def test_uploads_left_unused_are_deleted_at_sign_out(site: Served) -> None:
    client = sign_in(site.url, "ana", PASSWORD)
    try:
        upload(client, "forgotten_draft.txt", b"A draft the analyst uploaded and never ingested.\n")
        assert [p for p in gradio_files(site) if p.name == "forgotten_draft.txt"]
        client.get("/logout")
    finally:
        client.close()
    assert not [p for p in gradio_files(site) if p.name == "forgotten_draft.txt"]


def test_the_progress_stream_may_open_before_its_upload_arrives(site: Served) -> None:
    """The page opens upload_progress and posts the upload at the same moment; whichever arrives
    first, the stream is answered (a 404 here made a browser test fail when the GET won the race)."""
    upload_id = uuid.uuid4().hex[:12]
    replies: list[int] = []
    with closing(sign_in(site.url, "ana", PASSWORD)) as analyst:

        def progress() -> None:
            with analyst.stream("GET", "/app/gradio_api/upload_progress", params={"upload_id": upload_id}) as r:
                r.read()
                replies.append(r.status_code)

        reader = threading.Thread(target=progress)
        reader.start()
        time.sleep(0.5)  # the stream is open first; the gate waits up to 3 s for the upload to claim the id
        reply = analyst.post(
            "/app/gradio_api/upload",
            params={"upload_id": upload_id},
            files={"files": ("early_stream.txt", b"The stream opened before this file arrived.\n")},
        )
        assert reply.status_code == 200, reply.text
        reader.join(timeout=30)
    assert replies == [200]


def test_another_sessions_upload_progress_is_refused_at_once(site: Served) -> None:
    upload_id = uuid.uuid4().hex[:12]
    with closing(sign_in(site.url, "ada", PASSWORD)) as admin, closing(sign_in(site.url, "ana", PASSWORD)) as analyst:
        reply = admin.post(
            "/app/gradio_api/upload",
            params={"upload_id": upload_id},
            files={"files": ("admins_upload.txt", b"An upload of the admin's session.\n")},
        )
        assert reply.status_code == 200, reply.text
        stolen = analyst.get("/app/gradio_api/upload_progress", params={"upload_id": upload_id})
        assert stolen.status_code == 404
