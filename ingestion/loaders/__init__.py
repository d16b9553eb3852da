"""Document loaders: pick one by file extension and stream a file as text segments."""

from __future__ import annotations

from pathlib import Path

from ingestion.loaders.base import Loader, LoadError, LoadLimits, LoadNotes, Segment
from ingestion.loaders.docx import DocxLoader
from ingestion.loaders.email import EmailLoader
from ingestion.loaders.html import HtmlLoader, html_to_text
from ingestion.loaders.markdown import MarkdownLoader
from ingestion.loaders.pdf import PdfLoader
from ingestion.loaders.tabular import CsvLoader, XlsxLoader
from ingestion.loaders.text import TextLoader

_ALL: tuple[Loader, ...] = (
    PdfLoader(),
    DocxLoader(),
    HtmlLoader(),
    TextLoader(),
    MarkdownLoader(),
    CsvLoader(),
    XlsxLoader(),
    EmailLoader(),
)

# Lower-cased extension (with the dot) -> loader.
LOADERS: dict[str, Loader] = {ext: loader for loader in _ALL for ext in loader.extensions}
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(sorted(LOADERS))


def loader_for(path: Path) -> Loader:
    """The loader for a file's extension; LoadError names the supported ones otherwise."""
    ext = Path(path).suffix.lower()
    loader = LOADERS.get(ext)
    if loader is None:
        what = ext if ext else "(no extension)"
        raise LoadError(f"unsupported file type {what} (supported: {', '.join(SUPPORTED_EXTENSIONS)})")
    return loader


__all__ = [
    "LOADERS",
    "SUPPORTED_EXTENSIONS",
    "LoadError",
    "LoadLimits",
    "LoadNotes",
    "Loader",
    "Segment",
    "html_to_text",
    "loader_for",
]
