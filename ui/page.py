"""A tab of the web UI: shown to the roles that hold its permission, filled in when the page loads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.access.roles import Permission
from appliance.access.users import UserRecord


@dataclass
class Page:
    """A tab, the permission that shows it, and what to fill in for a user who may see it."""

    tab: Any
    permission: Permission
    outputs: list[Any] = field(default_factory=list)
    # (user, the collections they may use) -> one update per output
    load: Callable[[UserRecord, list[str]], list[Any]] | None = None
