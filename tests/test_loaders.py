"""The document loaders on small generated files, hostile files, and the real eval corpus."""

from __future__ import annotations

import csv
import datetime as dt
import struct
import time
import tracemalloc
import zipfile
from email.message import EmailMessage
from pathlib import Path

import docx
import openpyxl
import pytest

from ingestion.loaders import SUPPORTED_EXTENSIONS, LoadError, LoadLimits, LoadNotes, Segment, html_to_text, loader_for
from tests.conftest import EVAL
from tests.pdf_fixtures import text_pdf_bytes, write_text_pdf

DOCS = EVAL / "docs"
needs_eval = pytest.mark.skipif(not DOCS.is_dir(), reason=f"eval corpus not present at {DOCS}")


def load(path: Path, limits: LoadLimits | None = None) -> tuple[list[Segment], LoadNotes]:
    """Run the loader the registry picks for `path`; return its segments and notes."""
    notes = LoadNotes()
    segments = list(loader_for(path).load(path, limits or LoadLimits(), notes))
    return segments, notes


def text_of(path: Path, limits: LoadLimits | None = None) -> str:
    return "\n\n".join(segment.text for segment in load(path, limits)[0])


def load_error(path: Path, limits: LoadLimits | None = None) -> str:
    """The LoadError message a file gives; fails the test on success or on any other exception."""
    with pytest.raises(LoadError) as caught:
        load(path, limits)
    message = str(caught.value)
    assert message and "\n" not in message, repr(message)
    return message


def write_zip_bomb(path: Path, member: str, megabytes: int = 300) -> Path:
    """A zip whose one member is `megabytes` MB of zeros (about 0.3 MB on disk), written in 1 MiB steps."""
    block = b"\0" * (1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open(member, "w") as out:
        for _ in range(megabytes):
            out.write(block)
    return path


# -- registry ------------------------------------------------------------------------------


def test_registry_picks_by_lower_cased_extension(tmp_path: Path) -> None:
    assert loader_for(Path("a.PDF")).kind == "pdf"
    assert loader_for(Path("x/Report.Docx")).kind == "docx"
    assert loader_for(Path("page.htm")).kind == "html"
    assert loader_for(Path("notes.markdown")).kind == "markdown"
    assert loader_for(Path("data.tsv")).kind == "csv"
    assert loader_for(Path("book.xlsm")).kind == "xlsx"
    assert loader_for(Path("mail.eml")).kind == "email"
    assert set(SUPPORTED_EXTENSIONS) >= {".pdf", ".docx", ".html", ".txt", ".md", ".csv", ".xlsx", ".eml"}


@pytest.mark.parametrize("name", ["old.doc", "mail.msg", "deck.pptx", "text.odt", "tool.exe", "README"])
def test_registry_refuses_other_types_naming_the_supported_ones(name: str) -> None:
    with pytest.raises(LoadError) as caught:
        loader_for(Path(name))
    message = str(caught.value)
    suffix = Path(name).suffix or "(no extension)"
    assert message.startswith(f"unsupported file type {suffix} (supported: .csv, .docx, ")
    assert "\n" not in message


# -- PDF -----------------------------------------------------------------------------------


def test_pdf_one_segment_per_page_and_blank_pages_are_counted(tmp_path: Path) -> None:
    path = write_text_pdf(tmp_path / "doc.pdf", ["First page\nsecond line (with parens)", "", "Third: café €"])
    segments, notes = load(path)
    assert [(s.page, s.text) for s in segments] == [
        (1, "First page\nsecond line (with parens)"),
        (3, "Third: café €"),
    ]
    assert notes.warnings == ["1 of 3 pages have no text (scanned or blank): pages 2"]


def test_pdf_hostile_files(tmp_path: Path) -> None:
    (tmp_path / "empty.pdf").write_bytes(b"")
    assert load_error(tmp_path / "empty.pdf") == "empty file"
    (tmp_path / "junk.pdf").write_bytes(b"\x00\x01garbage" * 50)
    assert load_error(tmp_path / "junk.pdf") == "not a PDF (no %PDF header)"
    data = text_pdf_bytes(["alpha", "beta", "gamma"])
    (tmp_path / "truncated.pdf").write_bytes(data[: len(data) // 2])
    assert load_error(tmp_path / "truncated.pdf").startswith("corrupt PDF: ")
    (tmp_path / "header-only.pdf").write_bytes(b"%PDF-1.7\n" + b"\xff" * 500)
    assert load_error(tmp_path / "header-only.pdf").startswith("corrupt PDF: ")
    write_text_pdf(tmp_path / "blank.pdf", ["", ""])
    assert "no text layer" in load_error(tmp_path / "blank.pdf")


def test_pdf_page_cap(tmp_path: Path) -> None:
    path = write_text_pdf(tmp_path / "long.pdf", ["a", "b", "c"])
    assert load_error(path, LoadLimits(max_pages=2)) == "too many pages: 3 (limit 2)"


@needs_eval
def test_pdf_real_files() -> None:
    assert load_error(DOCS / "unstructured/pdf_password.pdf") == "encrypted PDF: a password is required"
    libreoffice = DOCS / "pypdf_sample_files/005-libreoffice-writer-password_libreoffice-writer-password.pdf"
    assert load_error(libreoffice) == "encrypted PDF: a password is required"
    assert len(text_of(DOCS / "unstructured/pdf_copy-protected.pdf")) > 1000  # empty user password
    scanned = load_error(DOCS / "haystack/non_text_searchable.pdf")
    assert scanned == "no text layer (scanned or image-only PDF); OCR is not supported"
    try:  # breaks pdfminer; pypdf reads it, and if it ever does not, it must say why in one line
        assert text_of(DOCS / "unstructured/pdf_invalid-pdf-structure-pdfminer-one-page.pdf").strip()
    except LoadError as error:
        assert "\n" not in str(error)


@needs_eval
def test_pdf_react_paper_page_numbers() -> None:
    start = time.perf_counter()
    segments, _ = load(DOCS / "haystack/react_paper.pdf")
    print(f"react_paper.pdf: {len(segments)} pages in {time.perf_counter() - start:.2f}s")
    assert [s.page for s in segments] == list(range(1, 32))
    assert "ReAct" in segments[0].text
    assert "REFERENCES" in " ".join(s.text for s in segments[8:12]).upper()


# -- archives (DOCX / XLSX) ----------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "kind"), [(".docx", "DOCX"), (".xlsx", "XLSX")])
def test_zip_formats_refuse_junk_and_bombs(tmp_path: Path, suffix: str, kind: str) -> None:
    junk = tmp_path / f"junk{suffix}"
    junk.write_bytes(b"PK but not really a zip" * 20)
    assert load_error(junk) == f"not a valid {kind} (not a zip archive)"
    ole = tmp_path / f"legacy{suffix}"
    ole.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    assert load_error(ole).startswith(f"not a valid {kind} (an OLE2 file")

    bomb = write_zip_bomb(tmp_path / f"bomb{suffix}", "word/document.xml")
    assert bomb.stat().st_size < 2 * 1024 * 1024
    message = load_error(bomb)
    assert message.startswith(f"suspicious {kind} (zip bomb?)") and "uncompressed" in message
    # Under the size limit, the ratio alone gives it away.
    small = write_zip_bomb(tmp_path / f"small-bomb{suffix}", "xl/worksheets/sheet1.xml", megabytes=20)
    assert "ratio" in load_error(small)


def _lie_about_sizes(path: Path, declared: int) -> None:
    """Rewrite every size field of a one-member zip (local header and central directory)."""
    data = bytearray(path.read_bytes())
    local = data.index(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, declared)  # uncompressed size
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, declared)
    path.write_bytes(bytes(data))


def test_zip_member_that_lies_about_its_size_is_refused(tmp_path: Path) -> None:
    # 150 MB of zeros that claims to be 1000 bytes: declared sizes pass, real inflation must not.
    liar = write_zip_bomb(tmp_path / "liar.docx", "word/document.xml", megabytes=150)
    with zipfile.ZipFile(liar, "a") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
    _lie_about_sizes(liar, 1000)
    tracemalloc.start()
    try:
        message = load_error(liar)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "unpacks to more than its declared 1000 bytes" in message
    assert peak < 16 * 1024 * 1024


# -- DOCX ----------------------------------------------------------------------------------


def _sample_docx(path: Path) -> Path:
    document = docx.Document()
    document.add_heading("Staff list", level=1)
    document.add_paragraph("Before the table.")
    table = document.add_table(rows=3, cols=4)
    for row, values in zip(
        table.rows,
        [
            ["Name", "Role", "Phone", ""],
            ["Jane Roe", "Analyst", "555-0100", "remote"],
            ["John Doe", "", "555-0199", ""],
        ],
        strict=True,
    ):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    inner = table.rows[2].cells[1].add_table(rows=1, cols=2)
    inner.rows[0].cells[0].text = "nested A"
    inner.rows[0].cells[1].text = "nested B"
    document.add_paragraph("After the table.")
    document.sections[0].footer.paragraphs[0].text = "Confidential footer"
    document.save(str(path))
    return path


def test_docx_paragraphs_and_header_aware_tables_in_order(tmp_path: Path) -> None:
    segments, _ = load(_sample_docx(tmp_path / "staff.docx"))
    body = [s for s in segments if s.label == "body"]
    assert len(body) == 1
    assert body[0].text.split("\n") == [
        "Staff list",
        "",
        "Before the table.",
        "",
        "Name: Jane Roe | Role: Analyst | Phone: 555-0100 | Column 4: remote",
        "Name: John Doe | Role: nested A nested B | Phone: 555-0199",
        "",
        "After the table.",
    ]
    assert [s.text for s in segments if s.label == "footer"] == ["Confidential footer"]


def test_docx_blocks_stay_under_20k_and_never_split_a_paragraph(tmp_path: Path) -> None:
    document = docx.Document()
    paragraphs = [f"Paragraph {i} " + "word " * 300 for i in range(200)]  # about 300k characters
    for text in paragraphs:
        document.add_paragraph(text)
    document.save(str(tmp_path / "long.docx"))
    segments, _ = load(tmp_path / "long.docx")
    assert len(segments) > 10
    assert all(len(s.text) <= 20_000 and s.label == "body" for s in segments)
    assert [p for s in segments for p in s.text.split("\n\n")] == [p.strip() for p in paragraphs]


def test_docx_corrupt_and_not_office(tmp_path: Path) -> None:
    plain = tmp_path / "plain.docx"
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("hello.txt", "not office")
    assert load_error(plain) == "not a valid DOCX (a zip archive, but not an Office document)"
    broken = tmp_path / "broken.docx"
    with zipfile.ZipFile(_sample_docx(tmp_path / "ok.docx")) as source, zipfile.ZipFile(broken, "w") as archive:
        for item in source.infolist():
            data = source.read(item)
            archive.writestr(item, data[: len(data) // 2] if item.filename == "word/document.xml" else data)
    assert load_error(broken).startswith("corrupt DOCX: ")


@needs_eval
def test_docx_real_files_header_aware_tables() -> None:
    tables = text_of(DOCS / "docling/word_tables.docx")
    assert "Header 0.0: Cell 1.0 | Header 0.1: Cell 1.1 | Header 0.2: Cell 1.2" in tables
    # A vertically merged cell repeats its value on the rows it spans.
    assert "Header 0.0: Cell 2.0 | Header 0.1: Merged Cell 1.1 2.1 | Header 0.2: Cell 2.2" in tables
    assert "Header Col 1: Lorem ipsum | Header Col 2: A link example" in text_of(DOCS / "unstructured/docx-tables.docx")
    segments, _ = load(DOCS / "unstructured/docx-hdrftr.docx")
    assert {s.label for s in segments} == {"header", "body", "footer"}
    assert "I should not be included" not in " ".join(s.text for s in segments)
    for path in sorted(
        [*DOCS.glob("docling/*.docx"), *DOCS.glob("unstructured/*.docx"), *DOCS.glob("haystack/*.docx")]
    ):
        assert text_of(path).strip(), path.name


@needs_eval
def test_docx_872_pages_loads_whole_and_not_quadratically() -> None:
    start = time.perf_counter()
    segments, _ = load(DOCS / "unstructured/handbook-872p.docx")
    elapsed = time.perf_counter() - start
    total = sum(len(s.text) for s in segments)
    print(f"handbook-872p.docx: {len(segments)} segments, {total} chars in {elapsed:.2f}s")
    assert total > 700_000
    # Not a speed target (bench ingest measures speed): a generous bound that only a loader gone
    # quadratic would break; it takes a few seconds here, even on a loaded machine far under this.
    assert elapsed < 300, f"{elapsed:.0f} s for 872 pages"


# -- HTML ----------------------------------------------------------------------------------


def test_html_to_text_visible_text_only() -> None:
    page = (
        "<html><head><title>Q3 &amp; Q4</title><style>p {color: red}</style>"
        "<script>var secret = '<p>not text</p>';</script></head><body>"
        "<!-- a comment --><h1>Report</h1><p>First   paragraph\nwraps.</p>"
        "<table><tr><th>Name</th><th>Role</th></tr><tr><td>Jane</td><td>Analyst</td></tr></table>"
        "<ul><li>one<li>two</ul><noscript>enable JS</noscript><template><p>hidden</p></template>"
        "<svg><text>drawing</text></svg><pre>keep\n  lines</pre>end<br>after break</body></html>"
    )
    assert html_to_text(page).split("\n") == [
        "Q3 & Q4",
        "",
        "Report",
        "",
        "First paragraph wraps.",
        "",
        "Name | Role",
        "Jane | Analyst",
        "",
        "one",
        "two",
        "",
        "keep",
        "lines",
        "",
        "end",
        "after break",
    ]


def test_html_deeply_nested_does_not_recurse(tmp_path: Path) -> None:
    path = tmp_path / "nested.html"
    path.write_text("<html><body>" + "<div>" * 100_000 + "deep text" + "</div>" * 100_000 + "</body></html>")
    assert [s.text for s in load(path)[0]] == ["deep text"]


def test_html_encodings(tmp_path: Path) -> None:
    meta = tmp_path / "meta.html"
    meta.write_bytes('<html><head><meta charset="windows-1251"></head><body><p>Привет, мир</p>'.encode("cp1251"))
    assert text_of(meta) == "Привет, мир"
    http_equiv = tmp_path / "equiv.html"
    http_equiv.write_bytes(
        b'<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1"><p>'
        + "Caf\u00e9 \u2013 5 \u20ac".encode("cp1252")
        + b"</p>"
    )
    assert text_of(http_equiv) == "Café – 5 €"  # latin-1 labels are read as cp1252, like browsers do
    bom = tmp_path / "bom.html"
    bom.write_bytes("<p>Grüße aus Köln</p>".encode("utf-16"))
    assert text_of(bom) == "Grüße aus Köln"


def test_html_long_page_is_split_into_blocks(tmp_path: Path) -> None:
    path = tmp_path / "long.html"
    path.write_text("<body>" + "".join(f"<p>Paragraph {i} {'x' * 200}</p>" for i in range(1000)))
    segments, _ = load(path)
    assert len(segments) > 5 and all(len(s.text) <= 20_000 for s in segments)
    assert "\n\n".join(s.text for s in segments).count("Paragraph") == 1000


@needs_eval
def test_html_real_files() -> None:
    cp1252 = text_of(DOCS / "unstructured/fake-html-cp1252.html")
    for phrase in ("15,50 €", "L'été était très chaud", "El niño comió paella con ñoquis", "Kvinnan åt köttbullar"):
        assert phrase in cp1252
    assert "\ufffd" not in cp1252

    scripts = text_of(DOCS / "unstructured/example-with-scripts.html")
    assert scripts.startswith("Russian Offensive Campaign Assessment, December 13")
    assert "Belarusian forces remain unlikely" in scripts
    for code in ("function", "var ", "document.", "jQuery", "{"):
        assert code not in scripts

    start = time.perf_counter()
    segments, _ = load(DOCS / "unstructured/example-10k.html")
    elapsed = time.perf_counter() - start
    text = "\n".join(s.text for s in segments)
    print(f"example-10k.html: {len(segments)} segments, {len(text)} chars in {elapsed:.2f}s")
    assert len(text) > 100_000 and "<" not in text[:2000]
    assert elapsed < 300, f"{elapsed:.0f} s for one 10-K page (a generous bound against a quadratic parser only)"


# -- plain text and Markdown ---------------------------------------------------------------


SAMPLE = "Café crème – 5 €, it’s “fine”. Déjà vu."


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_text_encodings(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "note.txt"
    path.write_bytes((SAMPLE + "\r\nSecond line\r\n").encode(encoding))
    assert text_of(path) == SAMPLE + "\nSecond line"


def test_text_latin1(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    text = "Grüße aus München: schöne Straße, Ærø, señor, garçon, naïve à la carte."
    path.write_bytes(text.encode("latin-1"))
    assert text_of(path) == text


def test_text_sample_boundary_cutting_a_multibyte_character(tmp_path: Path) -> None:
    # 65535 ASCII bytes, then '€' (3 bytes): the 64 KiB sample ends inside it.
    path = tmp_path / "boundary.log"
    text = "a" * 65_535 + "€ and more: naïve café\n"
    path.write_bytes(text.encode("utf-8"))
    assert path.read_bytes()[:65_536].endswith(b"\xe2")
    joined = "".join(s.text for s in load(path)[0])
    assert joined == text.strip("\n")


def test_text_segments_break_at_line_ends(tmp_path: Path) -> None:
    lines = [f"line {i:06d} " + "z" * (i % 90) for i in range(20_000)]
    path = tmp_path / "big.txt"
    path.write_text("\n".join(lines) + "\n")
    segments, _ = load(path)
    assert len(segments) > 10
    assert all(len(s.text) <= 70 * 1024 for s in segments)
    assert [line for s in segments for line in s.text.split("\n")] == lines


def test_text_hostile(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    assert load_error(tmp_path / "empty.txt") == "empty file"
    (tmp_path / "blank.txt").write_text("   \n\n \t ")
    assert load_error(tmp_path / "blank.txt").startswith("no text")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 40)
    assert load_error(tmp_path / "binary.txt") == "binary data, not text"
    (tmp_path / "controls.log").write_bytes(b"\x01\x02\x03\x04ab\x05\x06\x07\x08" * 100)
    assert load_error(tmp_path / "controls.log") == "binary data, not text"


def test_text_100mb_keeps_memory_flat(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    line = "The quick brown fox jumps over the lazy dog – café, déjà vu. Line {:09d}\n"
    with path.open("w", encoding="utf-8") as out:
        written = number = 0
        while written < 100 * 1024 * 1024:
            chunk = "".join(line.format(number + k) for k in range(10_000))
            number += 10_000
            out.write(chunk)
            written += len(chunk.encode("utf-8"))
    tracemalloc.start()
    try:
        count = chars = 0
        for segment in load_segments_lazily(path):
            count += 1
            chars += len(segment.text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"100 MB text file: {count} segments, {chars} chars, peak Python memory {peak / 1e6:.1f} MB")
    assert chars > 95_000_000
    assert peak < 32 * 1024 * 1024


def load_segments_lazily(path: Path):  # type: ignore[no-untyped-def]
    """The loader's generator itself, never held in a list."""
    return loader_for(path).load(path, LoadLimits(), LoadNotes())


def test_markdown_drops_comments_and_image_urls(tmp_path: Path) -> None:
    path = tmp_path / "readme.md"
    path.write_text(
        "# Title\n\n<!-- draft note\nspanning lines -->Intro with a [link](https://example.org).\n\n"
        '![Diagram of the flow](img/flow.png "Flow")\n\n- item one\n- item two\n'
    )
    assert text_of(path) == (
        "# Title\n\nIntro with a [link](https://example.org).\n\nDiagram of the flow\n\n- item one\n- item two"
    )
    (tmp_path / "only-comment.md").write_text("<!-- nothing here -->\n")
    assert load_error(tmp_path / "only-comment.md").startswith("no text")


# -- CSV -----------------------------------------------------------------------------------


def test_csv_rows_keep_their_column_names(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["Name", "City", "", "Note"])
        writer.writerow(["Jane Roe", "Paris", "x", "likes, commas"])
        writer.writerow(["John Doe", "", "", "two\nlines"])
        writer.writerow([])
        writer.writerow(["Ann", "Oslo", "", ""])
    segments, _ = load(path)
    assert [s.label for s in segments] == ["rows 1-3"]
    assert segments[0].text.split("\n") == [
        "Name: Jane Roe; City: Paris; Column 3: x; Note: likes, commas",
        "Name: John Doe; Note: two lines",
        "Name: Ann; City: Oslo",
    ]


def test_csv_dialects_and_encodings(tmp_path: Path) -> None:
    semicolon = tmp_path / "eu.csv"
    semicolon.write_bytes("Produkt;Preis;Währung\nKäse;3,50;€\nBrot;2,10;€\n".encode("cp1252"))
    assert text_of(semicolon) == "Produkt: Käse; Preis: 3,50; Währung: €\nProdukt: Brot; Preis: 2,10; Währung: €"
    tsv = tmp_path / "data.tsv"
    tsv.write_text("a\tb\n1\t2, 3\n")
    assert text_of(tsv) == "a: 1; b: 2, 3"


def test_csv_segments_of_200_rows_and_row_cap(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_text("id,value\n" + "".join(f"{i},v{i}\n" for i in range(1, 451)))
    segments, _ = load(path)
    assert [s.label for s in segments] == ["rows 1-200", "rows 201-400", "rows 401-450"]
    assert segments[1].text.split("\n")[0] == "id: 201; value: v201"
    assert load_error(path, LoadLimits(max_rows=100)) == "too many rows: more than 100 (limit)"


def test_csv_binary_data_names_the_row(tmp_path: Path) -> None:
    early = tmp_path / "early.csv"
    early.write_bytes(b"name,amount\nabc,1\n\x00\x00\xff\xfe\x00,2\n")
    assert load_error(early) == "binary data in CSV (row 3)"
    late = tmp_path / "late.csv"  # the junk lies far beyond the 64 KiB detection sample
    late.write_bytes(b"id,text\n" + b"".join(b"%d,plain text\n" % i for i in range(20_000)) + b"20000,bad\x00row\n")
    assert load_error(late) == "binary data in CSV (row 20002)"
    junk = tmp_path / "junk.csv"
    junk.write_bytes(bytes(range(256)) * 100)
    assert load_error(junk).startswith("binary data in CSV (row ")


def test_csv_field_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text('a,b\n1,"' + "x" * 5000 + '"\n')
    assert "row 2" in load_error(path, LoadLimits(max_field_chars=1000))


# -- XLSX ----------------------------------------------------------------------------------


def test_xlsx_sheets_rows_and_values(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    first = book.active
    first.title = "Staff"
    first.append(["Name", "Start", "Salary", None, "Active"])
    first.append(["Jane Roe", dt.datetime(2021, 3, 1), 52000.0, "x", True])
    first.append([None, None, None, None, None])
    first.append(["John Doe", dt.datetime(2020, 1, 2, 9, 30), 48500.5, None, False])
    second = book.create_sheet("Empty")
    del second
    third = book.create_sheet("Notes")
    third.append(["Only a header"])
    path = tmp_path / "book.xlsx"
    book.save(path)
    segments, _ = load(path)
    assert [(s.label, s.text) for s in segments] == [
        (
            "sheet Staff",
            "Name: Jane Roe; Start: 2021-03-01; Salary: 52000; Column 4: x; Active: TRUE\n"
            "Name: John Doe; Start: 2020-01-02 09:30:00; Salary: 48500.5; Active: FALSE",
        ),
        ("sheet Notes", "Only a header"),
    ]


@needs_eval
def test_xlsx_real_file() -> None:
    segments, _ = load(DOCS / "unstructured/stanley-cups.xlsx")
    assert [s.label for s in segments] == ["sheet Stanley Cups", "sheet Stanley Cups Since 67"]
    lines = segments[0].text.split("\n")
    assert lines[0] == "Stanley Cups"  # a one-cell caption above the real header
    assert "Team: Blues; Location: STL; Stanley Cups: 1" in lines


# -- e-mail --------------------------------------------------------------------------------


def _write_mail(path: Path, html_only: bool = False) -> Path:
    message = EmailMessage()
    message["From"] = "Jane Roe <jane@example.org>"
    message["To"] = "John Doe <john@example.org>, ops@example.org"
    message["Cc"] = "Zoë Ávila <zoe@example.org>"
    message["Subject"] = "Quarterly numbers – draft"
    message["Date"] = "Mon, 03 Feb 2025 10:00:00 +0000"
    if not html_only:
        message.set_content("Hello John,\n\nThe numbers are attached.\n")
        message.add_alternative("<p>Hello <b>John</b> (html)</p>", subtype="html")
    else:
        message.set_content(
            "<html><body><p>Hi there,</p><script>x()</script><p>see below</p></body></html>", subtype="html"
        )
    message.add_attachment(b"%PDF-1.4 " + b"x" * 12_279, maintype="application", subtype="pdf", filename="a.pdf")
    path.write_bytes(bytes(message))
    return path


def test_email_headers_body_and_attachments(tmp_path: Path) -> None:
    segments, notes = load(_write_mail(tmp_path / "mail.eml"))
    assert [s.label for s in segments] == ["headers", "body", "attachments"]
    assert segments[0].text.split("\n") == [
        "From: Jane Roe <jane@example.org>",
        "To: John Doe <john@example.org>, ops@example.org",
        "Cc: Zoë Ávila <zoe@example.org>",
        "Date: Mon, 03 Feb 2025 10:00:00 +0000",
        "Subject: Quarterly numbers – draft",
    ]
    assert segments[1].text == "Hello John,\n\nThe numbers are attached."
    assert notes.attachments == ["a.pdf (application/pdf, 12 KB)"]
    assert segments[2].text == "Attachments (not ingested): a.pdf (application/pdf, 12 KB)"


def test_email_html_only_body(tmp_path: Path) -> None:
    segments, _ = load(_write_mail(tmp_path / "html.eml", html_only=True))
    assert [s.text for s in segments if s.label == "body"] == ["Hi there,\n\nsee below"]


def test_email_raw_8bit_latin1(tmp_path: Path) -> None:
    path = tmp_path / "latin1.eml"
    path.write_bytes(
        b"From: J\xe9r\xf4me <j@example.fr>\r\nSubject: R\xe9sum\xe9\r\nContent-Type: text/plain\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nCh\xe8re \xe9quipe, co\xfbt: 5 \x80.\r\n"
    )
    segments, _ = load(path)
    assert segments[0].text == "From: Jérôme <j@example.fr>\nSubject: Résumé"
    assert segments[1].text == "Chère équipe, coût: 5 €."


def test_email_junk_is_not_a_message(tmp_path: Path) -> None:
    (tmp_path / "junk.eml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00 random bytes")
    assert load_error(tmp_path / "junk.eml") == "not an e-mail message (no headers)"
    (tmp_path / "prose.eml").write_text("Just some text\nwith lines\n")
    assert load_error(tmp_path / "prose.eml") == "not an e-mail message (no headers)"
    (tmp_path / "empty.eml").write_bytes(b"")
    assert load_error(tmp_path / "empty.eml") == "empty file"


@needs_eval
def test_email_real_files() -> None:
    segments, notes = load(DOCS / "unstructured/eml_email-no-utf8-2014-03-17.111517.eml")
    text = "\n".join(s.text for s in segments)
    assert "Subject: Google Account password changed" in segments[0].text
    assert "The password for your Google Account - slava.Gxyzxyz@gmail.com - was recently changed." in text
    assert "\ufffd" not in text
    assert [a.split(" (")[0] for a in notes.attachments] == ["google.png", "profilephoto.png"]

    segments, notes = load(DOCS / "unstructured/eml_fake-email-attachment.eml")
    assert segments[0].text.startswith("From: Mallori Harrell <mallori@unstructured.io>")
    assert "Here's the attachments!" in segments[1].text
    assert notes.attachments == ["fake-attachment.txt (text/plain, 30 bytes)"]


# -- the whole corpus ----------------------------------------------------------------------


@needs_eval
def test_every_eval_file_loads_or_says_why_in_one_line() -> None:
    outcomes: dict[str, str] = {}
    for path in sorted(DOCS.rglob("*")):
        if not path.is_file() or "groundtruth" in path.parts or path.suffix.lower() not in SUPPORTED_EXTENSIONS:
            continue
        if path.suffix == ".md":
            continue  # README.md files describe the corpus
        try:
            segments, _ = load(path)
            outcomes[path.name] = f"ok {sum(len(s.text) for s in segments)} chars"
        except LoadError as error:
            assert "\n" not in str(error)
            outcomes[path.name] = f"LoadError: {error}"
    failures = {name: why for name, why in outcomes.items() if why.startswith("LoadError")}
    print("\n".join(f"{name}: {why}" for name, why in failures.items()))
    assert set(failures) == {
        "pdf_password.pdf",
        "005-libreoffice-writer-password_libreoffice-writer-password.pdf",
        "non_text_searchable.pdf",
        "NCT06155240_Prot_SAP_000.pdf",  # a scan (Canon copier), no text layer
        "pdf_single_table.pdf",  # an image of a table, no text layer
    }
