"""Sign-in throttling per client address and per (address, user name), and who the client is behind a proxy.

Behind the recommended reverse proxy every connection comes from the proxy, so the client's
address is taken from `X-Real-IP` (or the rightmost `X-Forwarded-For` entry, the one the proxy
itself saw; entries to its left are the client's to forge), and only when the connection
comes from a configured trusted proxy. One address that fails too often is refused for a
while; so is one address that keeps failing for one user name, long before that account's
own lock (appliance/access/users.py), so that no single client can lock an account.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence

MAX_FAILURES_PER_ADDRESS = 20
MAX_FAILURES_PER_ADDRESS_AND_NAME = 5
WINDOW_SECONDS = 15 * 60.0
_MAX_TRACKED = 100_000


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
    """Failed sign-ins in a sliding window, by address and by (address, user name); over a limit, refuse."""

    def __init__(
        self,
        per_address: int = MAX_FAILURES_PER_ADDRESS,
        per_address_and_name: int = MAX_FAILURES_PER_ADDRESS_AND_NAME,
        window_seconds: float = WINDOW_SECONDS,
    ) -> None:
        self.per_address = per_address
        self.per_address_and_name = per_address_and_name
        self.window_seconds = window_seconds
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def allowed(self, address: str, name: str) -> bool:
        """Whether `address` may try to sign in as `name` now."""
        with self._lock:
            return (
                len(self._recent((address, ""))) < self.per_address
                and len(self._recent((address, name))) < self.per_address_and_name
            )

    def failed(self, address: str, name: str) -> None:
        """Count one failed sign-in from `address` as `name`."""
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > _MAX_TRACKED:
                self._failures.clear()  # a flood of distinct names: start over rather than grow without bound
            self._recent((address, "")).append(now)
            self._recent((address, name)).append(now)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        cutoff = time.monotonic() - self.window_seconds
        while times and times[0] < cutoff:
            times.popleft()
        return times
