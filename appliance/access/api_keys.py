"""API keys: bearer tokens that let a user's own tools call the /v1 API in their name.

A token is `apl_<id>_<secret>`. It is shown once, when it is made; the database keeps only the
id and the sha256 of the secret. The secret is 256 random bits, so a fast hash is enough here:
unlike a password it cannot be guessed, and a slow hash would only slow every API call.

A key stops working when it expires, is revoked, its account is disabled, or the account's password
changes (disabling and a new password also revoke every key of the account, in the same transaction:
users.py). Whoever presents a token acts as its user, with that user's role and grants.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import text

from appliance.access.users import UserDirectory, UserError, UserRecord
from appliance.actors import Actor
from appliance.audit import events as audit_events
from appliance.audit.log import AuditLog
from appliance.db.engine import reading

PREFIX = "apl_"
_TOKEN = re.compile(r"^apl_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_ID = re.compile(r"^[0-9a-f]{16}$")
DAY_MS = 24 * 3600 * 1000
MAX_DAYS = 3650


class ApiKeyError(ValueError):
    """An API key command that cannot be done (message says why)."""


@dataclass(frozen=True)
class ApiKey:
    """One key as listings show it: never the secret."""

    id: str
    user: str
    created_ms: int
    expires_ms: int
    revoked_ms: int | None

    def state(self, now_ms: int) -> str:
        """`active`, `expired` or `revoked`."""
        if self.revoked_ms is not None:
            return "revoked"
        return "expired" if self.expires_ms <= now_ms else "active"

    def to_json(self, now_ms: int) -> dict[str, object]:
        return {
            "id": self.id,
            "user": self.user,
            "created_ms": self.created_ms,
            "expires_ms": self.expires_ms,
            "revoked_ms": self.revoked_ms,
            "state": self.state(now_ms),
        }


@dataclass(frozen=True)
class Caller:
    """Who a valid token speaks for, and which key it was (audit events name the key, never the token)."""

    user: UserRecord
    key_id: str


def key_id_of(token: str) -> str | None:
    """The id part of a well-formed token (safe to log), else None."""
    found = _TOKEN.match(token)
    return found.group(1) if found else None


class ApiKeys:
    """API keys in the appliance database; making and revoking one is audited."""

    def __init__(self, audit: AuditLog, directory: UserDirectory) -> None:
        self._audit = audit
        self._engine = audit.engine
        self._directory = directory

    def create(self, user_name: str, *, days: int, by: Actor) -> tuple[ApiKey, str]:
        """A new key for `user_name` valid `days` days, and its token (shown once, never stored)."""
        if not 1 <= days <= MAX_DAYS:
            raise ApiKeyError(f"--days must be between 1 and {MAX_DAYS}, not {days}")
        try:
            user = self._directory.get(user_name)
        except UserError as problem:
            raise ApiKeyError(str(problem)) from None
        if user.disabled:
            raise ApiKeyError(f"user {user_name!r} is disabled; enable the account before giving it a key")
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        now = _now_ms()
        key = ApiKey(key_id, user_name, now, now + days * DAY_MS, None)
        with self._audit.appending() as writer:
            writer.conn.execute(
                text(
                    "INSERT INTO api_keys (id, user_name, secret_sha256, session_epoch, created_ms, expires_ms) "
                    "VALUES (:i, :u, :s, :e, :c, :x)"
                ),
                {
                    "i": key_id,
                    "u": user_name,
                    "s": _digest(secret),
                    "e": user.session_epoch,
                    "c": now,
                    "x": key.expires_ms,
                },
            )
            writer.append(by, audit_events.API_KEY_CREATE, user_name, {"key": key_id, "expires_ms": key.expires_ms})
        return key, f"{PREFIX}{key_id}_{secret}"

    def revoke(self, user_name: str, key_id: str, *, by: Actor) -> ApiKey:
        """Revoke one of `user_name`'s keys now (revoking a revoked key is an error, so typos show)."""
        if not _ID.match(key_id):
            raise ApiKeyError(f"{key_id!r} is not a key id (16 hex digits, as `api-key list` shows)")
        with self._audit.appending() as writer:
            row = writer.conn.execute(
                text("SELECT revoked_ms FROM api_keys WHERE id = :i AND user_name = :u"), {"i": key_id, "u": user_name}
            ).first()
            if row is None:
                raise ApiKeyError(f"user {user_name!r} has no key {key_id}")
            if row[0] is not None:
                raise ApiKeyError(f"key {key_id} is already revoked")
            writer.conn.execute(
                text("UPDATE api_keys SET revoked_ms = :t WHERE id = :i"), {"t": _now_ms(), "i": key_id}
            )
            writer.append(by, audit_events.API_KEY_REVOKE, user_name, {"key": key_id})
        return next(k for k in self.list(user_name) if k.id == key_id)

    def list(self, user_name: str) -> list[ApiKey]:
        """Every key of `user_name`, newest first, revoked and expired ones included."""
        try:
            self._directory.get(user_name)
        except UserError as problem:
            raise ApiKeyError(str(problem)) from None
        with reading(self._engine) as conn:
            rows = conn.execute(
                text(
                    "SELECT id, user_name, created_ms, expires_ms, revoked_ms FROM api_keys "
                    "WHERE user_name = :u ORDER BY created_ms DESC, id"
                ),
                {"u": user_name},
            ).all()
        return [ApiKey(*row) for row in rows]

    def caller(self, token: str) -> Caller | None:
        """The enabled user a live token speaks for, else None (malformed, unknown, wrong secret, expired,
        revoked, a disabled account or one whose password changed since the key was made)."""
        found = _TOKEN.match(token)
        if found is None:
            return None
        key_id, secret = found.groups()
        with reading(self._engine) as conn:
            row = conn.execute(
                text(
                    "SELECT user_name, secret_sha256, session_epoch, expires_ms, revoked_ms FROM api_keys WHERE id = :i"
                ),
                {"i": key_id},
            ).first()
        if row is None:
            _digest(secret)  # the same work as for a known id
            return None
        user_name, stored, epoch, expires_ms, revoked_ms = row
        if not secrets.compare_digest(_digest(secret), stored):
            return None
        if revoked_ms is not None or expires_ms <= _now_ms():
            return None
        try:
            user = self._directory.get(user_name)
        except UserError:
            return None
        if user.disabled or user.session_epoch != epoch:
            return None
        return Caller(user, key_id)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now_ms() -> int:
    return int(time.time() * 1000)
