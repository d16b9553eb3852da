"""Web sessions in the appliance database: shared by every front-end, kept across restarts.

A session is a random token handed out in a signed cookie (`token.signature`); the row holds the sha256
of the token (never the token), who it belongs to, the user's session epoch and when it began and was
last used. Every front-end on one database (SQLite, or PostgreSQL for several hosts) sees the same
sessions, so a person stays signed in whichever process answers and across a restart; the cookie's
HMAC key is keys/web-session.key, which front-ends on several hosts share (deploy/README.md).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from appliance.db.engine import reading, writing

COOKIE_NAME = "appliance_session"
Clock = Callable[[], float]
# A session's last use is written at most this often (every page request would otherwise be a write).
TOUCH_EVERY_MS = 30_000
_COLUMNS = "token_sha256, user_name, created_ms, last_seen_ms, session_epoch"  # the fields of _session()


@dataclass
class Session:
    """One signed-in browser."""

    user: str
    created: float
    last_seen: float
    # Not secret: names the session to the gate's ownership records (a digest of the token).
    id: str = ""
    # The user's session epoch when it began; a password change moves the epoch on and ends it.
    epoch: int = 0


class SessionStore:
    """Sessions with an absolute lifetime and an idle timeout, in the appliance database."""

    def __init__(
        self, engine: Engine, key: bytes, lifetime_seconds: float, idle_seconds: float, clock: Clock = time.time
    ) -> None:
        self._engine = engine
        self._key = key
        self.lifetime_seconds = lifetime_seconds
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._expired: list[Session] = []

    def create(self, user: str, epoch: int = 0) -> str:
        """Start a session for `user` (at their session epoch); the value to put in the cookie."""
        token = secrets.token_urlsafe(32)
        now = self._now_ms()
        with writing(self._engine) as conn:
            self._expired += self._sweep(conn, now)
            conn.execute(
                text(
                    "INSERT INTO web_sessions (token_sha256, user_name, session_epoch, created_ms, last_seen_ms) "
                    "VALUES (:t, :u, :e, :n, :n)"
                ),
                {"t": _digest(token), "u": user, "e": epoch, "n": now},
            )
        return f"{token}.{self._sign(token)}"

    def resolve(self, cookie: str | None) -> Session | None:
        """The live session a cookie names (its last use noted), or None."""
        token = self._token(cookie)
        if token is None:
            return None
        now, digest = self._now_ms(), _digest(token)
        with reading(self._engine) as conn:
            row = conn.execute(
                text(f"SELECT {_COLUMNS} FROM web_sessions WHERE token_sha256 = :t"), {"t": digest}
            ).first()
        if row is None:
            return None
        session = _session(*row)
        created, last_seen = row[2], row[3]
        if self._ran_out(created, last_seen, now):
            with writing(self._engine) as conn:
                conn.execute(text("DELETE FROM web_sessions WHERE token_sha256 = :t"), {"t": digest})
            self._expired.append(session)
            return None
        if now - last_seen >= min(TOUCH_EVERY_MS, self.idle_seconds * 100):  # a tenth of the idle time at most
            with writing(self._engine) as conn:
                conn.execute(
                    text("UPDATE web_sessions SET last_seen_ms = :n WHERE token_sha256 = :t"), {"n": now, "t": digest}
                )
        session.last_seen = now / 1000
        return session

    def take_expired(self) -> list[Session]:
        """Sessions of this process found run out since the last call (their leftover uploads go)."""
        expired, self._expired = self._expired, []
        return expired

    def end(self, cookie: str | None) -> Session | None:
        """End the session a cookie names; the session that ended, if any."""
        token = self._token(cookie)
        if token is None:
            return None
        with writing(self._engine) as conn:
            row = conn.execute(
                text(f"SELECT {_COLUMNS} FROM web_sessions WHERE token_sha256 = :t"), {"t": _digest(token)}
            ).first()
            conn.execute(text("DELETE FROM web_sessions WHERE token_sha256 = :t"), {"t": _digest(token)})
        return _session(*row) if row is not None else None

    def end_user(self, user: str) -> list[Session]:
        """End every session of `user` (a disabled account, a new password), in every front-end."""
        with writing(self._engine) as conn:
            rows = conn.execute(text(f"SELECT {_COLUMNS} FROM web_sessions WHERE user_name = :u"), {"u": user}).all()
            conn.execute(text("DELETE FROM web_sessions WHERE user_name = :u"), {"u": user})
        return [_session(*row) for row in rows]

    def _sweep(self, conn: Connection, now: int) -> list[Session]:
        """Delete every session that ran out (at each sign-in, so sessions never presented again go too)."""
        lifetime_ms, idle_ms = int(self.lifetime_seconds * 1000), int(self.idle_seconds * 1000)
        params = {"born": now - lifetime_ms, "seen": now - idle_ms}
        where = "created_ms < :born OR last_seen_ms < :seen"
        rows = conn.execute(text(f"SELECT {_COLUMNS} FROM web_sessions WHERE {where}"), params).all()
        conn.execute(text(f"DELETE FROM web_sessions WHERE {where}"), params)
        return [_session(*row) for row in rows]

    def _ran_out(self, created_ms: int, last_seen_ms: int, now: int) -> bool:
        return now - created_ms > self.lifetime_seconds * 1000 or now - last_seen_ms > self.idle_seconds * 1000

    def _token(self, cookie: str | None) -> str | None:
        if not cookie or "." not in cookie:
            return None
        token, signature = cookie.rsplit(".", 1)
        return token if hmac.compare_digest(signature, self._sign(token)) else None

    def _sign(self, token: str) -> str:
        return hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _session(token_sha256: str, user: str, created_ms: int, last_seen_ms: int, epoch: int) -> Session:
    """A row of web_sessions (its _COLUMNS) as a Session; its id, which is not secret, is half the digest."""
    return Session(user, created_ms / 1000, last_seen_ms / 1000, token_sha256[:32], int(epoch))
