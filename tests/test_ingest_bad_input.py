"""Bad input through the real pipeline: a clear per-file reason, the batch goes on,
and nothing half-written is left behind."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from appliance.build import build
from appliance.settings import IngestSettings, Settings
from ingestion.pipeline import ingest_paths
from tests.actors import TESTER
from tests.conftest import EVAL

DOCS = EVAL / "docs"
needs_eval = pytest.mark.skipif(not DOCS.is_dir(), reason="../shared/eval/docs is not present")


def reasons(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {Path(f["path"]).name: f["error"] for f in report.failed}


def assert_nothing_stored_for(app, names: set[str]) -> None:  # type: ignore[no-untyped-def]
    stored = {Path(d.doc_id).name for d in app.catalog.list_active()}
    assert not (stored & names)
    assert app.catalog.rows_in_state("pending") == []


def test_hostile_files_get_reasons_and_the_good_file_still_lands(app, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "good.txt").write_text("The retention period is 7 years.\n")
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "junk.pdf").write_bytes(b"\x00\x01garbage" * 50)
    (folder / "junk.docx").write_bytes(b"PK but not really a zip")
    (folder / "binary.csv").write_bytes(b"name,amount\nabc,1\n\x00\x00\xff\xfe\x00,2\n")
    (folder / "blank.txt").write_text("   \n\n  ")
    (folder / "program.exe").write_bytes(b"MZ\x90\x00")
    (folder / "nested.html").write_text("<div>" * 50_000 + "deep text" + "</div>" * 50_000)
    bomb = folder / "bomb.docx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("word/document.xml", "w") as member:
        block = b"\0" * (1 << 20)
        for _ in range(300):
            member.write(block)
    outside = tmp_path / "secret.txt"
    outside.write_text("outside the folder")
    (folder / "link.txt").symlink_to(outside)

    report = ingest_paths(app, [folder, tmp_path / "missing.txt"], collection="default", actor=TESTER)
    why = reasons(report)
    assert [Path(d.path).name for d in report.ingested] == ["good.txt", "nested.html"]
    assert "empty" in why["empty.pdf"]
    assert "not a PDF" in why["junk.pdf"]
    assert "DOCX" in why["junk.docx"] and "zip" in why["junk.docx"]
    assert "binary data" in why["binary.csv"]
    assert "no text" in why["blank.txt"] or "empty" in why["blank.txt"]
    assert "unsupported file type .exe" in why["program.exe"]
    assert "zip bomb" in why["bomb.docx"]
    assert "outside the folder" in why["link.txt"]
    assert "no such file" in why["missing.txt"]
    assert all("\n" not in reason and "Traceback" not in reason for reason in why.values())
    assert not any(r.startswith("unexpected error") for r in why.values()), why
    assert_nothing_stored_for(app, set(why))


def test_size_limit_is_a_setting_with_a_clear_message(home: Path, models, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    big = tmp_path / "big.txt"
    big.write_text("All work and no play. " * 100_000)  # about 2.2 MB
    settings = Settings(home=home, ingest=IngestSettings(max_file_mb=1))
    with build(settings, models) as app:
        report = ingest_paths(app, [big], collection="default", actor=TESTER)
    assert report.ingested == []
    assert "over the 1 MB limit (setting ingest.max_file_mb)" in reasons(report)["big.txt"]


@needs_eval
def test_real_world_hard_cases(app, tmp_path: Path) -> None:
    picks = {
        "unstructured/pdf_password.pdf": "password",
        "pypdf_sample_files/005-libreoffice-writer-password_libreoffice-writer-password.pdf": "password",
        "haystack/non_text_searchable.pdf": "OCR is not supported",
        "unstructured/fake.doc": "unsupported file type .doc",
        "unstructured/fake-email.msg": "unsupported file type .msg",
        "unstructured/pdf_copy-protected.pdf": None,
        "unstructured/fake-html-cp1252.html": None,
        "unstructured/eml_email-no-utf8-2014-03-17.111517.eml": None,
        "unstructured/stanley-cups.xlsx": None,
        "docling/word_tables.docx": None,
        "docugami_public_pdfs/20080102X00002.pdf": None,
    }
    folder = tmp_path / "eval"
    folder.mkdir()
    for relative in picks:
        shutil.copy(DOCS / relative, folder / Path(relative).name)
    report = ingest_paths(app, [folder], collection="default", actor=TESTER)
    why = reasons(report)
    ingested = {Path(d.path).name for d in report.ingested}
    for relative, expected_error in picks.items():
        name = Path(relative).name
        if expected_error is None:
            assert name in ingested, f"{name} failed: {why.get(name)}"
        else:
            assert expected_error in why[name], f"{name}: {why.get(name)}"
    cp1252 = app.catalog.document_text(
        app.catalog.active_document("default", str(folder / "fake-html-cp1252.html")).row_id
    )
    assert "\ufffd" not in cp1252
