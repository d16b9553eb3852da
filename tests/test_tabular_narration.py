"""`predict --narrate`: the model's text about a decision is checked against the record, number by
number and feature by feature, and the template stands when it fails.

The check is our own logic, tested on hand-written texts and through a scripted generator at our
own port; one test runs the real embedded model end to end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from appliance.build import tree_learner
from appliance.ports import GenerationResult
from appliance.tabular.narration import check, narrate, template
from appliance.tabular.predict import predict
from appliance.tabular.registry import ModelRegistry
from appliance.tabular.schema import Feature, Schema
from appliance.tabular.training import TrainRequest, train
from tests.actors import TESTER
from tests.test_tabular import SMALL_COLUMNS, small_rows, write_csv

SCHEMA = Schema(
    target="outcome",
    task="binary",
    classes=["bad", "good"],
    features=[
        Feature("credit_amount", "numeric", low=250, high=18424),
        Feature("duration_in_month", "numeric", low=4, high=72),
        Feature("purpose", "categorical", ["car", "education"]),
    ],
    excluded=[],
)
DECISION = {
    "prediction": "bad",
    "probability": 0.3081,
    "reasons": [
        "duration_in_month = 48 lowered the log-odds of 'good' by 1.693",
        "credit_amount = 7,500 lowered the log-odds of 'good' by 0.371",
    ],
    "inputs": {"credit_amount": "7500", "duration_in_month": "48", "purpose": "car"},
}


@pytest.mark.parametrize(
    "text",
    [
        "Your application was declined. The duration in month of 48 counted most against it (1.693), "
        "then the credit amount of 7,500 (0.371).",
        "The estimated chance of a good outcome was 31%. Mostly because of duration_in_month, 48 months.",
        "With a probability of 0.31 the decision was bad, chiefly for the credit amount.",
    ],
)
def test_a_text_that_states_only_the_record_passes(text: str) -> None:
    assert check(text, SCHEMA, DECISION) is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "The duration in month lowered it by 0.371.",
            "'0.371' beside 'duration_in_month'",
        ),  # a true number, wrong place
        ("The credit amount of 9,000 weighed against you.", "'9,000' beside 'credit_amount'"),
        ("Your purpose, a car, weighed against you.", "names 'purpose', which is not one of the decision's reasons"),
        ("Your application was declined for several reasons.", "names none of the decision's reasons"),
        ("There is a 12% chance; the duration in month of 48 mattered.", "'12%' before any reason"),
        ("", "wrote nothing"),
    ],
)
def test_a_text_that_states_anything_else_fails_and_says_what(text: str, problem: str) -> None:
    found = check(text, SCHEMA, DECISION)
    assert found is not None and problem in found, found


class Scripted:
    """A generator at our own port that says what the test wrote (the check is what is under test)."""

    model_id = "scripted"
    model_sha256 = "0" * 64

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.asked: list[Sequence[Mapping[str, str]]] = []

    def chat(self, messages: Sequence[Mapping[str, str]], **_: Any) -> GenerationResult:
        self.asked.append(messages)
        return GenerationResult(self.reply, 10, 10, 0.01)

    def warm_up(self) -> None:
        pass


def test_the_models_text_is_kept_only_when_it_passes_and_the_template_stands_otherwise() -> None:
    good = narrate(Scripted("Declined mainly for the duration in month of 48."), SCHEMA, DECISION)  # type: ignore[arg-type]
    assert good == {
        "text": "Declined mainly for the duration in month of 48.",
        "source": "model",
        "check": "passed",
        "model": "scripted",
    }
    wrong = Scripted("Declined mainly for the duration in month of 36.")
    told = narrate(wrong, SCHEMA, DECISION)  # type: ignore[arg-type]
    assert told["source"] == "template" and told["text"] == template(DECISION)
    assert "'36' beside 'duration_in_month'" in told["check"]
    prompt = wrong.asked[0][-1]["content"]
    assert all(reason in prompt for reason in DECISION["reasons"])  # the model is given the record's reasons


def test_the_real_model_narrates_and_what_reaches_the_record_passes_the_check(app, tmp_path: Path) -> None:
    table = write_csv(tmp_path / "small.csv", SMALL_COLUMNS, small_rows())
    registry = ModelRegistry(app.settings.tabular_dir)
    request = TrainRequest(table, "narrated", "outcome", favourable="yes", actionable=("income",))
    version = train(app, tree_learner(app.settings), registry, request, TESTER)
    rows = write_csv(tmp_path / "today.csv", ["income", "region"], [[1100, "north"], [9000, "east"], [4000, "south"]])
    result = predict(app, tree_learner(app.settings), registry, "narrated", rows, TESTER, narrate=True)
    assert len(result["predictions"]) == 3
    schema = version.parsed_schema
    for decision in result["predictions"]:
        told = decision["narrative"]
        if told["source"] == "model":
            assert check(told["text"], schema, decision) is None
        else:
            assert told["text"] == template(decision) and told["check"] != "passed"
        [event] = app.audit.events("seq = :s", {"s": decision["audit_seq"]})
        assert event["details"]["narrative"]["text"] == told["text"]
