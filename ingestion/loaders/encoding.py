"""Text-encoding detection and streaming decoding, shared by the plain-text, CSV and HTML loaders.

Detection looks at a bounded sample only, and decoding is incremental, so a file of any
size is turned into text with flat memory.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

from charset_normalizer import from_bytes

from ingestion.loaders.base import LoadError

SAMPLE_BYTES = 64 * 1024
READ_BYTES = 64 * 1024
FALLBACK = "cp1252"

# Longest BOMs first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Labels that, in practice, mean Windows-1252 (the WHATWG rule): cp1252 is a superset for
# every printable character and also decodes the € ’ “ ” that mislabelled files contain.
_AS_CP1252 = {"ascii", "us_ascii", "latin_1", "iso8859_1", "cp1252"}

# Code pages charset-normalizer may pick for short Western text that nobody writes files in
# any more: EBCDIC, DOS, classic Mac OS and a few rarities (UTF-7 can smuggle markup).
_UNLIKELY = (
    "cp037 cp273 cp424 cp500 cp875 cp1026 cp1140 "  # EBCDIC
    "cp437 cp720 cp737 cp775 cp850 cp852 cp855 cp856 cp857 cp858 cp860 cp861 cp862 cp863 cp864 "
    "cp865 cp866 cp869 cp1006 cp1125 "  # DOS
    "mac_cyrillic mac_greek mac_iceland mac_latin2 mac_roman mac_turkish "
    "hp_roman8 ptcp154 kz1048 koi8_t hz utf_7"
).split()

# Control characters that never occur in text (tab, LF, VT, FF, CR and ESC are allowed).
_CONTROL = frozenset({chr(c) for c in range(32)} - set("\t\n\x0b\x0c\r\x1b"))
_CONTROL_TABLE = {ord(c): None for c in _CONTROL}


def bom_encoding(head: bytes) -> tuple[str, int] | None:
    """Return (codec, BOM length) when `head` starts with a Unicode byte-order mark."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name, len(bom)
    return None


def normalize_codec(label: str) -> str | None:
    """Map a charset label to a Python codec name (latin-1 and ASCII read as cp1252), or None."""
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except (LookupError, ValueError):
        return None
    if name.replace("-", "_") in _AS_CP1252:
        return FALLBACK
    return name


def _is_utf8(sample: bytes, complete: bool) -> bool:
    """Strict UTF-8 check; a multi-byte character cut by the sample's end is not an error."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        decoder.decode(sample, final=complete)
    except UnicodeDecodeError:
        return False
    return True


def guess_encoding(sample: bytes, complete: bool) -> str:
    """Pick a codec for a BOM-less sample: strict UTF-8, else charset-normalizer, else cp1252.

    `complete` says whether the sample is the whole file (then a cut-off character is an error).
    """
    if _is_utf8(sample, complete):
        return "utf-8"
    if not complete:
        # Drop a possibly cut multi-byte character so the detector sees clean input.
        sample = sample[: max(len(sample) - 4, 0)]
    name = _detector_choice(sample)
    return name if name is not None else FALLBACK


def _detector_choice(sample: bytes) -> str | None:
    """charset-normalizer's pick among plausible code pages, with ties broken towards cp1252.

    On short Western text several code pages decode equally well (it often ranks cp1250
    first); the most coherent of the least chaotic wins, and cp1252 wins a remaining tie.
    """
    results = list(from_bytes(sample, cp_exclusion=_UNLIKELY))
    if not results:
        return None
    least_chaos = min(match.chaos for match in results)
    candidates = [match for match in results if match.chaos <= least_chaos + 0.01]
    best_coherence = max(match.coherence for match in candidates)
    finalists = [match for match in candidates if match.coherence >= best_coherence - 0.01]
    for match in finalists:
        if any(normalize_codec(name) == FALLBACK for name in match.could_be_from_charset):
            return FALLBACK
    return normalize_codec(finalists[0].encoding)


def detect(head: bytes, complete: bool) -> tuple[str, int]:
    """Return (codec, bytes to skip) for a file starting with `head`: BOM, else `guess_encoding`."""
    found = bom_encoding(head)
    if found is not None:
        return found
    return guess_encoding(head, complete), 0


def control_share(text: str) -> float:
    """Share of characters in `text` that are control characters never seen in real text."""
    if not text:
        return 0.0
    return (len(text) - len(text.translate(_CONTROL_TABLE))) / len(text)


def looks_binary(raw: bytes, encoding: str) -> bool:
    """True when a sample is binary junk: NUL bytes (outside UTF-16/32) or >10 % control chars."""
    if b"\x00" in raw and not encoding.startswith(("utf-16", "utf-32")):
        return True
    text = raw.decode(encoding, errors="replace")
    return "\x00" in text or control_share(text) > 0.10


def read_head(path: Path, size: int = SAMPLE_BYTES) -> tuple[bytes, bool]:
    """Read up to `size` bytes from the start of a file; also say whether that is the whole file."""
    with path.open("rb") as fh:
        head = fh.read(size + 1)
    return head[:size], len(head) <= size


def open_text_sample(path: Path) -> tuple[str, int, bytes]:
    """Detect a text file's encoding; refuse empty and binary files. Returns (codec, skip, sample)."""
    head, complete = read_head(path)
    if not head:
        raise LoadError("empty file")
    encoding, skip = detect(head, complete)
    if looks_binary(head[skip:], encoding):
        raise LoadError("binary data, not text")
    return encoding, skip, head


def iter_decoded(path: Path, encoding: str, skip: int = 0) -> Iterator[str]:
    """Decode a file chunk by chunk with an incremental decoder (undecodable bytes become U+FFFD)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    with path.open("rb") as fh:
        if skip:
            fh.seek(skip)
        while chunk := fh.read(READ_BYTES):
            text = decoder.decode(chunk)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail


def iter_lines(chunks: Iterator[str], max_line: int | None = None) -> Iterator[str]:
    """Split decoded chunks into lines ending in LF (kept, so CR LF stays whole), as csv wants.

    Only LF splits: other Unicode line separators may sit inside a CSV field. With `max_line`,
    a longer line raises LoadError, so a file without line breaks cannot pile up in memory.
    """
    pending: list[str] = []
    pending_len = 0
    for chunk in chunks:
        last = chunk.rfind("\n")
        if last < 0:
            pending.append(chunk)
            pending_len += len(chunk)
            if max_line is not None and pending_len > max_line:
                raise LoadError(f"a line is longer than {max_line} characters")
            continue
        pending.append(chunk[: last + 1])
        lines = "".join(pending).split("\n")[:-1]
        pending = [chunk[last + 1 :]]
        pending_len = len(pending[0])
        for line in lines:
            if max_line is not None and len(line) > max_line:
                raise LoadError(f"a line is longer than {max_line} characters")
            yield line + "\n"
    tail = "".join(pending)
    if tail:
        yield tail


def iter_blocks(chunks: Iterator[str], target: int = 64 * 1024) -> Iterator[str]:
    """Regroup decoded chunks into blocks of about `target` chars, cut after a line break.

    Newlines are normalised to LF. A line longer than 4 x `target` is cut at a space or, if
    there is none, hard, so one huge line cannot hold the whole file in memory.
    """
    pending = ""
    for chunk in chunks:
        pending += chunk
        while len(pending) >= target:
            cut = pending.rfind("\n", 0, target) + 1
            if cut == 0:
                # No line break yet: take the whole long line, or cut it once it is huge.
                cut = pending.find("\n", target, target * 4) + 1
                if cut == 0:
                    if len(pending) < target * 4:
                        break
                    cut = pending.rfind(" ", 0, target * 4) + 1 or target * 4
                    if pending[cut - 1] == "\r":
                        cut -= 1
            block, pending = pending[:cut], pending[cut:]
            yield _newlines(block)
    if pending:
        yield _newlines(pending)


def _newlines(text: str) -> str:
    """Normalise CR LF and lone CR to LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")
