"""Who acts: every audited action names an actor and the role it acted in."""

from __future__ import annotations

import getpass
from dataclasses import dataclass

OPERATOR_ROLE = "operator"


@dataclass(frozen=True)
class Actor:
    """A person or process acting on the appliance (`os:<login>`, a web user, a service)."""

    name: str
    role: str


def os_operator() -> Actor:
    """Commands run from a shell act as `os:<login>` with role operator."""
    try:
        login = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        login = "unknown"
    return Actor(f"os:{login}", OPERATOR_ROLE)
