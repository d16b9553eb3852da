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
    """None when `text` states only what the record says, else what it got wrong.

    The text is cut at each feature it names; every number in a piece must be a number of that
    feature's reason (its value or contribution), and numbers before the first feature must be the
    probability. So a true number next to the wrong feature fails too.
    """
    if not text:
        return "the model wrote nothing"
    reasons = list(decision.get("reasons") or [])
    reason_of = {name: reason for name in schema_feature_names(schema) for reason in reasons if _mentions(reason, name)}
    mentions = _mentions_in_order(text, schema_feature_names(schema))
    strangers = [name for _, _, name in mentions if name not in reason_of]
    if strangers:
        return f"it names {strangers[0]!r}, which is not one of the decision's reasons"
    if reason_of and not mentions:
        return "it names none of the decision's reasons"
    cuts = [(0, None), *((start, name) for start, _, name in mentions)]
    for (start, name), (end, _) in zip(cuts, [*cuts[1:], (len(text), None)], strict=True):
        allowed = probability_numbers(decision) if name is None else _numbers_in(reason_of[name])
        for stated in _NUMBER.findall(text[start:end]):
            if _number(stated) not in allowed:
                where = f"beside {name!r}" if name else "before any reason"
                return f"it states {stated!r} {where}, which the record does not"
    return None


def probability_numbers(decision: Mapping[str, Any]) -> set[float]:
    """The probability as a fraction or a percentage, at two or three digits."""
    chance = decision.get("probability")
    if chance is None:
        return set()
    return {round(float(chance), 2), round(float(chance), 3), round(100 * float(chance)), round(100 * float(chance), 1)}


def _numbers_in(text: str) -> set[float]:
    return {_number(found) for found in _NUMBER.findall(text)}


def _mentions_in_order(text: str, names: Iterable[str]) -> list[tuple[int, int, str]]:
    """Where the text names a feature: (start, end, name), in order, a longer name winning over one inside it."""
    lowered = text.lower()
    found = [
        (match.start(), match.end(), name)
        for name in names
        for spelling in set(_spellings(name))
        for match in re.finditer(rf"(?<![\w]){re.escape(spelling)}(?![\w])", lowered)
    ]
    kept: list[tuple[int, int, str]] = []
    for start, end, name in sorted(found, key=lambda item: (item[0], -(item[1] - item[0]))):
        if kept and start < kept[-1][1]:
            continue
        kept.append((start, end, name))
    return kept


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
