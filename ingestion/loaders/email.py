"""E-mail messages (.eml): key headers, the readable body, and a list of attachments not ingested."""

from __future__ import annotations

import email.policy
from collections.abc import Iterator
from email.message import EmailMessage, Message
from email.parser import BytesParser
from pathlib import Path

from ingestion.loaders.base import LoadError, LoadLimits, LoadNotes, Segment
from ingestion.loaders.encoding import guess_encoding, normalize_codec
from ingestion.loaders.html import html_to_text

BLOCK_CHARS = 20_000
_SHOWN_HEADERS = ("From", "To", "Cc", "Date", "Subject")
# At least one of these must be present for a file to count as a message.
_MESSAGE_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version", "received"}
    | {"return-path", "delivered-to", "reply-to", "sender", "content-type", "x-mailer"}
)
_MAX_PARTS = 10_000


def _reason(exc: BaseException) -> str:
    """A short one-line reason from an exception."""
    return (" ".join(str(exc).split()) or type(exc).__name__)[:120]


def _header(msg: Message, name: str) -> str:
    """A header as readable one-line text; raw 8-bit values (not RFC 2047) are read as cp1252."""
    try:
        value = str(msg[name] or "")
    except Exception:  # noqa: BLE001 - a malformed header falls back to its raw text
        value = "\ufffd"
    if "\ufffd" in value:
        raw = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), "")  # type: ignore[attr-defined]
        value = str(raw).encode("ascii", "surrogateescape").decode("cp1252", "replace")
    return " ".join(value.split())


def _decode_part(part: Message) -> str:
    """A text part's payload as str: declared charset if it decodes cleanly, else detected."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes) or not payload:
        return ""
    declared = part.get_content_charset()
    codec = normalize_codec(declared) if declared else None
    if codec is not None:
        try:
            return payload.decode(codec)
        except UnicodeDecodeError:
            pass
    return payload.decode(guess_encoding(payload[: 64 * 1024], len(payload) <= 64 * 1024), "replace")


def _unflow(text: str, delsp: bool) -> str:
    """Join the soft line breaks of a format=flowed text part (RFC 3676)."""
    out: list[str] = []
    pending = ""
    for line in text.split("\n"):
        if line.startswith(" "):
            line = line[1:]  # space-stuffing
        if line.endswith(" ") and line != "-- ":
            pending += line[:-1] if delsp else line
        else:
            out.append(pending + line)
            pending = ""
    if pending:
        out.append(pending)
    return "\n".join(out)


def _body_text(part: Message) -> str:
    """The readable text of the chosen body part (HTML reduced to visible text)."""
    text = _decode_part(part).replace("\r\n", "\n").replace("\r", "\n")
    if part.get_content_subtype() == "html":
        return html_to_text(text)
    if str(part.get_param("format", "")).lower() == "flowed":
        text = _unflow(text, str(part.get_param("delsp", "")).lower() == "yes")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def _size(size: int) -> str:
    """Bytes as `N bytes`, `N KB` or `N.N MB`."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{round(size / 1024)} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _describe(part: Message) -> str:
    """`name (type, size)` for an attachment."""
    try:
        name = part.get_filename() or "(unnamed)"
    except Exception:  # noqa: BLE001 - a broken filename parameter still lists the attachment
        name = "(unnamed)"
    ctype = part.get_content_type()
    try:
        if part.is_multipart():
            size = len(part.as_bytes())
        else:
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else 0
    except Exception:  # noqa: BLE001 - size is a courtesy; a bad payload must not fail the mail
        return f"{' '.join(name.split())} ({ctype})"
    return f"{' '.join(name.split())} ({ctype}, {_size(size)})"


def _attachments(msg: Message, body: Message | None) -> list[str]:
    """Every leaf part that is not the body or its alternative text/HTML version."""
    found: list[str] = []
    stack: list[Message] = [msg]
    seen = 0
    while stack:
        part = stack.pop()
        seen += 1
        if seen > _MAX_PARTS:
            raise LoadError(f"e-mail has more than {_MAX_PARTS} MIME parts")
        if part is body:
            continue
        ctype = part.get_content_type()
        named = part.get_content_disposition() == "attachment" or bool(part.get_param("name"))
        if ctype == "message/rfc822" or (named and not part.is_multipart()):
            found.append(_describe(part))
        elif part.is_multipart():
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(child for child in reversed(children) if isinstance(child, Message))
        elif ctype not in ("text/plain", "text/html") or _has_filename(part):
            found.append(_describe(part))
    return found


def _has_filename(part: Message) -> bool:
    """True when a part carries a filename (then it is an attachment even if it is text)."""
    try:
        return bool(part.get_filename())
    except Exception:  # noqa: BLE001
        return False


class EmailLoader:
    """Loads RFC 822 messages; attachments are listed, not ingested."""

    kind: str = "email"
    extensions: tuple[str, ...] = (".eml",)

    def load(self, path: Path, limits: LoadLimits, notes: LoadNotes) -> Iterator[Segment]:
        """Yield the headers, the body, and the list of attachments."""
        size = path.stat().st_size
        if size == 0:
            raise LoadError("empty file")
        if size > limits.max_uncompressed_bytes:
            raise LoadError(f"e-mail too large: {size} bytes (limit {limits.max_uncompressed_bytes})")
        try:
            with path.open("rb") as fh:
                msg = BytesParser(policy=email.policy.default).parse(fh)
        except Exception as exc:
            raise LoadError(f"corrupt e-mail: {_reason(exc)}") from exc
        if not any(name.lower() in _MESSAGE_HEADERS for name in msg.keys()):
            raise LoadError("not an e-mail message (no headers)")

        lines = [f"{name}: {value}" for name in _SHOWN_HEADERS if (value := _header(msg, name))]
        if lines:
            yield Segment(text="\n".join(lines), label="headers")

        try:
            body = msg.get_body(preferencelist=("plain", "html")) if isinstance(msg, EmailMessage) else None
            text = _body_text(body) if body is not None else ""
            attachments = _attachments(msg, body)
        except LoadError:
            raise
        except Exception as exc:
            raise LoadError(f"corrupt e-mail: {_reason(exc)}") from exc

        yield from _body_segments(text)
        if attachments:
            notes.attachments.extend(attachments)
            yield Segment(text="Attachments (not ingested): " + ", ".join(attachments), label="attachments")


def _body_segments(text: str) -> Iterator[Segment]:
    """The body in blocks of up to BLOCK_CHARS, cut at line ends."""
    block: list[str] = []
    size = 0
    for line in text.split("\n"):
        if block and size + len(line) > BLOCK_CHARS:
            yield Segment(text="\n".join(block).strip("\n"), label="body")
            block, size = [], 0
        block.append(line)
        size += len(line) + 1
    rest = "\n".join(block).strip("\n")
    if rest:
        yield Segment(text=rest, label="body")
