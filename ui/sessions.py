"""Web sessions: random tokens kept in server memory, handed out in a signed cookie.

The cookie carries only `token.signature`; who the session belongs to and when it ends
live here. A restart of the service ends every session (the signing key is per process).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE_NAME = "appliance_session"


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
    """Sessions with an absolute lifetime and an idle timeout; safe to use from many threads."""

    def __init__(
        self, lifetime_seconds: float, idle_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lifetime_seconds = lifetime_seconds
        self.idle_seconds = idle_seconds
        self._clock = clock  # tests pass a clock they move; the service, the monotonic one
        self._key = secrets.token_bytes(32)
        self._sessions: dict[str, Session] = {}
        self._expired: list[Session] = []  # ran out, not yet handed to take_expired()
        self._lock = threading.Lock()

    def create(self, user: str, epoch: int = 0) -> str:
        """Start a session for `user` (at their current session epoch); the value to put in the cookie."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        session_id = hashlib.sha256(token.encode()).hexdigest()[:32]
        with self._lock:
            for old in [t for t, s in self._sessions.items() if self._ran_out(s, now)]:  # swept at each sign-in
                self._expired.append(self._sessions.pop(old))
            self._sessions[token] = Session(user, now, now, session_id, epoch)
        return f"{token}.{self._sign(token)}"

    def resolve(self, cookie: str | None) -> Session | None:
        """The live session a cookie names (and mark it used), or None."""
        token = self._token(cookie)
        if token is None:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if self._ran_out(session, now):
                self._expired.append(self._sessions.pop(token))
                return None
            session.last_seen = now
            return session

    def take_expired(self) -> list[Session]:
        """Sessions that ran out (lifetime or idle time) since the last call, so their leftovers can be removed."""
        with self._lock:
            expired, self._expired = self._expired, []
        return expired

    def _ran_out(self, session: Session, now: float) -> bool:
        return now - session.created > self.lifetime_seconds or now - session.last_seen > self.idle_seconds

    def end(self, cookie: str | None) -> Session | None:
        """End the session a cookie names; the session that ended, if any."""
        token = self._token(cookie)
        if token is None:
            return None
        with self._lock:
            return self._sessions.pop(token, None)

    def end_user(self, user: str) -> list[Session]:
        """End every session of `user` (disabled account, new password); the sessions that ended."""
        with self._lock:
            tokens = [t for t, s in self._sessions.items() if s.user == user]
            return [self._sessions.pop(token) for token in tokens]

    def _token(self, cookie: str | None) -> str | None:
        if not cookie or "." not in cookie:
            return None
        token, signature = cookie.rsplit(".", 1)
        return token if hmac.compare_digest(signature, self._sign(token)) else None

    def _sign(self, token: str) -> str:
        return hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()
