"""Direct mode: the model answers without retrieval, and the answer says so (`mode: direct`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from appliance.answer.prompts import direct_messages
from appliance.app import Appliance


def answer_directly(
    app: Appliance, question: str, on_token: Callable[[str], None] | None, adapter: Path | None = None
) -> str:
    """The model's own answer to the (redacted) question, with no documents and no citations."""
    result = app.generator.chat(
        direct_messages(question),
        max_tokens=app.settings.generation.max_answer_tokens,
        on_token=on_token,
        adapter=adapter,
    )
    return result.text.strip()
