"""Questions in flight per user: one person may not fill the queue in front of the model.

The model answers one question at a time; everyone else's questions wait. Each user may have
at most `web.questions_per_user` questions waiting or being answered; one more is refused at
once with a message, so a single user (or a script) cannot keep everyone else waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

# The longest question the model is given (the Ask page shortens a longer one and says so; /v1 refuses it).
MAX_QUESTION_CHARS = 4000


class TooManyQuestions(Exception):
    """The user already has their share of questions waiting (message says how many)."""


class QuestionSlots:
    """Per-user count of questions in flight, with a limit."""

    def __init__(self, per_user: int) -> None:
        self.per_user = per_user
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, user: str) -> Iterator[None]:
        """Count one question of `user` while the block runs; TooManyQuestions if they are at the limit."""
        with self._lock:
            if self._in_flight.get(user, 0) >= self.per_user:
                raise TooManyQuestions(
                    f"you already have {self.per_user} question{'s' if self.per_user != 1 else ''} waiting "
                    "or being answered; wait for an answer, then ask again"
                )
            self._in_flight[user] = self._in_flight.get(user, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._in_flight[user] - 1
                if left:
                    self._in_flight[user] = left
                else:
                    del self._in_flight[user]
