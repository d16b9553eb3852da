"""Sign-in throttling per client address and per (address, user name), and who the client is behind a proxy.

Behind the recommended reverse proxy every connection comes from the proxy, so the client's
address is taken from `X-Real-IP` (or the rightmost `X-Forwarded-For` entry, the one the proxy
itself saw; entries to its left are the client's to forge), and only when the connection
comes from a configured trusted proxy. One address that fails too often is refused for a
while; so is one address that keeps failing for one user name, long before that account's
own lock (appliance/access/users.py), so that no single client can lock an account.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import Engine, text

from appliance.db.engine import reading, writing

MAX_FAILURES_PER_ADDRESS = 20
MAX_FAILURES_PER_ADDRESS_AND_NAME = 5
WINDOW_SECONDS = 15 * 60.0


def client_address(peer: str, headers: Mapping[str, str], trusted_proxies: Sequence[str]) -> str:
    """The client's address: `peer`, or the address a trusted proxy reports in its headers."""
    if peer not in trusted_proxies:
        return peer
    real = headers.get("x-real-ip", "").strip()
    if not real:
        forwarded = [part.strip() for part in headers.get("x-forwarded-for", "").split(",") if part.strip()]
        real = forwarded[-1] if forwarded else ""
    try:
        return str(ipaddress.ip_address(real))
    except ValueError:
        return peer


class LoginThrottle:
    """Failed sign-ins in a sliding window by address and by (address, name); over a limit, refuse.

    Kept in the appliance database, so every front-end counts the same failures and a restart forgets
    none; a row holds the address and an HMAC of the name typed (people type passwords into it)."""

    def __init__(
        self,
        engine: Engine,
        key: bytes,
        per_address: int = MAX_FAILURES_PER_ADDRESS,
        per_address_and_name: int = MAX_FAILURES_PER_ADDRESS_AND_NAME,
        window_seconds: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._key = key
        self.per_address = per_address
        self.per_address_and_name = per_address_and_name
        self.window_seconds = window_seconds
        self._clock = clock

    def allowed(self, address: str, name: str) -> bool:
        """Whether `address` may try to sign in as `name` now."""
        since = self._now_ms() - int(self.window_seconds * 1000)
        with reading(self._engine) as conn:
            by_address = conn.execute(
                text("SELECT COUNT(*) FROM sign_in_failures WHERE address = :a AND ts_ms >= :s"),
                {"a": address, "s": since},
            ).scalar_one()
            by_name = conn.execute(
                text("SELECT COUNT(*) FROM sign_in_failures WHERE address = :a AND name_hmac = :n AND ts_ms >= :s"),
                {"a": address, "n": self._name(name), "s": since},
            ).scalar_one()
        return int(by_address) < self.per_address and int(by_name) < self.per_address_and_name

    def failed(self, address: str, name: str) -> None:
        """Count one failed sign-in from `address` as `name` (and forget failures older than the window)."""
        now = self._now_ms()
        with writing(self._engine) as conn:
            conn.execute(
                text("DELETE FROM sign_in_failures WHERE ts_ms < :s"), {"s": now - int(self.window_seconds * 1000)}
            )
            conn.execute(
                text("INSERT INTO sign_in_failures (id, address, name_hmac, ts_ms) VALUES (:i, :a, :n, :t)"),
                {"i": secrets.token_hex(16), "a": address, "n": self._name(name), "t": now},
            )

    def _name(self, name: str) -> str:
        return hmac.new(self._key, b"sign-in-name\x1f" + name.encode(), hashlib.sha256).hexdigest()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)
