"""Regenerate the demo corpus of the PII-redacting document appliance.

Everything here is FICTIONAL: "Harbor & Vale Bank", its staff, customers,
vendors, e-mail addresses (subdomains of the reserved example.com), phone numbers
(the reserved 555-01xx and Ofcom 020 7946 0xxx drama ranges), the IBAN
(the textbook example), the card number (the Visa test number) and the SSN.

Run from anywhere::

    python appliance/demo/corpus/build_corpus.py

It (re)writes every corpus file next to this script, plus ``README.md`` and
``expectations.json``. Output is byte-for-byte deterministic: the PDF is
written by hand, and the DOCX/XLSX zip containers get fixed timestamps and
fixed document properties.
"""

from __future__ import annotations

import base64
import io
import json
import re
import textwrap
import zipfile
from datetime import date, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCUMENTS = HERE / "documents"  # only the documents: this script and the notes name the planted values
FIXED_DT = datetime(2026, 1, 1, 0, 0, 0)
ZIP_DT = (2026, 1, 1, 0, 0, 0)

# --------------------------------------------------------------------------
# 1. Markdown policy
# --------------------------------------------------------------------------

TRAVEL_POLICY_MD = """\
# Harbor & Vale Bank — Travel and Expense Policy

Version 3.2, effective 2026-02-01. Owner: Group Finance.

## 1. Submitting claims

- Expense claims must be submitted within 30 days of the end of the trip.
  Claims submitted later than 60 days are rejected.
- Every claim needs itemised receipts for any single item above EUR 25.
- Claims are reimbursed with the next monthly payroll run.

## 2. Booking and limits

- All flights, rail and hotels are booked through our travel agency,
  Northwind Travel, using the corporate booking portal.
- The hotel cap is EUR 180 per night (EUR 240 per night in London, Paris
  and New York).
- Economy class is mandatory for flights under 6 hours; premium economy is
  allowed for longer flights.
- The daily meal allowance is EUR 55.

## 3. Approvals

- Line managers approve claims up to EUR 2,000.
- Claims above EUR 2,000, and any exception to the hotel cap, must be
  approved by the Finance Director, Margaret Okafor
  (margaret.okafor@harborvale.example.com, +44 20 7946 0857).
- Approvers must decide within 5 business days.

## 4. Questions

Contact the Finance Operations desk or the Northwind Travel account team.
"""

# --------------------------------------------------------------------------
# 2. PDF incident report (two pages, one list of lines per page)
# --------------------------------------------------------------------------

INCIDENT_PAGES: list[list[str]] = [
    [
        "# Harbor & Vale Bank - Security Incident Report",
        "Reference: INC-2026-0314. Classification: Confidential. Page 1 of 2.",
        "",
        "## 1. Summary",
        "On 2026-03-14 at 2:30 p.m. a phishing e-mail impersonating Northwind "
        "Travel was opened in the Springfield branch. The message asked staff "
        "to re-enter a customer's payment details on a fake booking page. One "
        "customer record was exposed before the page was blocked.",
        "",
        "## 2. Reporter",
        "The incident was reported by Daniel Whitford, Customer Service "
        "Officer, phone +1 617-555-0148, who noticed the suspicious link and "
        "called the Security Operations Centre at 2:41 p.m.",
        "",
        "## 3. Timeline",
        "2:30 p.m. - Phishing e-mail opened on the branch workstation.",
        "2:41 p.m. - Incident reported to the Security Operations Centre.",
        "3:05 p.m. - Workstation with IP address 10.20.30.41 isolated from the network.",
        "3:40 p.m. - Malicious domain blocked on the web proxy.",
        "5:15 p.m. - Affected customer's card blocked and a new card ordered.",
    ],
    [
        "# Security Incident Report INC-2026-0314 (continued)",
        "Page 2 of 2.",
        "",
        "## 4. Affected customer",
        "Customer name: Eleanor Vance",
        "IBAN: GB82 WEST 1234 5698 7654 32",
        "Card number: 4111 1111 1111 1111",
        "No funds left the account. The card was cancelled at 5:15 p.m.",
        "",
        "## 5. Resolution",
        "The incident was contained on the same day and closed on 2026-03-16, "
        "within 48 hours as required by the incident response policy. The "
        "estimated cost of the incident is EUR 3,400. All Springfield branch "
        "staff must complete phishing awareness training by 2026-04-30.",
        "",
        "## 6. Sign-off",
        "Approved by the Chief Information Security Officer. The regulator was notified within 72 hours.",
    ],
]

# --------------------------------------------------------------------------
# 3. E-mail with a base64 attachment that must not be ingested
# --------------------------------------------------------------------------

EML_BOUNDARY = "==harborvale-demo-boundary-0001=="

EML_BODY = """\
Dear Harbor & Vale Bank complaints team,

I am writing about a refund of USD 1,250 for a duplicated mortgage fee that
was debited from my current account on 2026-02-02. When I called your
Springfield branch on 2026-02-03, I was promised the refund
within 10 business days. It is now more than four weeks later and the money
has still not been returned.

Please refund the USD 1,250 and confirm in writing. If the matter is not
resolved within 14 days, I will escalate my complaint to the
Financial Ombudsman Service.

You can reach me at robert.hollis@mail.example.com or on +1 217-555-0193.
My postal address is 42 Elm Street, Springfield.

Kind regards,
Robert Hollis
"""

EML_ATTACHMENT_NAME = "call_notes.txt"
EML_ATTACHMENT_TEXT = """\
ATTACHMENT-ONLY TEXT - must never be ingested.
Call log reference ZEPHYR-ATTACHMENT-7731.
2026-02-03 10:12 call with Springfield branch, agent promised refund.
"""


def build_eml() -> str:
    b64 = base64.encodebytes(EML_ATTACHMENT_TEXT.encode("ascii")).decode("ascii")
    headers = [
        "From: Robert Hollis <robert.hollis@mail.example.com>",
        "To: Harbor & Vale Complaints <complaints@harborvale.example.com>",
        "Subject: Complaint: refund of USD 1,250 still not received",
        "Date: Mon, 09 Mar 2026 09:15:00 -0500",
        "Message-ID: <20260309091500.4711@mail.example.com>",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{EML_BOUNDARY}"',
    ]
    parts = [
        "\n".join(headers),
        "",
        "This is a multi-part message in MIME format.",
        "",
        f"--{EML_BOUNDARY}",
        'Content-Type: text/plain; charset="us-ascii"',
        "Content-Transfer-Encoding: 7bit",
        "",
        EML_BODY,
        f"--{EML_BOUNDARY}",
        f'Content-Type: text/plain; charset="us-ascii"; name="{EML_ATTACHMENT_NAME}"',
        "Content-Transfer-Encoding: base64",
        f'Content-Disposition: attachment; filename="{EML_ATTACHMENT_NAME}"',
        "",
        b64,
        f"--{EML_BOUNDARY}--",
        "",
    ]
    # RFC 5322 line endings on disk.
    return "\r\n".join("\n".join(parts).split("\n"))


# --------------------------------------------------------------------------
# 4. CSV staff directory
# --------------------------------------------------------------------------

STAFF_HEADER = ["Name", "Email", "Phone", "Department", "Office"]
STAFF_ROWS = [
    ["Margaret Okafor", "margaret.okafor@harborvale.example.com", "+44 20 7946 0857",
     "Finance", "London"],
    ["Daniel Whitford", "daniel.whitford@harborvale.example.com", "+1 617-555-0148",
     "Customer Service", "Springfield"],
    ["Sarah Lindqvist", "sarah.lindqvist@harborvale.example.com", "+44 20 7946 0312",
     "Compliance", "London"],
    ["Thomas Brennan", "thomas.brennan@harborvale.example.com", "+1 617-555-0171",
     "IT Security", "Springfield"],
    ["Aisha Karimova", "aisha.karimova@harborvale.example.com", "+44 20 7946 0529",
     "Treasury", "London"],
    ["Lucas Moreau", "lucas.moreau@harborvale.example.com", "+44 20 7946 0644",
     "Procurement", "Dublin"],
    ["Hannah Schulz", "hannah.schulz@harborvale.example.com", "+1 617-555-0186",
     "Retail Banking", "Springfield"],
    ["Oliver Grant", "oliver.grant@harborvale.example.com", "+44 20 7946 0785",
     "Legal", "Dublin"],
]  # fmt: skip

# --------------------------------------------------------------------------
# 5. XLSX vendor contracts
# --------------------------------------------------------------------------

CONTRACTS_HEADER = [
    "Vendor",
    "Contract value",
    "Renewal date",
    "Account manager",
    "Manager phone",
]
CONTRACTS_ROWS = [
    ["Northwind Travel", 48000, date(2026, 9, 30), "Grace Abernathy",
     "+44 20 7946 0123"],
    ["Contoso Cloud Services", 215000, date(2027, 1, 31), "Victor Almeida",
     "+1 312-555-0117"],
    ["Fabrikam Facilities", 96500, date(2026, 11, 15), "Nadia Peterson",
     "+44 20 7946 0456"],
    ["Tailspin Secure Print", 12750, date(2026, 7, 1), "Samuel Osei",
     "+1 312-555-0139"],
    ["Litware Analytics", 132000, date(2027, 3, 31), "Chloe Dubois",
     "+44 20 7946 0977"],
]  # fmt: skip

# --------------------------------------------------------------------------
# 6. DOCX board minutes
# --------------------------------------------------------------------------

MINUTES_TITLE = "Harbor & Vale Bank - Minutes of the Board Meeting, 2026-09-10"
MINUTES_PARAGRAPHS = [
    "The Board met at the London head office. The Chair opened the meeting "
    "at 10:00 and confirmed that a quorum was present.",
    "Item 1 - Data retention. After reviewing the proposal from Compliance, "
    "the Board decided that the data-retention period for customer records "
    "is 7 years after the end of the customer relationship. Records older "
    "than 7 years must be deleted within 6 months of this decision.",
    "Item 2 - Vendors. The Board approved the renewal of the Contoso Cloud "
    "Services contract with a budget of EUR 215,000 and asked Procurement to "
    "re-tender the Fabrikam Facilities contract.",
    "The next meeting will be held on 2026-12-09 at 10:00 in London.",
]
MINUTES_ATTENDEES = [
    ("Catherine Ashworth", "Chair", "catherine.ashworth@harborvale.example.com"),
    ("Margaret Okafor", "Finance Director", "margaret.okafor@harborvale.example.com"),
    ("Sarah Lindqvist", "Head of Compliance", "sarah.lindqvist@harborvale.example.com"),
    ("Rajesh Iyer", "Non-executive Director", "rajesh.iyer@harborvale.example.com"),
]

# --------------------------------------------------------------------------
# 7. HTML notice with script and style blocks that must not be ingested
# --------------------------------------------------------------------------

BRANCH_NOTICE_HTML = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Springfield branch is moving</title>
<style>
/* STYLE-ONLY TEXT - must never be ingested: QUASAR-STYLE-5512 */
body { font-family: Arial, sans-serif; margin: 2em; }
.notice { border: 2px solid #0b4f6c; padding: 1em; }
</style>
<script>
// SCRIPT-ONLY TEXT - must never be ingested: NEBULA-SCRIPT-9034
window.analyticsConfig = { site: "harborvale", token: "NEBULA-SCRIPT-9034" };
</script>
</head>
<body>
<div class="notice">
<h1>Notice: our Springfield branch is moving</h1>
<p>The Springfield branch of Harbor &amp; Vale Bank moves to the Riverside
Plaza shopping centre on 2027-01-15. The current branch closes at 4 p.m. on
2027-01-13 and the new branch opens at 9 a.m. on 2027-01-15.</p>
<p>Safe deposit boxes must be collected within 30 days of the move; boxes
not collected by then are transferred to the Capital City branch.</p>
<p>Opening hours stay the same: Monday to Friday, 9 a.m. to 5 p.m.</p>
<p>For questions, contact our branch manager Julia Fernandes at
<a href="mailto:julia.fernandes@harborvale.example.com">julia.fernandes@harborvale.example.com</a>
or +1 217-555-0162.</p>
</div>
</body>
</html>
"""

# --------------------------------------------------------------------------
# 8. cp1252 plain-text KYC note
# --------------------------------------------------------------------------

KYC_NOTE = """\
KYC REVIEW NOTE – Harbor & Vale Bank, Private Clients (Dublin office)
Prepared 2026-05-20 by the Compliance team.

Customer: Hélène Marchetti
Date of birth: born 12 March 1984 (DOB: 1984-03-12)
Nationality: French. Résidence fiscale: Ireland.
SSN: 536-22-8726 (US tax residence declared until 2019)
Passport number: X48261937
Driver’s licence number: D4827315

Summary: the customer’s profile was refreshed after a large incoming
transfer of €85,000 from a notary in Lyon (sale of a flat). Source of funds
is documented by the notarial deed; the client’s occupation is
“café owner”. Risk rating stays at medium. The client’s café is in the
Château quarter of Lyon, à côté de la gare; she is described as très
ponctuelle.

Actions:
– The account review is due within 90 days.
– Request the 2025 tax return before 2026-07-31.
– Any single transfer above €10,000 needs prior approval by Compliance.
"""

# --------------------------------------------------------------------------
# Expectations: planted personal values and facts that must survive.
# --------------------------------------------------------------------------

EXPECTATIONS: dict[str, dict[str, list[str]]] = {
    "travel_expense_policy.md": {
        "pii": [
            "Margaret Okafor",
            "margaret.okafor@harborvale.example.com",
            "+44 20 7946 0857",
        ],
        "facts": ["within 30 days", "EUR 180", "Northwind Travel", "EUR 2,000"],
    },
    "incident_report_2026-03.pdf": {
        "pii": [
            "Daniel Whitford",
            "+1 617-555-0148",
            "10.20.30.41",
            "Eleanor Vance",
            "GB82 WEST 1234 5698 7654 32",
            "4111 1111 1111 1111",
        ],
        "facts": ["2026-03-14", "2:30 p.m.", "within 48 hours", "EUR 3,400"],
    },
    "customer_complaint.eml": {
        "pii": [
            "Robert Hollis",
            "robert.hollis@mail.example.com",
            "+1 217-555-0193",
            "42 Elm Street",
        ],
        "facts": ["USD 1,250", "within 10 business days", "Financial Ombudsman Service"],
        "not_ingested": ["ZEPHYR-ATTACHMENT-7731", "ATTACHMENT-ONLY TEXT"],
    },
    "staff_directory.csv": {
        "pii": [v for row in STAFF_ROWS for v in row[:3]],
        "facts": ["Compliance", "Procurement", "IT Security", "Dublin"],
    },
    "vendor_contracts.xlsx": {
        "pii": [v for row in CONTRACTS_ROWS for v in (row[3], row[4])],
        "facts": ["Northwind Travel", "Contoso Cloud Services", "2026-09-30"],
    },
    "board_minutes.docx": {
        "pii": [v for row in MINUTES_ATTENDEES for v in (row[0], row[2])],
        "facts": ["7 years", "2026-12-09", "EUR 215,000"],
    },
    "branch_notice.html": {
        "pii": [
            "Julia Fernandes",
            "julia.fernandes@harborvale.example.com",
            "+1 217-555-0162",
        ],
        "facts": ["2027-01-15", "Riverside", "within 30 days"],
        "not_ingested": ["NEBULA-SCRIPT-9034", "QUASAR-STYLE-5512"],
    },
    "kyc_note_cp1252.txt": {
        "pii": [
            "Hélène Marchetti",
            "12 March 1984",
            "1984-03-12",
            "536-22-8726",
            "X48261937",
            "D4827315",
        ],
        "facts": ["within 90 days", "€85,000", "€10,000", "2026-07-31"],
    },
}

# --------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------


def pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_page_stream(lines: list[str], keep_together: list[str]) -> bytes:
    """One BT ... Tj ET block per output line, Helvetica, top-down.

    Phrases in ``keep_together`` are never split across wrapped lines, so
    they stay exact substrings of the extracted text.
    """
    nbsp = "\u00a0"
    out = []
    y = 770
    for raw in lines:
        if not raw:
            y -= 8
            continue
        if raw.startswith("# "):
            out.append(f"BT /F2 15 Tf 72 {y} Td ({pdf_escape(raw[2:])}) Tj ET")
            y -= 24
            continue
        if raw.startswith("## "):
            out.append(f"BT /F2 12 Tf 72 {y} Td ({pdf_escape(raw[3:])}) Tj ET")
            y -= 17
            continue
        for phrase in keep_together:
            raw = raw.replace(phrase, phrase.replace(" ", nbsp))
        for piece in textwrap.wrap(raw, width=88):
            piece = piece.replace(nbsp, " ")
            out.append(f"BT /F1 11 Tf 72 {y} Td ({pdf_escape(piece)}) Tj ET")
            y -= 14
    assert y > 60, "page overflow"
    return ("\n".join(out) + "\n").encode("latin-1")


def build_pdf(pages: list[list[str]], keep_together: list[str]) -> bytes:
    n = len(pages)
    # Object numbers: 1 catalog, 2 pages, 3 Helvetica, 4 Helvetica-Bold,
    # then (page, content) pairs, then the info dictionary.
    page_ids = [5 + 2 * i for i in range(n)]
    info_id = 5 + 2 * n
    font = "<< /Type /Font /Subtype /Type1 /BaseFont /{} /Encoding /WinAnsiEncoding >>"
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: ("<< /Type /Pages /Kids [" + " ".join(f"{p} 0 R" for p in page_ids) + f"] /Count {n} >>").encode(),
        3: font.format("Helvetica").encode(),
        4: font.format("Helvetica-Bold").encode(),
    }
    for pid, lines in zip(page_ids, pages, strict=True):
        stream = pdf_page_stream(lines, keep_together)
        objects[pid] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            f"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> "
            f"/Contents {pid + 1} 0 R >>"
        ).encode()
        objects[pid + 1] = f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"endstream"
    objects[info_id] = (
        b"<< /Title (Security Incident Report INC-2026-0314) "
        b"/Producer (build_corpus.py) /CreationDate (D:20260316120000Z) >>"
    )

    buf = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for num in sorted(objects):
        offsets[num] = len(buf)
        buf += f"{num} 0 obj\n".encode() + objects[num] + b"\nendobj\n"
    xref_at = len(buf)
    size = max(objects) + 1
    buf += f"xref\n0 {size}\n".encode()
    buf += b"0000000000 65535 f \n"
    for num in range(1, size):
        buf += f"{offsets[num]:010d} 00000 n \n".encode()
    buf += (f"trailer\n<< /Size {size} /Root 1 0 R /Info {info_id} 0 R >>\nstartxref\n{xref_at}\n%%EOF\n").encode()
    return bytes(buf)


def normalise_zip(data: bytes) -> bytes:
    """Rewrite an OOXML zip with fixed timestamps and fixed core dates."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            blob = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                blob = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rb"\g<1>2026-01-01T00:00:00Z\g<2>",
                    blob,
                )
            zi = zipfile.ZipInfo(info.filename, date_time=ZIP_DT)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, blob)
    return out.getvalue()


def build_docx() -> bytes:
    from docx import Document

    doc = Document()
    doc.add_heading(MINUTES_TITLE, level=1)
    for text in MINUTES_PARAGRAPHS[:-1]:
        doc.add_paragraph(text)
    doc.add_heading("Attendees", level=2)
    table = doc.add_table(rows=1, cols=3)
    table.style = "Table Grid"
    for cell, label in zip(table.rows[0].cells, ("Attendee", "Role", "Email"), strict=True):
        cell.text = label
    for row in MINUTES_ATTENDEES:
        for cell, value in zip(table.add_row().cells, row, strict=True):
            cell.text = value
    doc.add_paragraph(MINUTES_PARAGRAPHS[-1])
    props = doc.core_properties
    props.author = "Board Secretariat"
    props.last_modified_by = "Board Secretariat"
    props.title = MINUTES_TITLE
    props.created = FIXED_DT
    props.modified = FIXED_DT
    props.revision = 1
    buf = io.BytesIO()
    doc.save(buf)
    return normalise_zip(buf.getvalue())


def build_xlsx() -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Contracts"
    ws.append(CONTRACTS_HEADER)
    for row in CONTRACTS_ROWS:
        ws.append(row)
    for (cell,) in ws.iter_rows(min_row=2, min_col=2, max_col=2):
        cell.number_format = '"EUR "#,##0'
    for (cell,) in ws.iter_rows(min_row=2, min_col=3, max_col=3):
        cell.number_format = "yyyy-mm-dd"
    for col, width in zip("ABCDE", (26, 16, 14, 20, 18), strict=True):
        ws.column_dimensions[col].width = width
    wb.properties.creator = "Procurement"
    wb.properties.created = FIXED_DT
    wb.properties.modified = FIXED_DT
    buf = io.BytesIO()
    wb.save(buf)
    return normalise_zip(buf.getvalue())


def build_csv() -> str:
    import csv

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(STAFF_HEADER)
    writer.writerows(STAFF_ROWS)
    return buf.getvalue()


def build_readme() -> str:
    lines = [
        "# Demo corpus: Harbor & Vale Bank",
        "",
        "All people, e-mail addresses, phone numbers, identity numbers, account",
        'and card numbers, addresses and organisations (including "Harbor &',
        'Vale Bank" and its vendors) in this folder are **fictional**. E-mail',
        "domains are subdomains of the reserved `example.com`, US phone numbers the",
        "reserved 555-01xx range, UK numbers the Ofcom 020 7946 0xxx drama",
        "range; the IBAN is the textbook example and the card number is the",
        "Visa test number.",
        "",
        "Regenerate everything (including this README and `expectations.json`)",
        "with `python appliance/demo/corpus/build_corpus.py`; the output is",
        "deterministic.",
        "",
        "`expectations.json` maps each file to `pii` (planted personal values",
        "that must never reach the store), `facts` (exact substrings of the",
        "document text that must survive redaction) and, for some files,",
        "`not_ingested` (markers in parts that must be skipped entirely:",
        "e-mail attachments, HTML `<script>`/`<style>`).",
        "",
        "Notes: `kyc_note_cp1252.txt` is cp1252 and deliberately not valid",
        "UTF-8. In `vendor_contracts.xlsx` contract values are integer cells",
        "and renewal dates are date cells (the `2026-09-30` fact is a substring",
        "of both `str()` and `isoformat()` of the cell value).",
        "",
        "## Files",
        "",
    ]
    for name, exp in EXPECTATIONS.items():
        lines += [f"### `{name}`", "", f"- {DESCRIPTIONS[name]}"]
        lines.append("- PII planted: " + ", ".join(f"`{v}`" for v in exp["pii"]))
        lines.append("- Facts kept: " + ", ".join(f"`{v}`" for v in exp["facts"]))
        if "not_ingested" in exp:
            lines.append("- Must not be ingested: " + ", ".join(f"`{v}`" for v in exp["not_ingested"]))
        lines.append("")
    return "\n".join(lines)


DESCRIPTIONS = {
    "travel_expense_policy.md": "Markdown travel and expense policy.",
    "incident_report_2026-03.pdf": "Two-page PDF (hand-written, Helvetica, "
    "real text layer): phishing incident of 2026-03-14.",
    "customer_complaint.eml": "RFC 5322 multipart e-mail (CRLF) about a late refund, with a base64 text attachment.",
    "staff_directory.csv": "Staff directory, 8 rows.",
    "vendor_contracts.xlsx": 'One sheet "Contracts", 5 vendor rows.',
    "board_minutes.docx": "Board minutes: paragraphs plus an attendee table.",
    "branch_notice.html": "Branch move notice with <script> and <style> blocks.",
    "kyc_note_cp1252.txt": "KYC note encoded in cp1252 (é, ’, €, –, “ ”).",
}


def main() -> None:
    text_files: dict[str, bytes] = {
        "travel_expense_policy.md": TRAVEL_POLICY_MD.encode("utf-8"),
        "customer_complaint.eml": build_eml().encode("ascii"),
        "staff_directory.csv": build_csv().encode("utf-8"),
        "branch_notice.html": BRANCH_NOTICE_HTML.encode("utf-8"),
        "kyc_note_cp1252.txt": KYC_NOTE.encode("cp1252"),
    }
    pdf_exp = EXPECTATIONS["incident_report_2026-03.pdf"]
    binary_files: dict[str, bytes] = {
        "incident_report_2026-03.pdf": build_pdf(INCIDENT_PAGES, [*pdf_exp["pii"], *pdf_exp["facts"]]),
        "vendor_contracts.xlsx": build_xlsx(),
        "board_minutes.docx": build_docx(),
    }
    files = {**text_files, **binary_files}
    assert set(files) == set(EXPECTATIONS)
    DOCUMENTS.mkdir(exist_ok=True)
    for name, data in files.items():
        (DOCUMENTS / name).write_bytes(data)
    (HERE / "expectations.json").write_text(
        json.dumps(EXPECTATIONS, indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    (HERE / "README.md").write_text(build_readme(), encoding="utf-8")
    for name in files:
        print(f"{(DOCUMENTS / name).stat().st_size:7d}  {name}")


if __name__ == "__main__":
    main()
