"""Redaction with the real analyzer: facts survive next to personal data, tables and forms
are redacted by column, extra recognizers work, questions get the same pseudonyms."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.build import build
from appliance.settings import CustomRecognizerSettings, RedactionSettings, Settings
from ingestion.pipeline import ingest_paths
from tests.actors import TESTER

# (sentence, facts that must survive, personal data that must go)
FACTS_NEXT_TO_PII = [
    (
        "The hotel cap is EUR 240 per night in London, Paris and New York for Sarah Collins.",
        ["London, Paris and New York"],
        ["Sarah Collins"],
    ),
    (
        "Customer: Hélène Dubois\nDate of birth: 1984-03-12\nNationality: French. Résidence fiscale: Ireland.",
        ["Date of birth:", "Résidence fiscale: Ireland"],
        ["Hélène Dubois", "1984-03-12"],
    ),
    (
        "Customer: Aoife Murphy\nNationality: French. Tax residence: Ireland.",
        ["Nationality: French", "Ireland"],
        ["Aoife Murphy"],
    ),
    (
        "Refunds are paid within 10 days; ask Jonathan Meyer on +44 20 7946 0958.",
        ["within 10 days"],
        ["Jonathan Meyer", "7946 0958"],
    ),
    (
        "The incident was reported at 2:30 p.m. on 2026-03-14 by Clara Jensen.",
        ["2:30 p.m.", "2026-03-14"],
        ["Clara Jensen"],
    ),
    (
        "Northwind Travel invoiced EUR 4,250 to Harbor & Vale Bank; contact: li.wei@northwind.example.com.",
        ["Northwind Travel", "EUR 4,250", "Harbor & Vale Bank"],
        ["li.wei@northwind.example.com"],
    ),
    (
        "Records are kept for 7 years in Dublin; the customer, Aoife Murphy, was born on 4 July 1990.",
        ["7 years", "Dublin"],
        ["Aoife Murphy", "4 July 1990"],
    ),
    (
        "Card 4000 0566 5566 5556 was blocked within 48 hours at the Springfield branch.",
        ["within 48 hours", "Springfield"],
        ["4000 0566 5566 5556"],
    ),
    (
        "Wire USD 12,000 by Friday from IBAN DE89 3704 0044 0532 0130 00 held by Markus Weber.",
        ["USD 12,000", "Friday"],
        ["DE89 3704 0044 0532 0130 00", "Markus Weber"],
    ),
    (
        "The audit by Deloitte on 12 May 2026 found that Priya Nair's SSN 536-22-8726 was exposed.",
        ["Deloitte", "12 May 2026"],
        ["Priya Nair", "536-22-8726"],
    ),
    (
        "Server 10.20.30.41 in Frankfurt was patched in Q3 2026 by the Microsoft support team.",
        ["Frankfurt", "Q3 2026", "Microsoft"],
        ["10.20.30.41"],
    ),
    (
        "Call Mrs. Okafor at (555) 010-4477 about the 30-day notice period.",
        ["30-day notice period"],
        ["Okafor", "010-4477"],
    ),
    (
        "Send the signed form to 42 Elm Street, Springfield before 2026-07-31.",
        ["Springfield", "2026-07-31"],
        ["42 Elm Street"],
    ),
]

PHONES = [
    "+49 30 901820",
    "+33 1 42 68 53 00",
    "(020) 7946 0018",
    "030-901820 (mobile)",
    "phone 0171 5550123",
    "+1-984-182-0190",
]
CARDS = ["4111 1111 1111 1111", "4111-1111-1111-1111", "5555555555554444", "3782 822463 10005"]


@pytest.fixture
def redactor(app):  # type: ignore[no-untyped-def]
    return app.redactor


@pytest.mark.parametrize(("sentence", "facts", "pii"), FACTS_NEXT_TO_PII)
def test_facts_survive_and_personal_data_does_not(redactor, sentence: str, facts: list[str], pii: list[str]) -> None:  # type: ignore[no-untyped-def]
    [redacted], _ = redactor.redact_texts([sentence], "default")
    for fact in facts:
        assert fact in redacted, f"fact {fact!r} destroyed: {redacted}"
    for value in pii:
        assert value not in redacted, f"{value!r} leaked: {redacted}"


@pytest.mark.parametrize("phone", PHONES)
def test_phone_layouts(redactor, phone: str) -> None:  # type: ignore[no-untyped-def]
    [redacted], counts = redactor.redact_texts([f"You can reach the desk on {phone} any weekday."], "default")
    digits = "".join(c for c in phone if c.isdigit())
    assert digits[-4:] not in redacted, redacted
    assert counts["PHONE_NUMBER"] >= 1


@pytest.mark.parametrize("card", CARDS)
def test_card_numbers_with_separators(redactor, card: str) -> None:  # type: ignore[no-untyped-def]
    [redacted], counts = redactor.redact_texts([f"Payment with card {card} failed twice."], "default")
    assert card not in redacted and counts["CREDIT_CARD"] == 1, redacted


def test_amounts_and_dates_are_not_phone_numbers(redactor) -> None:  # type: ignore[no-untyped-def]
    text = "Totals: 1,250.00 on 2026-03-14, then 2026 03 14 and 14.03.2026; ratio 12.5; invoice 2026-0042."
    [redacted], counts = redactor.redact_texts([text], "default")
    assert redacted == text, counts


def test_csv_columns_are_redacted_in_every_row_even_where_ner_misses(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    table = tmp_path / "clients.csv"
    rows = ["Client,Segment,Contact phone,Balance"]
    names = ["wei zhang", "Ngozi Okonkwo-Adeyemi", "Þórunn Sigurðardóttir", "mo", "Kaito Yamamoto-Smith"]
    for i, name in enumerate(names):
        rows.append(f"{name},retail,0{i}71 555 01{i}2,EUR {1000 + i}")
    table.write_text("\n".join(rows) + "\n")
    ingest_paths(app, [table], collection="default", actor=TESTER)
    text = app.catalog.document_text(app.catalog.active_document("default", str(table)).row_id)
    for name in names:
        assert name not in text, text
    assert "EUR 1004" in text and "retail" in text
    assert text.count("<PERSON_") == len(names)


def test_column_whose_values_are_names_is_redacted_whole(redactor) -> None:  # type: ignore[no-untyped-def]
    rows = [
        "Lead: Maria Gonzalez; Region: North",
        "Lead: Thomas Becker; Region: South",
        "Lead: Sofia Rossi; Region: East",
        "Lead: zq; Region: West",
    ]
    out, _ = redactor.redact_texts(rows, "default")
    assert all("<PERSON_" in line for line in out), out
    assert "zq" not in out[3]


def test_email_headers_and_forms(redactor) -> None:  # type: ignore[no-untyped-def]
    text = "From: Xu Ming <xu@corp.example.com>\nTo: Q. Adebayo\nSubject: Loan 77\nApproved by: okonjo\nVendor name: Acme Ltd"
    [redacted], _ = redactor.redact_texts([text], "default")
    for value in ("Xu Ming", "xu@corp", "Adebayo", "okonjo"):
        assert value not in redacted, redacted
    assert "Subject: Loan 77" in redacted and "Vendor name: Acme Ltd" in redacted


def test_custom_recognizers_from_settings(home: Path, models) -> None:  # type: ignore[no-untyped-def]
    custom = CustomRecognizerSettings(entity_type="POLICY_NUMBER", pattern=r"\bHV-\d{8}\b", context=["policy"])
    settings = Settings(home=home, redaction=RedactionSettings(custom_recognizers=[custom]))
    from appliance.build import load_models

    with build(settings, load_models(settings)) as app:
        [with_context], counts = app.redactor.redact_texts(["Your policy HV-12345678 renews in March."], "c")
        [without], _ = app.redactor.redact_texts(["Shipment HV-12345678 left the port."], "c")
    assert "HV-12345678" not in with_context and counts["POLICY_NUMBER"] == 1
    assert "HV-12345678" in without


def test_default_custom_recognizers(redactor) -> None:  # type: ignore[no-untyped-def]
    [text], counts = redactor.redact_texts(
        ["Patient MRN: 00482913 seen by employee E-10442; member no. 4111111111111111 and member 4111111111111112."],
        "default",
    )
    assert "00482913" not in text and "E-10442" not in text and "4111111111111111" not in text
    assert "4111111111111112" in text, "a Luhn-invalid number is not a member number"
    assert counts["MEDICAL_RECORD_NUMBER"] == 1 and counts["EMPLOYEE_ID"] == 1


def test_questions_get_the_documents_pseudonyms_and_find_their_passages(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    notes = tmp_path / "notes.txt"
    notes.write_text(
        "Maria Gonzalez approved the travel budget of EUR 9,000 for the Lisbon conference.\n\n"
        "The cafeteria menu changes every Monday and the gym opens at 7 a.m.\n"
    )
    ingest_paths(app, [notes], collection="default", actor=TESTER)
    stored = app.catalog.document_text(app.catalog.active_document("default", str(notes)).row_id)
    question, counts = app.redactor.redact_question("What did Maria Gonzalez approve?", "default")
    placeholder = question.split("did ")[1].split(" approve")[0]
    assert placeholder.startswith("<PERSON_") and placeholder in stored
    assert counts == {"PERSON": 1}
    hit = app.vectors.query(app.embedder.embed([question])[0], 1, ["default"])[0]
    assert placeholder in app.catalog.document_text(app.catalog.active_document("default", str(notes)).row_id)
    assert "budget" in next(
        c.text for c in app.catalog.chunks(int(hit.metadata["document_row"])) if c.chunk_id == hit.chunk_id
    )

    unknown, _ = app.redactor.redact_question("Did Peter Sørensen approve anything?", "default")
    assert "<PERSON>" in unknown and "Peter" not in unknown


@pytest.mark.slow
def test_long_documents_use_the_process_pool_and_find_the_same_spans(models) -> None:  # type: ignore[no-untyped-def]
    from appliance.backends.presidio_detector import PROCESS_POOL_MIN_TEXTS, PresidioDetector

    paragraph = "Quarterly revenue rose 4 percent within 30 days. " * 70
    texts = [
        f"{paragraph}Signed by Maria Gonzalez, phone +44 20 7946 09{i:02}." for i in range(PROCESS_POOL_MIN_TEXTS + 2)
    ]
    pooled = PresidioDetector(Settings().redaction, Settings().models.spacy_model, processes=2)
    single = PresidioDetector(Settings().redaction, Settings().models.spacy_model, processes=1)
    assert pooled.detect(texts) == single.detect(texts)
    assert all({"PERSON", "PHONE_NUMBER"} <= {e.entity_type for e in found} for found in pooled.detect(texts))
