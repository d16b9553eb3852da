"""Signed compliance export: one zip bundle an outside examiner can check on their own.

The bundle layout and the canonical form are described in audit_chain.py, which is also
the examiner's standalone verifier (`deploy/verify_bundle.py`). The bundle is written to
a temporary file and renamed into place, so a failed export leaves nothing behind; the
export is itself audited, with the bundle's sha256.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from appliance.actors import Actor
from appliance.audit import events as audit_events
from appliance.audit.chain import BUNDLE_FORMAT, canonical_bytes
from appliance.audit.log import AuditLog
from appliance.audit.search import AuditFilter, iso_time
from appliance.file_digest import file_sha256

CSV_COLUMNS = ("seq", "ts_ms", "time_utc", "actor", "role", "action", "subject", "details", "prev_hash", "hash")
CANONICAL_FORM = (
    "UTF-8 JSON, keys sorted, separators ',' and ':', no whitespace, non-ASCII as itself, integers only "
    "(RFC 8785 JCS); event hash = sha256 of the canonical form of "
    "{seq, ts_ms, actor, role, action, subject, details, prev_hash}; genesis prev_hash = 64 zeros"
)
ATTACHMENTS_FOLDER = "attachments"
# Files to carry beside an exported event (a tabular decision's waterfall): (name, bytes) pairs.
Attachments = Callable[[Mapping[str, Any]], list[tuple[str, bytes]]]


@dataclass(frozen=True)
class ExportSummary:
    """What went into a bundle."""

    path: Path
    events: int
    first_seq: int | None
    last_seq: int | None
    head_seq: int | None
    sha256: str
    attachments: int = 0


def export_bundle(
    log: AuditLog, out: Path, selection: AuditFilter, actor: Actor, attachments: Attachments | None = None
) -> ExportSummary:
    """Write the selected events, the chain up to the head, any attachments and a signed manifest to `out`.

    `attachments` gives the files to carry beside an event (the caller chooses: the audit log
    knows no plotting); each lands at attachments/SEQ/NAME, hashed in the signed manifest.
    """
    head = log.head()
    head_seq = head.seq if head else 0
    where, params = selection.sql()
    where = " AND ".join(part for part in (where, "seq <= :head_seq") if part)
    params["head_seq"] = head_seq
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        summary = _write_bundle(log, temporary, where, params, head_seq, selection, attachments)
        os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)
    digest = file_sha256(out)
    log.record(
        actor,
        audit_events.EXPORT,
        subject=out.name,
        details={"filters": _filters_json(selection), **summary, "bundle_sha256": digest},
    )
    return ExportSummary(
        out,
        summary["events"],
        summary["first_seq"],
        summary["last_seq"],
        head_seq or None,
        digest,
        summary["attachments"],
    )


def _write_bundle(
    log: AuditLog,
    path: Path,
    where: str,
    params: dict[str, Any],
    head_seq: int,
    selection: AuditFilter,
    attachments: Attachments | None,
) -> dict[str, Any]:
    hashes: dict[str, str] = {}
    count, first, last = 0, None, None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        with _hashed_member(bundle, "events.jsonl", hashes) as member:
            for event in log.events(where, params):
                member.write(canonical_bytes(event) + b"\n")
                count, first, last = count + 1, first or event["seq"], event["seq"]
        with _hashed_member(bundle, "events.csv", hashes) as member:
            text = io.TextIOWrapper(cast(BinaryIO, member), encoding="utf-8", newline="")
            writer = csv.writer(text)
            writer.writerow(CSV_COLUMNS)
            for event in log.events(where, params):
                details = canonical_bytes(event["details"]).decode()
                writer.writerow([*_csv_head(event), details, event["prev_hash"], event["hash"]])
            text.flush()
            text.detach()
        chain_from = first if first is not None else head_seq
        with _hashed_member(bundle, "chain.jsonl", hashes) as member:
            for event in log.events("seq >= :a AND seq <= :b", {"a": chain_from, "b": head_seq}):
                member.write(canonical_bytes({k: event[k] for k in ("seq", "prev_hash", "hash")}) + b"\n")
        with _hashed_member(bundle, "public_key.pem", hashes) as member:
            member.write(log.signer.public_key_pem)
        attached: dict[str, int] = {}
        attach = attachments or _no_attachments
        for event in log.events(where, params) if attachments is not None else ():
            for name, data in attach(event):
                member_name = f"{ATTACHMENTS_FOLDER}/{event['seq']}/{name}"
                with _hashed_member(bundle, member_name, hashes) as member:
                    member.write(data)
                attached[member_name] = event["seq"]
        head_hash = next(iter(log.events("seq = :s", {"s": head_seq})), {}).get("hash")
        summary = {"events": count, "first_seq": first, "last_seq": last, "attachments": len(attached)}
        manifest = {
            "format": BUNDLE_FORMAT,
            "created_ms": int(time.time() * 1000),
            "filters": _filters_json(selection),
            "events": {"count": count, "first_seq": first, "last_seq": last},
            "chain": {"first_seq": chain_from if head_seq else None, "head_seq": head_seq, "head_hash": head_hash},
            "files": hashes,
            "attachments": attached,
            "canonical_form": CANONICAL_FORM,
        }
        manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
        bundle.writestr("manifest.json", manifest_bytes)
        bundle.writestr("manifest.sig", base64.b64encode(log.signer.sign(manifest_bytes)))
        raw.flush()
        os.fsync(raw.fileno())
    return summary


class _hashed_member:
    """A zip member opened for writing whose sha256 lands in `hashes` when it closes."""

    def __init__(self, bundle: zipfile.ZipFile, name: str, hashes: dict[str, str]) -> None:
        self._bundle, self._name, self._hashes = bundle, name, hashes
        self._digest = hashlib.sha256()

    def __enter__(self) -> _HashingWriter:
        info = zipfile.ZipInfo(self._name, date_time=time.gmtime()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        self._member = self._bundle.open(info, "w", force_zip64=True)
        return _HashingWriter(self._member, self._digest)

    def __exit__(self, *exc: object) -> None:
        self._member.close()
        self._hashes[self._name] = self._digest.hexdigest()


class _HashingWriter(io.RawIOBase):
    def __init__(self, member: Any, digest: Any) -> None:
        self._member, self._digest = member, digest

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._digest.update(data)
        self._member.write(data)
        return len(data)


def _no_attachments(_event: Mapping[str, Any]) -> list[tuple[str, bytes]]:
    return []


def _csv_head(event: dict[str, Any]) -> list[Any]:
    return [
        event["seq"],
        event["ts_ms"],
        iso_time(event["ts_ms"]),
        event["actor"],
        event["role"],
        event["action"],
        event["subject"] or "",
    ]


def _filters_json(selection: AuditFilter) -> dict[str, Any]:
    return {k: v for k, v in selection.__dict__.items() if v is not None}
