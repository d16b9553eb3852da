"""A tab of the web UI: shown to the roles that hold its permission, filled in when the page loads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.access.roles import Permission, allowed
from appliance.access.users import UserRecord


@dataclass
class Page:
    """A tab, the permission that shows it, and what to fill in for a user who may see it."""

    tab: Any
    permission: Permission
    outputs: list[Any] = field(default_factory=list)
    # (user, the collections they may use) -> one update per output
    load: Callable[[UserRecord, list[str]], list[Any]] | None = None
    # A further condition for showing the tab (say, holding a grant); the role is checked first.
    shown_if: Callable[[UserRecord], bool] | None = None

    def shown_to(self, user: UserRecord) -> bool:
        """Whether `user` sees this tab (the handlers check again on every call)."""
        return allowed(user.role, self.permission) and (self.shown_if is None or self.shown_if(user))
