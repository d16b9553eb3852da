"""Reviewers' search over the audit log: by time, actor, action and text. The CLI and the web UI share it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from appliance.audit.log import AuditLog

DAY_MS = 86_400_000


class BadFilter(ValueError):
    """A filter value that cannot be understood (message names it)."""


@dataclass(frozen=True)
class AuditFilter:
    """Which events to select; every field optional. Times are UTC milliseconds, `until` exclusive."""

    since_ms: int | None = None
    until_ms: int | None = None
    actor: str | None = None
    action: str | None = None
    text: str | None = None

    def sql(self) -> tuple[str, dict[str, Any]]:
        """A WHERE condition and its parameters (portable between SQLite and PostgreSQL)."""
        parts: list[str] = []
        params: dict[str, Any] = {}
        if self.since_ms is not None:
            parts.append("ts_ms >= :since_ms")
            params["since_ms"] = self.since_ms
        if self.until_ms is not None:
            parts.append("ts_ms < :until_ms")
            params["until_ms"] = self.until_ms
        if self.actor:
            parts.append("actor = :actor")
            params["actor"] = self.actor
        if self.action:
            if self.action.endswith("*"):
                parts.append("action LIKE :action ESCAPE '\\'")  # SQLite has no default LIKE escape
                params["action"] = _escape_like(self.action[:-1]) + "%"
            else:
                parts.append("action = :action")
                params["action"] = self.action
        if self.text:
            parts.append(
                "(LOWER(details) LIKE :text ESCAPE '\\' OR LOWER(COALESCE(subject, '')) LIKE :text ESCAPE '\\')"
            )
            params["text"] = "%" + _escape_like(self.text.lower()) + "%"
        return " AND ".join(parts), params


def parse_time(value: str, *, end_of_day: bool = False) -> int:
    """UTC milliseconds from an ISO date or date-time ('2026-11-23', '2026-11-23T10:00Z'); naive means UTC.

    A bare date used as an upper bound means the end of that day.
    """
    try:
        if len(value) == 10:
            day = dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), tzinfo=dt.UTC)
            return int(day.timestamp() * 1000) + (DAY_MS if end_of_day else 0)
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadFilter(f"{value!r} is not an ISO date or date-time (e.g. 2026-11-23 or 2026-11-23T10:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def build_filter(
    since: str | None = None,
    until: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    text: str | None = None,
) -> AuditFilter:
    """An AuditFilter from the strings a person typed."""
    return AuditFilter(
        since_ms=parse_time(since) if since else None,
        until_ms=parse_time(until, end_of_day=True) if until else None,
        actor=actor or None,
        action=action or None,
        text=text or None,
    )


def search(log: AuditLog, selection: AuditFilter, limit: int | None = 1000) -> Iterator[dict[str, Any]]:
    """Matching events in seq order (at most `limit`)."""
    where, params = selection.sql()
    for count, event in enumerate(log.events(where, params), start=1):
        yield event
        if limit is not None and count >= limit:
            return


def iso_time(ts_ms: int) -> str:
    """An event time for people: ISO 8601 UTC with milliseconds."""
    return dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
