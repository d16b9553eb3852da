"""A tiny hand-written PDF writer, so tests get real text-layer PDFs without extra libraries."""

from __future__ import annotations

from pathlib import Path

_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"


def _pdf_string(text: str) -> bytes:
    """A PDF literal string in WinAnsi (cp1252); characters outside it become '?'."""
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _content(text: str) -> bytes:
    """A content stream that draws each line of `text` in 12 pt Helvetica from the top left."""
    if not text:
        return b""
    ops = [b"BT /F1 12 Tf 14 TL 72 770 Td"]
    for index, line in enumerate(text.split("\n")):
        ops.append((b"T* " if index else b"") + _pdf_string(line) + b" Tj")
    ops.append(b"ET")
    return b"\n".join(ops)


def text_pdf_bytes(pages: list[str]) -> bytes:
    """A valid PDF 1.4 with one page per string (an empty string gives a blank page)."""
    count = len(pages)
    # Objects: 1 catalog, 2 page tree, 3 font, then (page, content) pairs.
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(count))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % count,
        _FONT,
    ]
    for index, text in enumerate(pages):
        content_ref = 5 + 2 * index
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % content_ref
        )
        stream = _content(text)
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(out)


def write_text_pdf(path: Path, pages: list[str]) -> Path:
    """Write a valid multi-page PDF with a Helvetica text layer to `path`; returns `path`."""
    path.write_bytes(text_pdf_bytes(pages))
    return path
