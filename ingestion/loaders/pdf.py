"""PDF files via pypdf: one segment per page with text, and clear errors for hostile input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError

from ingestion.loaders.base import LoadError, LoadLimits, LoadNotes, Segment

_SIGNATURE = b"%PDF-"
_HEADER_BYTES = 1024
_REASON_CHARS = 120


def _reason(exc: BaseException) -> str:
    """A short one-line reason from an exception, for LoadError messages."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 1] + "…"


def _page_list(pages: list[int]) -> str:
    """'3, 5, 9' or '3, 5, 9, … (12 in all)' for long lists."""
    shown = ", ".join(str(n) for n in pages[:10])
    return shown if len(pages) <= 10 else f"{shown}, … ({len(pages)} in all)"


def _open(path: Path) -> PdfReader:
    """Open and, if needed, decrypt with the empty password (copy-protected files)."""
    try:
        reader = PdfReader(path, strict=False)
        if not reader.is_encrypted:
            return reader
        result = reader.decrypt("")
    except (DependencyError, NotImplementedError) as exc:
        raise LoadError(f"encrypted PDF: unsupported encryption ({_reason(exc)})") from exc
    except Exception as exc:  # pypdf raises PyPdfError and many built-in types on bad input
        raise LoadError(f"corrupt PDF: {_reason(exc)}") from exc
    if result == PasswordType.NOT_DECRYPTED:
        raise LoadError("encrypted PDF: a password is required")
    return reader


class PdfLoader:
    """Loads text-layer PDFs; scanned pages are reported, not OCR'd."""

    kind: str = "pdf"
    extensions: tuple[str, ...] = (".pdf",)

    def load(self, path: Path, limits: LoadLimits, notes: LoadNotes) -> Iterator[Segment]:
        """Yield one segment per page that has text, with its 1-based page number."""
        with path.open("rb") as fh:
            head = fh.read(_HEADER_BYTES)
        if not head:
            raise LoadError("empty file")
        if _SIGNATURE not in head:
            raise LoadError("not a PDF (no %PDF header)")
        reader = _open(path)
        try:
            count = len(reader.pages)
        except Exception as exc:
            raise LoadError(f"corrupt PDF: page tree unreadable ({_reason(exc)})") from exc
        if count == 0:
            raise LoadError("corrupt PDF: no pages")
        if count > limits.max_pages:
            raise LoadError(f"too many pages: {count} (limit {limits.max_pages})")

        empty: list[int] = []
        failed: list[int] = []
        first_error = ""
        for number in range(1, count + 1):
            try:
                text = reader.pages[number - 1].extract_text() or ""
            except Exception as exc:  # noqa: BLE001 - one broken page must not lose the others
                failed.append(number)
                first_error = first_error or _reason(exc)
                continue
            text = text.replace("\x00", "").strip()
            if text:
                yield Segment(text=text, page=number)
            else:
                empty.append(number)

        if len(empty) + len(failed) == count:
            if failed and not empty:
                raise LoadError(f"corrupt PDF: no page could be read ({first_error})")
            if failed:
                raise LoadError(f"no text layer and {len(failed)} unreadable pages; OCR is not supported")
            raise LoadError("no text layer (scanned or image-only PDF); OCR is not supported")
        if empty:
            notes.warnings.append(
                f"{len(empty)} of {count} pages have no text (scanned or blank): pages {_page_list(empty)}"
            )
        if failed:
            notes.warnings.append(
                f"{len(failed)} of {count} pages could not be read ({first_error}): pages {_page_list(failed)}"
            )
