#!/usr/bin/env python3
"""Check an audit hash chain or a signed export bundle: the canonical form, defined once.

This module needs only the Python standard library and `cryptography`, so that an outside
examiner can run it on their own machine without the appliance:

    python verify_bundle.py BUNDLE.zip --public-key appliance-audit.pem

(`deploy/verify_bundle.py` is this file.) The appliance uses the same functions for
`appliance audit verify` and `appliance audit verify-export`.

Canonical form (what every hash and signature covers):
- UTF-8 bytes of JSON with keys sorted, separators "," and ":", no whitespace, and
  non-ASCII characters written as themselves (no \\u escapes);
- numbers are integers only, within +-(2**53 - 1) (timestamps are UTC milliseconds
  since the epoch); the appliance records any other number (a float, a larger integer)
  as a string, so no float formatting is involved;
- with integers only and ASCII keys this is exactly RFC 8785 (JSON Canonicalization
  Scheme), so any JCS implementation reproduces it.

An event's hash is the lower-case hex SHA-256 of the canonical form of its fields
seq, ts_ms, actor, role, action, subject, details and prev_hash. The first event's
prev_hash is 64 zeros. When old events are purged under the retention policy, an
`audit.purge` event later in the chain records the last purged seq and hash, which
anchors the first remaining event. Anyone who can write the database can append a
well-hashed event, so `appliance audit verify` accepts that anchor only when a signed
checkpoint covers the purge event (`ChainReport.anchor_seq`).

A bundle is a zip of events.jsonl, events.csv, chain.jsonl (seq, prev_hash and hash of
every event from the first exported one to the chain head, so that filtered-out events
still show in the chain), public_key.pem and manifest.json (sha256 of each file, the
event range, the chain head), plus manifest.sig: the Ed25519 signature of the bytes of
manifest.json, base64. Format 2 adds attachments: files carried beside an exported event (a
tabular decision's waterfall plot) at attachments/SEQ/NAME, each hashed in the manifest's
"files" and mapped to its event in "attachments". Every member of a bundle must be listed in
the signed manifest, so nothing unchecked can ride along.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS_HASH = "0" * 64
HASHED_FIELDS = ("seq", "ts_ms", "actor", "role", "action", "subject", "details", "prev_hash")
PURGE_ACTION = "audit.purge"
BUNDLE_FORMAT = "appliance-audit-bundle/2"
READABLE_FORMATS = ("appliance-audit-bundle/1", BUNDLE_FORMAT)  # 2 adds attachments
BUNDLE_FILES = ("events.jsonl", "events.csv", "chain.jsonl", "public_key.pem")
SIGNATURE_FILES = ("manifest.json", "manifest.sig")
MAX_MEMBER_BYTES = 4 << 30  # a bundle is untrusted input: refuse absurd members


def canonical_bytes(value: Any) -> bytes:
    """The canonical JSON encoding of `value` (see the module docstring)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def event_hash(event: Mapping[str, Any]) -> str:
    """SHA-256 over the canonical form of an event's hashed fields."""
    return hashlib.sha256(canonical_bytes({name: event[name] for name in HASHED_FIELDS})).hexdigest()


def stored_event_hash(event: Mapping[str, Any]) -> str:
    """The same hash from an event whose details are the stored canonical JSON text (`details_text`).

    Splicing the stored text into the canonical form skips parsing and re-encoding it (twice
    as fast over a large log). It is never more lenient: details text that is not canonical
    changes the bytes, so the hash no longer matches.
    """

    def text(value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False).encode()

    canonical = b"".join(
        (
            b'{"action":', text(event["action"]),
            b',"actor":', text(event["actor"]),
            b',"details":', event["details_text"].encode(),
            b',"prev_hash":', text(event["prev_hash"]),
            b',"role":', text(event["role"]),
            b',"seq":', str(int(event["seq"])).encode(),
            b',"subject":', text(event["subject"]),
            b',"ts_ms":', str(int(event["ts_ms"])).encode(),
            b"}",
        )
    )  # fmt: skip
    return hashlib.sha256(canonical).hexdigest()


@dataclass
class ChainReport:
    """What a chain check found: the first problem (if any) and the range it covered."""

    events: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_hash: str | None = None
    problem: str | None = None
    bad_seq: int | None = None
    anchor_seq: int | None = None  # the purge event that accounts for events before first_seq
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def fail(self, seq: int | None, problem: str) -> ChainReport:
        if self.problem is None:
            self.problem, self.bad_seq = problem, seq
        return self


def check_events(events: Iterable[Mapping[str, Any]], *, start_anchored: bool = False) -> ChainReport:
    """Check hashes and links of events given in seq order (`details` as an object, or `details_text`).

    The first event must be seq 1 with the genesis prev_hash, or be anchored by a later
    purge event (or `start_anchored`, when the caller checked the start otherwise).
    """
    report = ChainReport()
    previous: Mapping[str, Any] | None = None
    anchor: tuple[int, str] | None = None
    anchored = start_anchored
    for event in events:
        seq = event["seq"]
        if previous is None:
            report.first_seq = seq
            if seq == 1 and event["prev_hash"] == GENESIS_HASH:
                anchored = True
            else:
                anchor = (seq - 1, event["prev_hash"])
        else:
            if seq != previous["seq"] + 1:
                if seq > previous["seq"] + 1:
                    return report.fail(previous["seq"] + 1, f"events {previous['seq'] + 1}..{seq - 1} are missing")
                return report.fail(seq, f"event {seq} is out of order after event {previous['seq']}")
            if event["prev_hash"] != previous["hash"]:
                return report.fail(
                    seq, f"event {seq} does not link to event {previous['seq']} (altered, inserted or reordered)"
                )
        computed = stored_event_hash(event) if "details_text" in event else event_hash(event)
        if computed != event["hash"]:
            return report.fail(seq, f"event {seq} was altered: its hash does not match its content")
        if event["action"] == PURGE_ACTION and anchor is not None and report.anchor_seq is None:
            details = event["details"] if "details" in event else json.loads(event["details_text"])
            details = details if isinstance(details, Mapping) else {}
            if (details.get("through_seq"), details.get("through_hash")) == anchor:
                anchored = True
                report.anchor_seq = seq
        report.events += 1
        report.last_seq, report.head_hash = seq, event["hash"]
        previous = event
    if report.first_seq is not None and not anchored:
        return report.fail(
            report.first_seq,
            f"events before {report.first_seq} are missing and no {PURGE_ACTION} event records their removal",
        )
    return report


def check_links(links: Iterable[Mapping[str, Any]]) -> ChainReport:
    """Check a chain skeleton (seq, prev_hash, hash per event): contiguous and linked."""
    report = ChainReport()
    previous: Mapping[str, Any] | None = None
    for link in links:
        if previous is None:
            report.first_seq = link["seq"]
        elif link["seq"] != previous["seq"] + 1:
            return report.fail(link["seq"], f"chain skips from {previous['seq']} to {link['seq']}")
        elif link["prev_hash"] != previous["hash"]:
            return report.fail(link["seq"], f"chain entry {link['seq']} does not link to {previous['seq']}")
        report.events += 1
        report.last_seq, report.head_hash = link["seq"], link["hash"]
        previous = link
    return report


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM, with a clear error for anything else."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as error:
        raise ValueError(f"not a PEM public key ({error})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def signature_valid(public_key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def key_fingerprint(pem: bytes) -> str:
    """SHA-256 of the raw public key, shortened: for people comparing keys by eye."""
    raw = load_public_key(pem).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass
class BundleReport:
    """The outcome of checking a bundle; `problem` names the first failure."""

    manifest: dict[str, Any] = field(default_factory=dict)
    events: int = 0
    attachments: int = 0
    key_source: str = ""
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_bundle(path: str, public_key_pem: bytes | None = None) -> BundleReport:
    """Check a bundle's signature, file hashes, every event hash and the chain up to its head."""
    report = BundleReport()
    try:
        with zipfile.ZipFile(path) as bundle:
            _verify_open_bundle(bundle, public_key_pem, report)
    except (
        zipfile.BadZipFile,
        zlib.error,  # a damaged deflate stream fails before the CRC check can
        EOFError,
        NotImplementedError,  # an unknown compression method
        RuntimeError,  # an encrypted member
        OSError,
        KeyError,
        ValueError,
        UnicodeDecodeError,
    ) as error:
        report.problem = report.problem or f"{path}: unreadable bundle ({error})"
    return report


def _verify_open_bundle(bundle: zipfile.ZipFile, public_key_pem: bytes | None, report: BundleReport) -> None:
    for info in bundle.infolist():
        if info.file_size > MAX_MEMBER_BYTES:
            raise ValueError(f"member {info.filename} is too large")
    manifest_bytes = bundle.read("manifest.json")
    signature = base64.b64decode(bundle.read("manifest.sig"), validate=True)
    bundled_pem = bundle.read("public_key.pem")
    report.key_source = "given key" if public_key_pem is not None else "key inside the bundle (not independent)"
    key = load_public_key(public_key_pem if public_key_pem is not None else bundled_pem)
    if not signature_valid(key, signature, manifest_bytes):
        report.problem = f"the manifest signature is not valid for the {report.key_source}"
        return
    manifest = json.loads(manifest_bytes)
    report.manifest = manifest
    if manifest.get("format") not in READABLE_FORMATS:
        report.problem = f"unknown bundle format {manifest.get('format')!r}"
        return
    files: dict[str, str] = manifest["files"]
    if len(set(bundle.namelist())) != len(bundle.namelist()):
        report.problem = "the bundle holds two members with the same name"
        return
    members = set(bundle.namelist())
    unlisted = sorted(members - set(files) - set(SIGNATURE_FILES))
    if unlisted:
        report.problem = f"{unlisted[0]} is not listed in the signed manifest"
        return
    for name in sorted({*BUNDLE_FILES, *files}):
        if name not in members:
            report.problem = f"{name} is listed in the signed manifest but missing from the bundle"
            return
        actual = hashlib.sha256(bundle.read(name)).hexdigest()
        if actual != files.get(name):
            report.problem = f"{name} does not match the sha256 in the signed manifest"
            return
    links = [json.loads(line) for line in _lines(bundle, "chain.jsonl")]
    chain = check_links(links)
    if not chain.ok:
        report.problem = chain.problem
        return
    head = manifest["chain"]
    if links and (chain.last_seq, chain.head_hash) != (head["head_seq"], head["head_hash"]):
        report.problem = "chain.jsonl does not end at the chain head in the manifest"
        return
    by_seq = {link["seq"]: link for link in links}
    count = 0
    exported: set[int] = set()
    for line in _lines(bundle, "events.jsonl"):
        event = json.loads(line)
        seq = event["seq"]
        if event_hash(event) != event["hash"]:
            report.problem = f"event {seq} was altered: its hash does not match its content"
            return
        link = by_seq.get(seq)
        if link is None or (link["prev_hash"], link["hash"]) != (event["prev_hash"], event["hash"]):
            report.problem = f"event {seq} is not part of the bundle's chain"
            return
        count += 1
        exported.add(seq)
    if count != manifest["events"]["count"]:
        report.problem = f"the manifest announces {manifest['events']['count']} events, the bundle holds {count}"
        return
    attachments: dict[str, int] = manifest.get("attachments", {})
    for name, seq in sorted(attachments.items()):
        if name not in files or seq not in exported:
            report.problem = f"attachment {name} does not belong to an exported event"
            return
    report.events = count
    report.attachments = len(attachments)


def _lines(bundle: zipfile.ZipFile, name: str) -> Iterator[str]:
    with bundle.open(name) as handle:
        for raw in handle:
            line = raw.decode("utf-8").strip()
            if line:
                yield line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify an appliance audit export bundle.")
    parser.add_argument("bundle", help="the .zip bundle")
    parser.add_argument("--public-key", help="the appliance's public key (PEM), obtained separately")
    args = parser.parse_args(argv)
    pem = None
    if args.public_key:
        with open(args.public_key, "rb") as handle:
            pem = handle.read()
    report = verify_bundle(args.bundle, pem)
    if not report.ok:
        print(f"FAILED: {args.bundle}: {report.problem}")
        return 1
    events, chain = report.manifest["events"], report.manifest["chain"]
    print(
        f"OK: {args.bundle}: signature valid ({report.key_source}), file hashes match, "
        f"{report.events} events (seq {events['first_seq']}..{events['last_seq']}) hash-checked, "
        f"{report.attachments} attachments hash-checked, "
        f"chain linked from seq {chain['first_seq']} to head {chain['head_seq']} {chain['head_hash'][:16]}"
    )
    if pem is None:
        print(
            "WARNING: checked against the key inside the bundle; pass --public-key with a key you obtained separately"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
