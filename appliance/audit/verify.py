"""`appliance audit verify`: the chain in the database, checked against the signed checkpoints.

The chain alone shows edits, deletions, insertions and reordering; the checkpoint (and
its mirror) shows events cut off at the end, which the chain alone cannot. After a
retention purge, the `audit.purge` event that accounts for the missing start must lie
within a signed checkpoint: anyone who can write the database could otherwise delete
the oldest events and append a forged purge event.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from appliance.audit.chain import PURGE_ACTION, ChainReport, check_events
from appliance.audit.checkpoint import SYSLOG, Checkpoint
from appliance.audit.log import AuditLog


@dataclass
class VerifyResult:
    """The chain report plus what the checkpoints said, and how long it took."""

    chain: ChainReport
    checkpoint: Checkpoint | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.chain.ok

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "events": self.chain.events,
            "first_seq": self.chain.first_seq,
            "last_seq": self.chain.last_seq,
            "head_hash": self.chain.head_hash,
            "checkpoint_seq": self.checkpoint.seq if self.checkpoint else None,
            "problem": self.chain.problem,
            "first_bad_seq": self.chain.bad_seq,
            "seconds": round(self.seconds, 3),
        }


def verify_log(log: AuditLog, mirror: str | None = None) -> VerifyResult:
    """Check every event's hash and link, then that the chain reaches the latest signed checkpoint."""
    started = time.perf_counter()
    for attempt in (1, 2):
        checkpoint, problem = _latest_checkpoint(log, mirror)  # before the events: writers advance it after commit
        chain = check_events(log.events(parse=False))
        if problem:
            chain.fail(None, problem)
        if chain.ok and checkpoint is not None:
            _compare_with_checkpoint(log, chain, checkpoint)
        elif chain.ok and chain.events:
            chain.fail(None, f"no signed checkpoint at {log.checkpoints.path}: the end of the chain cannot be checked")
        if chain.ok and chain.anchor_seq is not None and (checkpoint is None or chain.anchor_seq > checkpoint.seq):
            newer, _ = _latest_checkpoint(log, mirror)
            if attempt == 1 and newer is not None and (checkpoint is None or newer.seq > checkpoint.seq):
                continue  # a purge committed while we read: its checkpoint is there now, look again
            chain.fail(
                chain.anchor_seq,
                f"the {PURGE_ACTION} event {chain.anchor_seq} that accounts for the events before "
                f"{chain.first_seq} is not covered by a signed checkpoint: it may be forged to hide "
                "deleted events (after a crash right after a purge, the next recorded event re-signs the head)",
            )
        break
    return VerifyResult(chain, checkpoint, time.perf_counter() - started)


def _latest_checkpoint(log: AuditLog, mirror: str | None) -> tuple[Checkpoint | None, str | None]:
    """The highest validly signed checkpoint among the file and its mirror, and any invalid signature found."""
    public_pem = log.signer.public_key_pem
    try:
        candidates = [("checkpoint file", log.checkpoints.read())]
        if mirror and mirror != SYSLOG:
            candidates.append(("checkpoint copy", _last_mirrored(Path(mirror))))
    except (ValueError, KeyError, TypeError) as error:
        return None, f"a checkpoint is unreadable ({error}): it was altered"
    best: Checkpoint | None = None
    problem = None
    for where, checkpoint in candidates:
        if checkpoint is None:
            continue
        if not checkpoint.valid_for(public_pem):
            problem = problem or f"the {where} signature is not valid: it was altered or signed with another key"
            continue
        if best is None or checkpoint.seq > best.seq:
            best = checkpoint
    return best, problem


def _compare_with_checkpoint(log: AuditLog, chain: ChainReport, checkpoint: Checkpoint) -> None:
    last = chain.last_seq or 0
    if checkpoint.seq > last:
        chain.fail(
            last + 1,
            f"events {last + 1}..{checkpoint.seq} are missing: the signed checkpoint says the chain "
            f"reached {checkpoint.seq} (cut off at the end)",
        )
        return
    rows = list(log.events("seq = :seq", {"seq": checkpoint.seq}))
    if rows and rows[0]["hash"] != checkpoint.hash:
        chain.fail(
            checkpoint.seq, f"event {checkpoint.seq} differs from the signed checkpoint (the chain was rewritten)"
        )
    elif not rows and checkpoint.seq >= (chain.first_seq or 1):
        chain.fail(checkpoint.seq, f"event {checkpoint.seq} named by the signed checkpoint is missing")


def _last_mirrored(path: Path) -> Checkpoint | None:
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return None
    if not lines:
        return None
    data = json.loads(lines[-1])
    return Checkpoint(int(data["seq"]), str(data["hash"]), int(data["ts_ms"]), str(data["signature"]))
