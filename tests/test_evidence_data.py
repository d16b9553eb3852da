"""Evidence training sets from a collection's own documents, on the real parts: the real spaCy
question rules, the real redactor, retrieval and ranking as `ask` does them."""

from __future__ import annotations

import json
import random
from typing import Any

from appliance.build import question_writer
from appliance.finetune.datasets import DatasetRegistry, build
from appliance.finetune.evidence_data import changed_detail, detail_pool, mask_details, target_ids
from appliance.finetune.examples import Example
from ingestion.pipeline import ingest_paths
from tests.actors import TESTER
from tests.conftest import DEMO_CORPUS, EVAL


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
    assert checks["unanswerable_changed_detail"] > 0, checks
    # A changed-detail example shows the very sentence that answered the original question, yet targets [].
    answered = {mask_details(question_of(e)): sentence_of(e) for e in examples if target_ids(e)}
    asked = {question_of(e) for e in examples if target_ids(e)}
    changed = [
        e
        for e in examples
        if not target_ids(e) and question_of(e) not in asked and mask_details(question_of(e)) in answered
    ]
    assert len(changed) == checks["unanswerable_changed_detail"], checks
    assert all(answered[mask_details(question_of(e))] in e.messages[1][1] for e in changed)
    questions = {e.messages[1][1].rsplit("Question:", 1)[1].strip() for e in examples}
    train_q = {e.messages[1][1].rsplit("Question:", 1)[1].strip() for e in registry.examples(built)}
    held_q = {e.messages[1][1].rsplit("Question:", 1)[1].strip() for e in registry.examples(built, "heldout")}
    assert not train_q & held_q  # a question's answerable and unanswerable forms stay on one side
    train_masked = {mask_details(q) for q in train_q}
    assert not train_masked & {mask_details(q) for q in held_q}  # its changed-detail form too
    squad = json.loads((EVAL / "qa" / "haystack_squad2_dev_small.json").read_text())
    evaluation = {q["question"].strip() for a in squad["data"] for p in a["paragraphs"] for q in p["qas"]}
    assert not questions & evaluation
    [event] = app.audit.events("action = 'dataset.build'")
    assert event["details"]["task"] == "evidence"


def question_of(example: Example) -> str:
    return example.messages[1][1].rsplit("Question:", 1)[1].strip()


def sentence_of(example: Example) -> str:
    """The candidate sentence an answerable example targets."""
    [target] = target_ids(example)
    return example.messages[1][1].split(f"[{target}] ", 1)[1].split("\n", 1)[0]


def test_a_changed_detail_swaps_one_detail_the_sentence_holds_for_one_of_its_kind_it_does_not() -> None:
    sentences = [
        "In 1097 <PERSON_9> took Antioch from the Turks.",
        "The Duchy of Normandy was founded in 911 by Rollo.",
        "Later <PERSON_3> ruled Sicily.",
    ]
    pool = detail_pool(sentences)
    assert "Later" not in pool["name"] and "The Duchy" not in pool["name"]  # first words are not names
    assert pool["number"] == ["1097", "911"] and pool["pseudonym:<PERSON"] == ["<PERSON_9>", "<PERSON_3>"]
    for seed in range(20):
        found = changed_detail("When did <PERSON_9> take Antioch?", sentences[0], pool, random.Random(seed))
        assert found is not None
        question, new = found
        assert new not in sentences[0] and question.replace(new, "", 1) in {
            "When did  take Antioch?",
            "When did <PERSON_9> take ?",
        }
        assert mask_details(question) == mask_details("When did <PERSON_9> take Antioch?")
    assert changed_detail("Who ruled it?", sentences[2], pool, random.Random(0)) is None  # no shared detail
