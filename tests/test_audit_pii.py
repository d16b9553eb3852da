"""End to end with every real part: what the audit log keeps is redacted, down to the bytes on disk.

A question plants a US SSN and an e-mail address, a feedback correction a phone number;
none of them may appear in the database file, its write-ahead log or the checkpoint file,
in any spelling. The ingest, view and delete of a document are audited with its version
and sha256.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from appliance.answer.answering import ask
from appliance.answer.feedback import submit_feedback
from appliance.audit.verify import verify_log
from appliance.store.documents import delete_document, show_document
from ingestion.pipeline import ingest_paths
from tests.actors import TESTER

SSN = "536-90-4399"  # a well-formed SSN that Presidio's validity rules accept
EMAIL = "jane.roe@example.org"
PHONE = "(415) 555-0199"
PERSON = "Dana Whitfield"
RAW_FORMS = [
    SSN,
    SSN.replace("-", ""),
    SSN.replace("-", " "),
    EMAIL,
    EMAIL.upper(),
    "jane.roe",
    PHONE,
    "415-555-0199",
    "415 555 0199",
    "4155550199",
    "555-0199",
    PERSON,
    "Whitfield",
]


def leaked(path: Path) -> list[str]:
    """The raw values found in a file's bytes, as UTF-8 and as UTF-16 (SQLite may store either)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    return [
        form
        for form in RAW_FORMS
        for encoding in ("utf-8", "utf-16-le")
        if form.encode(encoding) in data or form.lower().encode(encoding) in data
    ]


@pytest.mark.slow
def test_questions_answers_and_feedback_reach_the_audit_log_redacted(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "inbox"
    folder.mkdir()
    memo = folder / "travel-memo.txt"
    memo.write_text(
        f"{PERSON} approved the travel budget for the Lisbon office. "
        "The hotel cap is 180 euros per night and receipts are due within 10 days.\n"
    )
    report = ingest_paths(app, [memo], collection="default", actor=TESTER)
    assert not report.failed
    [doc] = report.ingested
    assert doc.redactions.get("PERSON") == 1

    question = f"Did {PERSON} (SSN {SSN}, e-mail {EMAIL}) approve the hotel cap per night?"
    answer = ask(app, question, actor=TESTER, collections=["default"])
    assert answer.audit_seq is not None
    correction = f"Wrong person: call her at {PHONE} to confirm."
    feedback = submit_feedback(
        app, actor=TESTER, ask_seq=answer.audit_seq, rating="down", correction=correction, collections=["default"]
    )
    shown = show_document(app, doc.doc_id, actor=TESTER)
    assert PERSON not in shown["text"]
    delete_document(app, doc.doc_id, actor=TESTER)

    # The bytes on disk: the database, its write-ahead log (recent pages live there) and the checkpoints.
    home = app.settings.home
    files = [home / "appliance.sqlite3", home / "appliance.sqlite3-wal", home / "audit" / "checkpoint.json"]
    assert all(f.exists() for f in files), [str(f) for f in files if not f.exists()]
    assert (home / "appliance.sqlite3-wal").stat().st_size > 0
    for path in files:
        assert leaked(path) == [], path
    exported = [p for p in home.rglob("*") if p.is_file() and leaked(p)]
    assert exported == [], "raw values found elsewhere under APPLIANCE_HOME"

    events = {e["seq"]: e for e in app.audit.events()}
    asked = events[answer.audit_seq]
    assert (asked["action"], asked["actor"], asked["role"]) == ("ask", TESTER.name, TESTER.role)
    stored_question = asked["details"]["question"]
    assert "<US_SSN>" in stored_question and "<EMAIL_ADDRESS>" in stored_question, stored_question
    assert "<PERSON_1>" in stored_question  # the same pseudonym the stored document uses
    assert asked["details"]["collections"] == ["default"]
    assert all(r["doc_id"] == doc.doc_id and r["version"] == 1 for r in asked["details"]["retrieved"])

    rated = events[feedback.seq]
    assert (rated["action"], rated["actor"], rated["subject"]) == ("feedback", TESTER.name, str(answer.audit_seq))
    assert rated["details"]["rating"] == "down" and rated["details"]["ask_seq"] == answer.audit_seq
    assert rated["details"]["correction"] == "Wrong person: call her at <PHONE_NUMBER> to confirm."

    sha256 = hashlib.sha256(memo.read_bytes()).hexdigest()
    by_action = {e["action"]: e for e in events.values()}
    for action in ("docs.ingest", "docs.view", "docs.delete"):
        event = by_action[action]
        assert (event["actor"], event["role"], event["subject"]) == (TESTER.name, TESTER.role, doc.doc_id), action
        assert (event["details"]["version"], event["details"]["sha256"]) == (1, sha256), action
        assert event["details"]["collection"] == "default"
    assert by_action["docs.ingest"]["details"]["redactions"] == {"PERSON": 1}
    assert by_action["docs.delete"]["details"]["chunks"] == doc.chunks
    assert [e["action"] for e in events.values()] == ["docs.ingest", "ask", "feedback", "docs.view", "docs.delete"]
    assert verify_log(app.audit).ok
