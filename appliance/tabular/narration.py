"""`predict --narrate`: the local model phrases a decision's reasons for the person it concerns, and
what it writes is checked against the record before anyone reads it.

The check is strict on purpose: every number the text states must be a number of the record (an
input value, a contribution, the probability), every feature it names must be one of the decision's
reasons, and it must name at least one of them. A text that fails any of these is dropped and the
template stands (the reasons as recorded), with the failed check said. A small model that invents a
figure costs a nicer sentence, never a wrong notice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from appliance.ports import Generator
from appliance.tabular.schema import Schema

MAX_TOKENS = 160
SECONDS = 30.0
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?%?")
SYSTEM = (
    "You explain an automated decision to the person it concerns, in two or three plain sentences. "
    "Use only the facts listed. Name each factor as written and copy every number exactly; "
    "add no other numbers, factors or advice."
)


def template(decision: Mapping[str, Any]) -> str:
    """The reasons as recorded, in one paragraph: what stands when the model's text fails its check."""
    reasons = list(decision.get("reasons") or [])
    lead = f"The decision was {decision['prediction']!r}."
    return lead + (" Principal reasons: " + "; ".join(reasons) + "." if reasons else "")


def narrate(generator: Generator, schema: Schema, decision: Mapping[str, Any]) -> dict[str, Any]:
    """`{"text", "source": "model"|"template", "check"}` for one decision of a `predict` result."""
    facts = "\n".join(f"- {reason}" for reason in decision.get("reasons") or [])
    chance = decision.get("probability")
    outcome = f"Decision: {decision['prediction']}" + (f" (probability {chance:.2f})" if chance is not None else "")
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"{outcome}\nFactors:\n{facts or '- none recorded'}"},
    ]
    result = generator.chat(messages, max_tokens=MAX_TOKENS, temperature=0.0, deadline_seconds=SECONDS)
    text = " ".join(result.text.split())
    problem = check(text, schema, decision) if not result.timed_out else "the model ran out of time"
    if problem is None:
        return {"text": text, "source": "model", "check": "passed", "model": generator.model_id}
    return {"text": template(decision), "source": "template", "check": problem, "model": generator.model_id}


def check(text: str, schema: Schema, decision: Mapping[str, Any]) -> str | None:
    """None when `text` states only the record's numbers and reasons' features, else what it got wrong."""
    if not text:
        return "the model wrote nothing"
    allowed = recorded_numbers(decision)
    for stated in _NUMBER.findall(text):
        if _number(stated) not in allowed:
            return f"it states {stated!r}, which is not in the record"
    reason_features = {name for name in schema_feature_names(schema) if _mentions_in(decision.get("reasons"), name)}
    named = {name for name in schema_feature_names(schema) if _mentions(text, name)}
    if named - reason_features:
        return f"it names {sorted(named - reason_features)[0]!r}, which is not one of the decision's reasons"
    if reason_features and not named:
        return "it names none of the decision's reasons"
    return None


def recorded_numbers(decision: Mapping[str, Any]) -> set[float]:
    """Every number the record holds, as the reasons and inputs write them (and the probability, also in %)."""
    texts = [*(decision.get("reasons") or []), *map(str, (decision.get("inputs") or {}).values())]
    numbers = {_number(found) for text in texts for found in _NUMBER.findall(text)}
    chance = decision.get("probability")
    if chance is not None:
        for digits in (2, 3):
            numbers |= {round(float(chance), digits), round(100 * float(chance), digits - 2)}
    return numbers


def schema_feature_names(schema: Schema) -> list[str]:
    return [feature.name for feature in schema.features]


def _number(text: str) -> float:
    cleaned = text.replace(",", "").rstrip("%")
    value = float(cleaned)
    return round(value, 6)


def _spellings(name: str) -> Iterable[str]:
    yield name.lower()
    yield name.lower().replace("_", " ")


def _mentions(text: str, name: str) -> bool:
    lowered = text.lower()
    return any(re.search(rf"(?<![\w]){re.escape(spelling)}(?![\w])", lowered) for spelling in _spellings(name))


def _mentions_in(texts: Iterable[str] | None, name: str) -> bool:
    return any(_mentions(text, name) for text in texts or ())
