"""Composition: the answer written from verified quotes only, with [n] markers that point at them.

Either the model writes it from the quotes (`answering.compose`), and an answer that states a
figure no quote holds is replaced by the quotes, or the answer is the best quote itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from appliance.answer.citations import Evidence
from appliance.answer.prompts import answer_messages
from appliance.app import Appliance

_MARKER = re.compile(r"\[(\d+)\]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def compose(
    app: Appliance,
    question: str,
    chosen: list[Evidence],
    on_token: Callable[[str], None] | None,
    adapter: Path | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """The answer and its citations from the verified evidence (not empty)."""
    if not _compose_with_model(app):
        chosen = chosen[:1]  # the answer is the best quote itself, cited once
        text = _quoted_answer(chosen)
        if on_token:
            on_token(text)
        return text, _citations(chosen)
    result = app.generator.chat(
        answer_messages(question, [e.text for e in chosen], app.settings.answering.instructions),
        max_tokens=app.settings.generation.max_answer_tokens,
        on_token=on_token,
        adapter=adapter,
    )
    text = _grounded(_keep_valid_markers(result.text.strip(), len(chosen)), chosen)
    if not _MARKER.search(text):
        text += " " + " ".join(f"[{n}]" for n in range(1, len(chosen) + 1))
    return text, _citations(chosen)


def model_wrote_answer(app: Appliance) -> bool:
    """Whether the model writes answers from quotes (then the audit log gets the answer redacted again)."""
    return _compose_with_model(app)


def _citations(chosen: Sequence[Evidence]) -> list[dict[str, Any]]:
    return [_citation_json(n, e) for n, e in enumerate(chosen, start=1)]


def _compose_with_model(app: Appliance) -> bool:
    """Whether the model writes the answer (see the `answering.compose` setting)."""
    compose = app.settings.answering.compose
    return compose == "model" or (compose == "auto" and app.settings.generation.model_path is not None)


def _quoted_answer(quotes: Sequence[Evidence]) -> str:
    """The answer stated by the evidence itself: verbatim quotes with their markers."""
    return " ".join(f"\u201c{q.text}\u201d [{n}]" for n, q in enumerate(quotes, start=1))


def _grounded(text: str, quotes: Sequence[Evidence]) -> str:
    """The model's answer if every number in it is in the quotes, else the quotes themselves.

    A small model sometimes adds a date or an amount that no quote contains; an answer must
    never state a figure the evidence does not, so such an answer is replaced by the evidence.
    """
    evidence = " ".join(q.text for q in quotes)
    invented = [n for n in _NUMBER.findall(_MARKER.sub(" ", text)) if n not in evidence]
    if text and not invented:
        return text
    return _quoted_answer(quotes)


def _keep_valid_markers(text: str, count: int) -> str:
    """Remove [n] markers that point at no verified quote."""
    return _MARKER.sub(lambda m: m.group(0) if 1 <= int(m.group(1)) <= count else "", text).strip()


def _citation_json(n: int, evidence: Evidence) -> dict[str, Any]:
    chunk = evidence.chunk
    return {
        "n": n,
        "doc_id": chunk.doc_id,
        "version": chunk.version,
        "source": chunk.source,
        "page": chunk.page,
        "start": evidence.start,
        "end": evidence.end,
        "quote": evidence.text,
    }
