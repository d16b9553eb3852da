"""The chain head kept outside the database: a signed checkpoint file, optionally mirrored.

Someone who can rewrite the database could cut events off its end and the chain would
still link. The checkpoint file (and its mirror on storage the appliance cannot rewrite:
a write-once folder or syslog) records the last sequence number and hash, signed with
the appliance key, so that `audit verify` notices the cut. Its limit: whoever holds the
signing key and both files can rewrite all of them; only a mirror out of their reach
defends against that.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from appliance.audit.chain import canonical_bytes, load_public_key, signature_valid
from appliance.audit.signing import Signer

SYSLOG = "syslog"


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the chain had `seq` events, the last with `hash`, at `ts_ms`."""

    seq: int
    hash: str
    ts_ms: int
    signature: str  # base64 Ed25519 over canonical_bytes(signed_fields)

    @property
    def signed_fields(self) -> dict[str, object]:
        return {"seq": self.seq, "hash": self.hash, "ts_ms": self.ts_ms}

    def valid_for(self, public_key_pem: bytes) -> bool:
        return signature_valid(
            load_public_key(public_key_pem), base64.b64decode(self.signature), canonical_bytes(self.signed_fields)
        )

    def to_json(self) -> dict[str, object]:
        return {**self.signed_fields, "signature": self.signature}


class CheckpointFile:
    """Advances the checkpoint after each write; never moves it backwards, across threads and processes."""

    def __init__(self, path: Path, signer: Signer, mirror: str | None = None) -> None:
        self.path = path
        self._signer = signer
        self._mirror = mirror
        self._lock_path = path.with_suffix(".lock")
        self._thread_lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)

    def read(self) -> Checkpoint | None:
        """The current checkpoint, or None when none was ever written."""
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)  # never a half-written file: writers hold LOCK_EX
            return self._read_unlocked()

    def _read_unlocked(self) -> Checkpoint | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        return Checkpoint(int(data["seq"]), str(data["hash"]), int(data["ts_ms"]), str(data["signature"]))

    def advance(self, seq: int, event_hash: str, ts_ms: int) -> None:
        """Sign and store (seq, hash) unless a later checkpoint is already there."""
        with self._thread_lock, open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                current = self._read_unlocked()
            except (ValueError, KeyError, TypeError):  # damaged: replaced; verify reports it until then
                current = None
            if current is not None and current.seq >= seq:
                return
            fields = {"seq": seq, "hash": event_hash, "ts_ms": ts_ms}
            signature = base64.b64encode(self._signer.sign(canonical_bytes(fields))).decode()
            line = json.dumps({**fields, "signature": signature}, sort_keys=True)
            # Rewritten in place under the lock: a rename per event cost most of record()'s time.
            data = (line + "\n").encode()
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))
            finally:
                os.close(fd)
            self._copy_out(line)

    def _copy_out(self, line: str) -> None:
        if not self._mirror:
            return
        if self._mirror == SYSLOG:
            import syslog

            syslog.openlog("appliance-audit", 0, syslog.LOG_AUTHPRIV)
            syslog.syslog(syslog.LOG_NOTICE, f"audit checkpoint {line}")
            return
        fd = os.open(self._mirror, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
