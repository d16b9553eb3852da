"""Retention: remove events older than the configured period, keeping the rest verifiable.

The removal and an `audit.purge` event that records the last removed seq and hash commit
in one transaction; that event anchors the first remaining event, so `audit verify` still
checks every link from there to the head.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import text

from appliance.actors import Actor
from appliance.audit import events as audit_events
from appliance.audit.log import AuditLog, Recorded
from appliance.audit.search import DAY_MS

_LAST_EXPIRED = text("SELECT seq, hash FROM audit_events WHERE ts_ms < :cutoff ORDER BY seq DESC LIMIT 1")


@dataclass(frozen=True)
class PurgeResult:
    """How many events were removed, up to which seq, and the audit event that records it."""

    purged: int
    through_seq: int | None
    event: Recorded


def purge_expired(log: AuditLog, retention_days: int, actor: Actor, now_ms: int | None = None) -> PurgeResult:
    """Delete every event up to the last one older than `retention_days`, and record the purge."""
    cutoff_ms = (now_ms if now_ms is not None else int(time.time() * 1000)) - retention_days * DAY_MS
    with log.appending() as writer:
        last = writer.conn.execute(_LAST_EXPIRED, {"cutoff": cutoff_ms}).first()
        purged = 0
        if last is not None:
            purged = writer.conn.execute(text("DELETE FROM audit_events WHERE seq <= :seq"), {"seq": last[0]}).rowcount
        event = writer.append(
            actor,
            audit_events.PURGE,
            None,
            {
                "retention_days": retention_days,
                "cutoff_ms": cutoff_ms,
                "purged": purged,
                "through_seq": last[0] if last else None,
                "through_hash": last[1] if last else None,
            },
        )
    return PurgeResult(purged, last[0] if last else None, event)
