"""Evidence training sets from a collection's own documents, on the real parts: the real spaCy
question rules, the real redactor, retrieval and ranking as `ask` does them."""

from __future__ import annotations

import json
from typing import Any

from appliance.build import question_writer
from appliance.finetune.datasets import DatasetRegistry, build
from appliance.finetune.evidence_data import target_ids
from ingestion.pipeline import ingest_paths
from tests.actors import TESTER
from tests.conftest import DEMO_CORPUS


def test_the_builder_writes_checked_questions_with_ask_s_own_candidates_and_none_from_the_eval_sets(
    app: Any,
) -> None:
    assert not ingest_paths(app, [DEMO_CORPUS], collection="demo", actor=TESTER).failed
    registry = DatasetRegistry(app.settings.finetune_dir / "datasets")
    built = build(
        app,
        registry,
        "demo-evidence",
        actor=TESTER,
        collection="demo",
        task="evidence",
        question_writer=question_writer(app.settings),
    )
    examples = registry.examples(built) + registry.examples(built, "heldout")
    assert built.task == "evidence" and len(examples) >= 10, built.sources
    checks = built.sources[0]["checks"]
    assert checks["answerable"] > 0 and checks["unanswerable"] > 0, checks
    for example in examples:
        system, user, reply = example.messages
        assert system[0] == "system" and "You select evidence" in system[1]
        listed = user[1].split("</documents>")[0].count("\n[")
        ids = target_ids(example)
        assert all(1 <= i <= listed for i in ids) and len(ids) <= 1
        assert json.loads(reply[1]) == {"ids": ids}
    questions = {e.messages[1][1].rsplit("Question:", 1)[1].strip() for e in examples}
    train_q = {e.messages[1][1].rsplit("Question:", 1)[1].strip() for e in registry.examples(built)}
    held_q = {e.messages[1][1].rsplit("Question:", 1)[1].strip() for e in registry.examples(built, "heldout")}
    assert not train_q & held_q  # a question's answerable and unanswerable forms stay on one side
    squad = json.loads((app.settings.bench.eval_dir / "qa" / "haystack_squad2_dev_small.json").read_text())
    evaluation = {q["question"].strip() for a in squad["data"] for p in a["paragraphs"] for q in p["qas"]}
    assert not questions & evaluation
    [event] = app.audit.events("action = 'dataset.build'")
    assert event["details"]["task"] == "evidence"
