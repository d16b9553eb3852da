"""Numbered migrations of the appliance database, applied in order at start-up.

The SQL is written to run unchanged on SQLite and PostgreSQL. Add a migration by
appending to MIGRATIONS; never edit one that has shipped.
"""

from __future__ import annotations

import time

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from appliance.db.engine import writing

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "audit events (hash chain)",
        [
            """CREATE TABLE audit_events (
                seq BIGINT NOT NULL PRIMARY KEY,
                ts_ms BIGINT NOT NULL,
                actor TEXT NOT NULL,
                role TEXT NOT NULL,
                action TEXT NOT NULL,
                subject TEXT,
                details TEXT NOT NULL,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL UNIQUE
            )""",
            "CREATE INDEX ix_audit_events_ts_ms ON audit_events (ts_ms)",
            "CREATE INDEX ix_audit_events_actor ON audit_events (actor)",
            "CREATE INDEX ix_audit_events_action ON audit_events (action)",
        ],
    ),
    (
        2,
        "users, their collections, login throttling",
        [
            """CREATE TABLE users (
                name TEXT NOT NULL PRIMARY KEY,
                role TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                disabled INTEGER NOT NULL DEFAULT 0,
                failed_logins INTEGER NOT NULL DEFAULT 0,
                locked_until_ms BIGINT,
                created_ms BIGINT NOT NULL,
                updated_ms BIGINT NOT NULL
            )""",
            """CREATE TABLE user_collections (
                user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
                collection TEXT NOT NULL,
                PRIMARY KEY (user_name, collection)
            )""",
        ],
    ),
    (
        3,
        "users: session epoch (a new password ends old sessions), growing lock-out back-off",
        [
            "ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE users ADD COLUMN lock_count INTEGER NOT NULL DEFAULT 0",
        ],
    ),
    (
        4,
        "users: tabular models granted per user",
        [
            """CREATE TABLE user_models (
                user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
                model TEXT NOT NULL,
                PRIMARY KEY (user_name, model)
            )""",
        ],
    ),
    (
        5,
        "API keys: bearer tokens for the /v1 API, stored hashed",
        [
            """CREATE TABLE api_keys (
                id TEXT NOT NULL PRIMARY KEY,
                user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
                secret_sha256 TEXT NOT NULL,
                session_epoch INTEGER NOT NULL,
                created_ms BIGINT NOT NULL,
                expires_ms BIGINT NOT NULL,
                revoked_ms BIGINT
            )""",
            "CREATE INDEX ix_api_keys_user_name ON api_keys (user_name)",
        ],
    ),
    (
        6,
        "web sessions and sign-in failures in the database, shared by every front-end",
        [
            """CREATE TABLE web_sessions (
                token_sha256 TEXT NOT NULL PRIMARY KEY,
                user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
                session_epoch INTEGER NOT NULL,
                created_ms BIGINT NOT NULL,
                last_seen_ms BIGINT NOT NULL
            )""",
            "CREATE INDEX ix_web_sessions_user_name ON web_sessions (user_name)",
            """CREATE TABLE sign_in_failures (
                id TEXT NOT NULL PRIMARY KEY,
                address TEXT NOT NULL,
                name_hmac TEXT NOT NULL,
                ts_ms BIGINT NOT NULL
            )""",
            "CREATE INDEX ix_sign_in_failures_address ON sign_in_failures (address)",
        ],
    ),
]

_CREATE_LEDGER = (
    "CREATE TABLE IF NOT EXISTS appliance_schema_migrations "
    "(version BIGINT NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)"
)
_MIGRATION_LOCK_ID = 7_262_001  # PostgreSQL advisory lock: one process migrates at a time


def migrate(engine: Engine) -> list[int]:
    """Apply the missing migrations (each in its own transaction); return the numbers applied."""
    applied: list[int] = []
    with writing(engine) as conn:
        _serialise(conn)
        conn.execute(text(_CREATE_LEDGER))
    for version, name, statements in MIGRATIONS:
        with writing(engine) as conn:
            _serialise(conn)
            done = conn.execute(
                text("SELECT 1 FROM appliance_schema_migrations WHERE version = :v"), {"v": version}
            ).first()
            if done:
                continue
            for statement in statements:
                conn.execute(text(statement))
            conn.execute(
                text("INSERT INTO appliance_schema_migrations (version, name, applied_ms) VALUES (:v, :n, :t)"),
                {"v": version, "n": name, "t": int(time.time() * 1000)},
            )
            applied.append(version)
    return applied


def _serialise(conn: Connection) -> None:
    """Two processes starting at once must not both apply a migration."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
