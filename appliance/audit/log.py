"""The audit log: one `record()` per action, appended to a hash chain in the appliance database.

Writers serialise on the database's write lock (SQLite BEGIN IMMEDIATE, a PostgreSQL table
lock), read the chain head and append the next event inside that one transaction, so
threads and processes writing at once can neither lose an event nor fork the chain.
Callers pass data that is already redacted; the log stores what it is given.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from appliance.actors import Actor
from appliance.audit.chain import GENESIS_HASH, canonical_bytes, event_hash
from appliance.audit.checkpoint import CheckpointFile
from appliance.audit.signing import Signer, load_or_create_signer
from appliance.db.engine import is_sqlite, open_engine, reading, sqlite_url, writing
from appliance.db.migrations import migrate
from appliance.settings import Settings

EVENT_COLUMNS = "seq, ts_ms, actor, role, action, subject, details, prev_hash, hash"
_EVENT_FIELDS = ("seq", "ts_ms", "actor", "role", "action", "subject", "details_text", "prev_hash", "hash")
_INSERT = text(
    "INSERT INTO audit_events (seq, ts_ms, actor, role, action, subject, details, prev_hash, hash) "
    "VALUES (:seq, :ts_ms, :actor, :role, :action, :subject, :details, :prev_hash, :hash)"
)
_HEAD = text("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")


@dataclass(frozen=True)
class Recorded:
    """Where an event landed in the chain."""

    seq: int
    hash: str


class AuditLog:
    """Append-only, hash-chained events; safe for many threads and processes."""

    def __init__(self, engine: Engine, signer: Signer, checkpoints: CheckpointFile) -> None:
        self.engine = engine
        self.signer = signer
        self.checkpoints = checkpoints

    def record(
        self, actor: Actor, action: str, *, subject: str | None = None, details: Mapping[str, Any] | None = None
    ) -> Recorded:
        """Append one event (details must already be redacted) and advance the signed checkpoint."""
        with self.appending() as writer:
            return writer.append(actor, action, subject, details)

    @contextmanager
    def appending(self) -> Iterator[ChainWriter]:
        """A write transaction holding the chain lock, for statements that must commit with an event (a purge).

        The checkpoint advances after the commit.
        """
        with writing(self.engine) as conn:
            if not is_sqlite(self.engine):
                conn.execute(text("LOCK TABLE audit_events IN EXCLUSIVE MODE"))
            writer = ChainWriter(conn)
            yield writer
        if writer.last is not None:
            self.checkpoints.advance(writer.last["seq"], writer.last["hash"], writer.last["ts_ms"])

    def head(self) -> Recorded | None:
        """The last event's seq and hash, or None for an empty log."""
        with reading(self.engine) as conn:
            row = conn.execute(_HEAD).first()
        return Recorded(row[0], row[1]) if row else None

    def events(
        self, where: str = "", params: Mapping[str, Any] | None = None, batch: int = 5000, *, parse: bool = True
    ) -> Generator[dict, None, None]:
        """Events in seq order, optionally filtered by a SQL condition; details parsed, or
        left as the stored text under `details_text` (`parse=False`, for fast verification)."""
        sql = f"SELECT {EVENT_COLUMNS} FROM audit_events {('WHERE ' + where) if where else ''} ORDER BY seq"
        convert = row_to_event if parse else _row_with_text
        with reading(self.engine) as conn:
            result = conn.execution_options(yield_per=batch).execute(text(sql), dict(params or {}))
            for row in result:
                yield convert(row)

    def close(self) -> None:
        self.engine.dispose()


class ChainWriter:
    """Appends events inside one locked write transaction (`conn`)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.last: dict[str, Any] | None = None

    def append(
        self, actor: Actor, action: str, subject: str | None = None, details: Mapping[str, Any] | None = None
    ) -> Recorded:
        """Insert the event that follows the chain head."""
        if self.last is None:
            head = self.conn.execute(_HEAD).first()
            seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
        else:
            seq, prev_hash = self.last["seq"] + 1, self.last["hash"]
        body = plain_json(dict(details or {}))
        event = {
            "seq": seq,
            "ts_ms": int(time.time() * 1000),
            "actor": actor.name,
            "role": actor.role,
            "action": action,
            "subject": subject,
            "details": body,
            "prev_hash": prev_hash,
        }
        event["hash"] = event_hash(event)
        self.conn.execute(_INSERT, {**event, "details": canonical_bytes(body).decode()})
        self.last = event
        return Recorded(seq, event["hash"])


def row_to_event(row: Any) -> dict[str, Any]:
    """A database row as the event dict the chain functions expect (details parsed)."""
    event = _row_with_text(row)
    event["details"] = json.loads(event.pop("details_text"))
    return event


def _row_with_text(row: Any) -> dict[str, Any]:
    """A database row as an event dict whose details stay the stored canonical text."""
    return dict(zip(_EVENT_FIELDS, row, strict=True))


MAX_SAFE_INTEGER = 2**53 - 1  # RFC 8785 numbers are IEEE doubles: larger integers would be rounded


def plain_json(value: Any) -> Any:
    """`value` as canonical-safe JSON data: floats and unsafe integers become strings, tuples lists, keys strings."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(v) for v in value]
    return str(value)


def database_url(settings: Settings) -> str:
    """The configured database URL, or SQLite under APPLIANCE_HOME."""
    return settings.audit.database_url or sqlite_url(settings.home / "appliance.sqlite3")


def open_audit_log(settings: Settings) -> AuditLog:
    """Open (and migrate) the appliance database, the signing key and the checkpoint file."""
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    url = database_url(settings)
    if not settings.audit.database_url:  # SQLite under the home: readable by the service user only
        os.close(os.open(settings.home / "appliance.sqlite3", os.O_WRONLY | os.O_CREAT, 0o600))
    engine = open_engine(url)
    migrate(engine)
    signer = load_or_create_signer(settings.keys_dir)
    checkpoints = CheckpointFile(settings.checkpoint_file, signer, settings.audit.checkpoint_copy)
    return AuditLog(engine, signer, checkpoints)
