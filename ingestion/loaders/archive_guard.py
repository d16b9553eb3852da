"""Zip-bomb guard for the ZIP-based formats (DOCX, XLSX), run before any library unpacks them.

Declared sizes can lie. Python's zipfile cuts a member's output at its declared size, but
only after `read()` has inflated all of it in one call, which is what python-docx and
openpyxl do. So the guard checks the declared sizes first, then inflates every member
itself in 1 MiB steps and refuses the file as soon as one yields more than it declares.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

from ingestion.loaders.base import LoadError, LoadLimits

# More members than any real office document has; parsing a huge central directory is itself costly.
MAX_MEMBERS = 10_000
# Small members may compress extremely well (runs of spaces); only judge the ratio above this.
RATIO_MIN_BYTES = 1024 * 1024
_OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., name length, extra length
_STEP = 1024 * 1024


def _mb(size: int) -> str:
    """Bytes as a short human size."""
    return f"{size / (1024 * 1024):.1f} MB"


def check_archive(path: Path, limits: LoadLimits, kind: str) -> list[str]:
    """Refuse non-zip files and zip bombs; return the member names. `kind` is e.g. "DOCX"."""
    with path.open("rb") as fh:
        head = fh.read(len(_OLE2_SIGNATURE))
    if not head:
        raise LoadError("empty file")
    if head == _OLE2_SIGNATURE:
        raise LoadError(f"not a valid {kind} (an OLE2 file: a legacy Office format or a password-protected document)")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise LoadError(f"not a valid {kind} (not a zip archive)") from exc
    except NotImplementedError as exc:  # e.g. "zip file version 6.4", multi-disk archives
        raise LoadError(f"not a valid {kind} (unsupported zip archive: {exc})") from exc
    if len(infos) > MAX_MEMBERS:
        raise LoadError(f"suspicious {kind}: {len(infos)} archive members (limit {MAX_MEMBERS})")

    total = sum(info.file_size for info in infos)
    if total > limits.max_uncompressed_bytes:
        raise LoadError(
            f"suspicious {kind} (zip bomb?): {_mb(total)} uncompressed, "
            f"over the {_mb(limits.max_uncompressed_bytes)} limit"
        )
    packed = max(path.stat().st_size, 1)
    if total > RATIO_MIN_BYTES and total / packed > limits.max_compression_ratio:
        raise LoadError(
            f"suspicious {kind} (zip bomb?): {_mb(packed)} unpacks to {_mb(total)}, "
            f"ratio {total / packed:.0f} > {limits.max_compression_ratio:.0f}"
        )
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_MIN_BYTES and ratio > limits.max_compression_ratio:
            raise LoadError(
                f"suspicious {kind} (zip bomb?): member {info.filename!r} "
                f"{_mb(info.compress_size)} unpacks to {_mb(info.file_size)}, ratio {ratio:.0f}"
                f" > {limits.max_compression_ratio:.0f}"
            )
    with path.open("rb") as fh:
        for info in infos:
            try:
                _check_member(fh, info, kind)
            except (OSError, ValueError, OverflowError) as exc:  # offsets pointing nowhere
                raise LoadError(f"corrupt {kind}: damaged zip entry {info.filename!r}") from exc
    return [info.filename for info in infos]


def _check_member(fh: BinaryIO, info: zipfile.ZipInfo, kind: str) -> None:
    """Inflate one member in bounded steps; refuse it if it yields more than it declares."""
    if info.flag_bits & 0x1:
        raise LoadError(f"not a valid {kind} (encrypted zip member {info.filename!r})")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise LoadError(f"not a valid {kind} (unsupported compression in {info.filename!r})")
    if info.compress_type == zipfile.ZIP_STORED:
        return  # zipfile reads at most the declared size
    fh.seek(info.header_offset)
    header = fh.read(_LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size:
        raise LoadError(f"corrupt {kind}: truncated archive")
    signature, name_len, extra_len = _LOCAL_HEADER.unpack(header)
    if signature != b"PK\x03\x04":
        raise LoadError(f"corrupt {kind}: bad zip entry {info.filename!r}")
    fh.seek(info.header_offset + _LOCAL_HEADER.size + name_len + extra_len)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    left, produced = info.compress_size, 0
    try:
        while left > 0:
            data = fh.read(min(_STEP, left))
            if not data:
                break
            left -= len(data)
            while data:
                produced += len(inflater.decompress(data, _STEP))
                data = inflater.unconsumed_tail
                if produced > info.file_size:
                    raise LoadError(
                        f"suspicious {kind} (zip bomb?): member {info.filename!r} unpacks to more"
                        f" than its declared {info.file_size} bytes"
                    )
    except zlib.error as exc:
        raise LoadError(f"corrupt {kind}: damaged zip member {info.filename!r}") from exc
