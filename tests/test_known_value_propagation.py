"""Known values with every real part (Presidio + spaCy, MiniLM, Chroma, SQLite).

A bank's transactions CSV names a customer in a column the table-aware detection redacts; a
security memo names the same customer in prose, where the language model misses the name.
Whichever document comes first, the memo must come out redacted, and the same.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from appliance.audit import events as audit_events
from appliance.build import build
from appliance.redaction.operator_terms import TermsError, add_terms, remove_term
from appliance.settings import Settings
from ingestion.pipeline import ingest_paths
from tests.actors import TESTER

CUSTOMER = "Will Hart"  # "Hart" and "Will" are ordinary words: only the full name may spread
SSN = "536-22-8190"
MEMO = (
    "<html><body><h1>Security memo</h1><p>On 3 March a sign-in from 203.0.113.9 on the account of "
    f"{CUSTOMER} (SSN {SSN}) was blocked. The Leeds branch reviewed it within 2 days and Will followed up "
    "in May.</p></body></html>"
)
BADGE = "VORTIGERN-4471"  # an identifier no recognizer knows
BADGE_TERM = "rtigern"  # the tail of its full-text term "vortigern"
TRANSACTIONS = (
    f"date,customer,amount,reference\n2026-03-01,{CUSTOMER},120.50,TX-1001\n2026-03-02,Priya Raman,99.00,TX-1002\n"
)


@pytest.fixture
def bank(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "bank"
    folder.mkdir()
    (folder / "memo.html").write_text(MEMO)
    (folder / "transactions.csv").write_text(TRANSACTIONS)
    return {"memo": folder / "memo.html", "csv": folder / "transactions.csv"}


def _text(app, path: Path, collection: str = "bank") -> str:  # type: ignore[no-untyped-def]
    doc = app.catalog.active_document(collection, str(path))
    assert doc is not None, path
    return app.catalog.document_text(doc.row_id)


def _every_byte(home: Path, *, skip_audit: bool) -> dict[str, bytes]:
    return {
        str(p.relative_to(home)): p.read_bytes()
        for p in sorted(home.rglob("*"))
        if p.is_file() and not (skip_audit and p.name.startswith("appliance.sqlite3"))
    }


def _holding(home: Path, value: str, *, skip_audit: bool = True) -> list[str]:
    needles = {value.encode(), value.lower().encode(), value.upper().encode(), value.encode("utf-16-le")}
    return [name for name, data in _every_byte(home, skip_audit=skip_audit).items() if any(n in data for n in needles)]


@pytest.fixture
def second_home(tmp_path: Path, models):  # type: ignore[no-untyped-def]
    """Another real appliance in its own home, for comparing orders."""
    saved = dict(os.environ)

    def make(name: str):  # type: ignore[no-untyped-def]
        home = tmp_path / name
        home.mkdir()
        return build(Settings(home=home), models)

    yield make
    os.environ.clear()
    os.environ.update(saved)


def test_the_detector_alone_misses_the_name_in_the_memo(app, bank) -> None:  # type: ignore[no-untyped-def]
    """Why propagation exists: on its own the memo keeps the customer's name (but not the SSN)."""
    ingest_paths(app, [bank["memo"]], collection="bank", actor=TESTER)
    memo = _text(app, bank["memo"])
    assert CUSTOMER in memo
    assert SSN not in memo


def test_the_memo_comes_out_the_same_in_any_order(app, bank, second_home) -> None:  # type: ignore[no-untyped-def]
    ingest_paths(app, [bank["csv"]], collection="bank", actor=TESTER)
    ingest_paths(app, [bank["memo"]], collection="bank", actor=TESTER)
    csv_first = _text(app, bank["memo"])
    with second_home("memo-first") as other:
        ingest_paths(other, [bank["memo"]], collection="bank", actor=TESTER)
        report = ingest_paths(other, [bank["csv"]], collection="bank", actor=TESTER)
        memo_first = _text(other, bank["memo"])
        assert [d["doc_id"] for d in report.re_redacted] == [str(bank["memo"])]
    with second_home("one-batch") as other:
        ingest_paths(other, [bank["memo"], bank["csv"]], collection="bank", actor=TESTER)
        one_batch = _text(other, bank["memo"])
    assert CUSTOMER not in csv_first
    assert csv_first == memo_first == one_batch
    # the ordinary words of the name stay where they are words: "Will followed up in May"
    assert "Will followed up in May" in csv_first
    assert "Leeds branch" in csv_first


def test_a_name_learned_later_re_redacts_the_earlier_document_as_a_new_version(app, bank, home: Path) -> None:  # type: ignore[no-untyped-def]
    ingest_paths(app, [bank["memo"]], collection="bank", actor=TESTER)
    before = app.catalog.active_document("bank", str(bank["memo"]))
    report = ingest_paths(app, [bank["csv"]], collection="bank", actor=TESTER)
    after = app.catalog.active_document("bank", str(bank["memo"]))
    assert before is not None and after is not None
    assert (after.version, after.sha256) == (before.version + 1, before.sha256)
    assert after.vault_generation > before.vault_generation
    assert after.redactions["PERSON"] == before.redactions.get("PERSON", 0) + 1
    assert report.to_json()["re_redacted"][0]["version"] == after.version
    chunks = app.catalog.chunks(after.row_id)
    assert chunks and all(CUSTOMER not in c.text for c in chunks)
    assert app.vectors.document_rows() >= {after.row_id}
    assert before.row_id not in app.vectors.document_rows()  # the old version's vectors are gone
    assert app.catalog.search_text(["hart"], ["bank"], 10) == []  # and its full-text rows
    events = [e for e in app.audit.events() if e["action"] == audit_events.RE_REDACT]
    assert [(e["subject"], e["details"]["version"]) for e in events] == [(str(bank["memo"]), after.version)]
    assert _holding(home, CUSTOMER, skip_audit=False) == []


def test_the_vault_is_never_written_in_plaintext(app, bank, home: Path) -> None:  # type: ignore[no-untyped-def]
    ingest_paths(app, [bank["csv"], bank["memo"]], collection="bank", actor=TESTER)
    assert app.catalog.sealed_values("bank")  # the values are in the vault, sealed
    for value in (CUSTOMER, "Priya Raman", SSN):
        assert _holding(home, value, skip_audit=False) == [], value


def test_redact_add_removes_a_leaked_value_from_every_byte(app, bank, home: Path) -> None:  # type: ignore[no-untyped-def]
    from appliance.answer.answering import ask

    badge = bank["memo"].with_name("badge.txt")
    badge.write_text(f"Badge {BADGE} opened the vault door at night.")
    ingest_paths(app, [bank["memo"], badge], collection="bank", actor=TESTER)
    ask(app, f"What happened to the account of {CUSTOMER}?", actor=TESTER, collections=["bank"])
    assert "catalog.sqlite3" in " ".join(_holding(home, CUSTOMER))
    assert "catalog.sqlite3" in " ".join(_holding(home, BADGE_TERM))  # the full-text index's term

    vault_before = app.catalog.sealed_values("bank")
    dry = add_terms(app, TESTER, collection="bank", entity_type="PERSON", values=[CUSTOMER], dry_run=True)
    assert (dry["documents_re_redacted"], dry["occurrences"], dry["dry_run"]) == (1, 1, True)
    assert dry["audit_events_containing"] >= 1  # the question
    assert CUSTOMER in _text(app, bank["memo"])  # a dry run changes nothing
    assert app.catalog.sealed_values("bank") == vault_before

    done = add_terms(app, TESTER, collection="bank", entity_type="PERSON", values=[CUSTOMER])
    assert (done["documents_re_redacted"], done["chunks_re_redacted"], done["occurrences"]) == (1, 1, 1)
    assert done["audit_events_containing"] == dry["audit_events_containing"]
    memo = _text(app, bank["memo"])
    assert CUSTOMER not in memo and "<PERSON_1>" in memo
    assert _holding(home, CUSTOMER) == []  # only the append-only audit database may still hold it
    done = add_terms(app, TESTER, collection="bank", entity_type="EMPLOYEE_ID", values=[BADGE])
    assert (done["documents_re_redacted"], done["occurrences"]) == (1, 1)
    assert _text(app, badge) == "Badge <EMPLOYEE_ID_1> opened the vault door at night."
    # the index stores terms with a shared prefix cut off: no old segment may keep the term's tail
    assert _holding(home, BADGE_TERM) == []
    recorded = [e for e in app.audit.events() if e["action"] == audit_events.REDACT_ADD]
    assert [e["details"]["dry_run"] for e in recorded] == [True, False, False]
    assert all(CUSTOMER not in str(e) and "VORTIGERN" not in str(e) for e in recorded)

    # from now on the value is redacted in new documents too, whatever the detector says
    later = bank["memo"].with_name("later.txt")
    later.write_text(f"Follow-up: {CUSTOMER.upper()} called again.")
    ingest_paths(app, [later], collection="bank", actor=TESTER)
    assert _text(app, later) == "Follow-up: <PERSON_1> called again."


def test_redact_import_takes_a_directory_of_names(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    notes = tmp_path / "notes.txt"
    notes.write_text("Meeting: tomasz wielgosz and Amara N'Diaye-Okafor agreed. Wielgosz will write it up.")
    ingest_paths(app, [notes], collection="hr", actor=TESTER)
    result = add_terms(
        app,
        TESTER,
        collection="hr",
        entity_type="PERSON",
        values=["Tomasz Wielgosz", "Amara N'Diaye-Okafor", "", "Tomasz Wielgosz"],
        action=audit_events.REDACT_IMPORT,
    )
    assert result["values"] == 2
    text = _text(app, notes, "hr")
    assert "wielgosz" not in text.lower() and "Okafor" not in text
    assert "will write it up" in text


def test_redact_add_refuses_what_it_cannot_spread_safely(app) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TermsError, match="ordinary"):
        add_terms(app, TESTER, collection="bank", entity_type="PERSON", values=["Will"])
    with pytest.raises(TermsError, match="not one of the propagated types"):
        add_terms(app, TESTER, collection="bank", entity_type="LOCATION", values=["Leeds"])
    with pytest.raises(TermsError, match="no value"):
        add_terms(app, TESTER, collection="bank", entity_type="PERSON", values=["  "])


def test_redact_remove_stops_a_false_positive_from_spreading(app, bank, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The customer column makes "Harbor Lights" a PERSON; an operator takes it off, and it stops spreading."""
    (bank["csv"]).write_text(TRANSACTIONS + "2026-03-03,Harbor Lights,45.00,TX-1003\n")
    ingest_paths(app, [bank["csv"]], collection="bank", actor=TESTER)
    assert "Harbor Lights" not in _text(app, bank["csv"])
    letter = tmp_path / "letter.txt"
    letter.write_text("Our supplier Harbor Lights delivered the cards on time.")
    ingest_paths(app, [letter], collection="bank", actor=TESTER)
    assert "Harbor Lights" not in _text(app, letter)  # spread: the false positive's cost

    result = remove_term(app, TESTER, collection="bank", value="harbor  lights")
    assert result["ignored"] is True
    second = tmp_path / "second.txt"
    second.write_text("Harbor Lights will deliver again in June.")
    more = tmp_path / "more.csv"
    more.write_text("date,customer,amount\n2026-04-01,Harbor Lights,12.00\n2026-04-02,Priya Raman,14.00\n")
    ingest_paths(app, [second, more], collection="bank", actor=TESTER)
    assert _text(app, second) == "Harbor Lights will deliver again in June."
    assert "customer: Harbor Lights;" in _text(app, more)  # the column's detection is ignored too
    assert "Priya Raman" not in _text(app, more)
    assert remove_term(app, TESTER, collection="bank", value="Harbor Lights")["already_ignored"] is True


def test_questions_use_the_collections_known_values(app, bank) -> None:  # type: ignore[no-untyped-def]
    ingest_paths(app, [bank["csv"]], collection="bank", actor=TESTER)
    question, _counts = app.redactor.redact_question(f"Was {CUSTOMER.lower()} blocked?", "bank")
    assert question == "Was <PERSON_1> blocked?"


def test_re_redaction_embeds_only_the_chunks_that_changed(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report = tmp_path / "report.txt"
    filler = " ".join(f"Branch {n} kept its cash limits within policy during the quarter." for n in range(60))
    report.write_text(f"{filler}\n\nOn 3 March the account of {CUSTOMER} (SSN {SSN}) was blocked.\n")
    ingest_paths(app, [report], collection="ops", actor=TESTER)
    before = app.catalog.active_document("ops", str(report))
    assert before is not None and before.chunk_count >= 3
    old_vectors = app.vectors.embeddings([c.chunk_id for c in app.catalog.chunks(before.row_id)])

    done = add_terms(app, TESTER, collection="ops", entity_type="PERSON", values=[CUSTOMER])
    after = app.catalog.active_document("ops", str(report))
    assert after is not None and after.chunk_count == before.chunk_count
    assert done["chunks_re_redacted"] == done["chunks_embedded"] == 1
    new_vectors = app.vectors.embeddings([c.chunk_id for c in app.catalog.chunks(after.row_id)])
    old_first, new_first = (sorted(v.items())[0][1] for v in (old_vectors, new_vectors))
    assert new_first == old_first  # an unchanged chunk keeps its vector
    changed = app.catalog.chunks(after.row_id)[-1]
    assert "<PERSON_1>" in changed.text
    assert new_vectors[changed.chunk_id] == pytest.approx(app.embedder.embed([changed.text])[0], abs=1e-5)


def test_re_redaction_of_a_document_that_repeats_a_chunk_word_for_word(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A 10-Q repeats its 'Table of Contents' blocks: the pass once asked the store for one id twice and failed."""
    report = tmp_path / "repeats.txt"
    block = " ".join(f"Branch {n} kept its cash limits within policy during the quarter." for n in range(20))
    report.write_text("\n\n".join([block] * 4) + f"\n\nOn 3 March the account of {CUSTOMER} was blocked.\n")
    ingest_paths(app, [report], collection="ops", actor=TESTER)
    before = app.catalog.active_document("ops", str(report))
    assert before is not None
    texts = [c.text for c in app.catalog.chunks(before.row_id)]
    assert len(set(texts)) < len(texts)  # the premise: one chunk's text occurs twice
    done = add_terms(app, TESTER, collection="ops", entity_type="PERSON", values=[CUSTOMER])
    assert done["chunks_re_redacted"] >= 1
    after = app.catalog.active_document("ops", str(report))
    assert after is not None and "<PERSON_1>" in app.catalog.document_text(after.row_id)
    assert len(app.vectors.embeddings([c.chunk_id for c in app.catalog.chunks(after.row_id)])) == len(texts)
