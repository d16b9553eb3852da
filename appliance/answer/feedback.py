"""Feedback on an answer: a rating and an optional correction, redacted, kept as an audit event.

The fine-tuning work learns from these events; the correction goes through the same
redactor as the question, so no raw PII reaches the log or a training set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from appliance.actors import Actor
from appliance.app import Appliance
from appliance.audit import events as audit_events
from appliance.audit.log import Recorded

Rating = Literal["up", "down"]
MAX_CORRECTION_CHARS = 4000


class FeedbackError(ValueError):
    """Feedback that cannot be kept (message says why)."""


def submit_feedback(
    app: Appliance,
    *,
    actor: Actor,
    ask_seq: int,
    rating: Rating,
    correction: str = "",
    collections: Sequence[str],
) -> Recorded:
    """Record a rating (and correction) for the answer that audit event `ask_seq` recorded."""
    if rating not in ("up", "down"):
        raise FeedbackError(f"rating must be 'up' or 'down', not {rating!r}")
    if len(correction) > MAX_CORRECTION_CHARS:
        raise FeedbackError(f"the correction is longer than {MAX_CORRECTION_CHARS} characters")
    asked = next(
        iter(app.audit.events("seq = :seq AND action = :action", {"seq": ask_seq, "action": audit_events.ASK})), None
    )
    if asked is None:
        raise FeedbackError(f"no answer recorded as audit event {ask_seq}")
    redacted = app.redactor.redact_question(correction, collections[0])[0] if correction.strip() else ""
    return app.audit.record(
        actor,
        audit_events.FEEDBACK,
        subject=str(ask_seq),
        details={"ask_seq": ask_seq, "rating": rating, "correction": redacted},
    )
