"""Feedback becomes training data only after an admin accepted it, so one analyst cannot steer a model.

A thumbs-up makes the recorded answer the target; a thumbs-down with a correction makes the
correction the target; a thumbs-down without one teaches nothing. Each review is its own audit
event (`feedback.review`), and the newest review of a feedback event is the one that counts.
Everything here is already redacted: the ask event keeps the redacted question and answer, and
the correction was redacted when it was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.actors import Actor
from appliance.audit import events as audit_events
from appliance.audit.log import AuditLog
from appliance.finetune.examples import Example

ACCEPT, REJECT = "accepted", "rejected"


class ReviewError(ValueError):
    """A review that cannot be recorded (the message says why)."""


@dataclass(frozen=True)
class FeedbackItem:
    """One feedback event with the exchange it would teach and its review so far."""

    seq: int
    ask_seq: int
    rating: str
    collection: str
    example: Example | None  # None: nothing to learn (a thumbs-down without a correction)
    review: str | None  # accepted, rejected, or not yet reviewed

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ask_seq": self.ask_seq,
            "rating": self.rating,
            "collection": self.collection,
            "review": self.review,
            "example": self.example.to_json() if self.example else None,
        }


def feedback_items(audit: AuditLog) -> list[FeedbackItem]:
    """Every feedback event, oldest first, with what it would teach and its latest review."""
    reviews = {
        int(e["details"]["feedback_seq"]): e["details"]["review"]
        for e in audit.events("action = :a", {"a": audit_events.FEEDBACK_REVIEW})
    }
    asked = {e["seq"]: e["details"] for e in audit.events("action = :a", {"a": audit_events.ASK})}
    items = []
    for event in audit.events("action = :a", {"a": audit_events.FEEDBACK}):
        details = event["details"]
        ask = asked.get(int(details["ask_seq"]))
        if ask is None:
            continue
        target = ask["answer"] if details["rating"] == "up" and not ask.get("refused") else details.get("correction")
        example = Example((("user", ask["question"]), ("assistant", target))) if target else None
        collections = ask.get("collections") or ["default"]
        items.append(
            FeedbackItem(
                event["seq"],
                int(details["ask_seq"]),
                details["rating"],
                collections[0],
                example,
                reviews.get(event["seq"]),
            )
        )
    return items


def review_feedback(audit: AuditLog, seq: int, decision: str, reason: str, actor: Actor) -> dict[str, Any]:
    """Accept or reject feedback event `seq` as training data (audited)."""
    if decision not in (ACCEPT, REJECT):
        raise ReviewError(f"a review is {ACCEPT!r} or {REJECT!r}, not {decision!r}")
    found = next((item for item in feedback_items(audit) if item.seq == seq), None)
    if found is None:
        raise ReviewError(f"audit event {seq} is not feedback on a recorded answer")
    if decision == ACCEPT and found.example is None:
        raise ReviewError(f"feedback {seq} is a thumbs-down without a correction: there is nothing to learn")
    details = {"feedback_seq": seq, "review": decision, "reason": reason.strip()}
    recorded = audit.record(actor, audit_events.FEEDBACK_REVIEW, subject=str(seq), details=details)
    return {"seq": recorded.seq, **details}


def accepted_items(audit: AuditLog, collection: str | None) -> list[FeedbackItem]:
    """Every accepted feedback item that teaches something, of one collection or all."""
    return [
        item
        for item in feedback_items(audit)
        if item.review == ACCEPT and item.example is not None and collection in (None, item.collection)
    ]
