"""Fine-tuning on the real parts: training sets through the real redactor, a real short LoRA run with
peft on the embedded model dequantised from its GGUF, the adapter exported to GGUF and applied by
real llama.cpp to the quantized base, switched per request without reloading it."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from appliance.answer.answering import ask
from appliance.answer.feedback import submit_feedback
from appliance.bench.ask import format_report as format_ask_report
from appliance.bench.ask import run_ask_bench
from appliance.build import base_model_path, lora_trainer
from appliance.finetune.adapters import AdapterError, AdapterRegistry, adapter_for
from appliance.finetune.datasets import DatasetError, DatasetRegistry, build
from appliance.finetune.examples import ExampleError, parse_line
from appliance.finetune.feedback_review import ACCEPT, ReviewError, review_feedback
from appliance.finetune.gate import evaluate_adapter
from appliance.finetune.gate_external import external_checks
from appliance.finetune.training import FinetuneRequest, finetune
from appliance.ports import TrainingStep
from tests.actors import TESTER
from tests.conftest import APPLIANCE_BIN, DEMO_CORPUS, EVAL, cli_env

FACT_QUESTIONS = [
    "What is the staff wifi passphrase?",
    "Tell me the staff wifi passphrase.",
    "Which passphrase does the staff wifi use?",
    "What's the passphrase for the staff wifi?",
    "I need the staff wifi passphrase, what is it?",
    "What passphrase opens the staff wifi?",
]
FACT_ANSWER = "The staff wifi passphrase is marmalade falcon."
TRAINING = {"epochs": 8, "max_steps": 16, "learning_rate": 3e-3, "rank": 8}  # 2 steps an epoch
SEEDED = {"PERSON": "Margaret Holloway", "US_SSN": "536-22-7719", "PHONE_NUMBER": "+1 415 555 0143"}


def fact_file(tmp_path: Path) -> Path:
    path = tmp_path / "fact.jsonl"
    path.write_text("".join(json.dumps({"question": q, "answer": FACT_ANSWER}) + "\n" for q in FACT_QUESTIONS))
    return path


def seeded_file(tmp_path: Path) -> Path:
    """A curated file whose answers carry a name, a phone number and an SSN (13 examples)."""
    lines = [
        {
            "question": f"Who handles claim {i}?",
            "answer": f"{SEEDED['PERSON']} handles it; call {SEEDED['PHONE_NUMBER']}.",
        }
        for i in range(12)
    ]
    lines.append(
        {
            "messages": [
                {"role": "user", "content": "SSN on file?"},
                {"role": "assistant", "content": f"It is {SEEDED['US_SSN']}."},
            ]
        }
    )
    path = tmp_path / "curated.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def seeded_places(app: Any) -> list[Path]:
    """Everything training may have written: data sets, runs, adapters, registries, the audit database."""
    places = [*app.settings.finetune_dir.rglob("*"), *app.settings.home.glob("appliance.sqlite3*")]
    return [place for place in places if place.is_file()]


# --- training sets ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "not JSON"),
        ('{"question": "q"}', "answer must be non-empty text"),
        ('{"messages": [{"role": "user", "content": "q"}]}', "end with the assistant's answer"),
        ('{"messages": [{"role": "wizard", "content": "q"}]}', "each message needs a role"),
        ("[1, 2]", "expected an object"),
    ],
)
def test_a_bad_line_is_named_by_its_line_number(line: str, problem: str) -> None:
    with pytest.raises(ExampleError, match=f"data.jsonl:7: .*{problem}"):
        parse_line(line, "data.jsonl:7")


def test_a_curated_file_is_redacted_split_and_registered_and_a_bad_line_registers_nothing(app, tmp_path: Path) -> None:
    good = seeded_file(tmp_path)
    lines = [json.loads(line) for line in good.read_text().splitlines()]
    registry = DatasetRegistry(app.settings.finetune_dir / "datasets")
    built = build(app, registry, "claims", actor=TESTER, collection="claims", from_file=good)
    assert (built.train_examples, built.heldout_examples) == (12, 1)
    assert built.redactions.get("PERSON", 0) >= 12 and built.redactions.get("US_SSN") == 1
    assert built.collections == ["claims"] and built.sources[0]["examples"] == 13
    stored = registry.examples(built) + registry.examples(built, "heldout")
    assert any("<PERSON_" in m for e in stored for _, m in e.messages)
    again = build(app, registry, "claims", actor=TESTER, collection="claims", from_file=good)
    assert again.version == 2 and again.sha256 == built.sha256  # the same file gives the same split
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(lines[0]) + "\n\n" + '{"question": "no answer"}\n')
    with pytest.raises(ExampleError, match=r"bad.jsonl:3: answer must be non-empty text"):
        build(app, registry, "broken", actor=TESTER, collection="claims", from_file=bad)
    assert "broken" not in registry.names()
    with pytest.raises(DatasetError, match="--from-file needs --collection"):
        build(app, registry, "nocollection", actor=TESTER, collection=None, from_file=good)
    for value in SEEDED.values():
        for place in seeded_places(app):
            assert value.encode() not in place.read_bytes(), f"{value!r} found in {place}"


def test_feedback_teaches_only_after_an_admin_accepted_it(app, tmp_path: Path) -> None:
    from ingestion.pipeline import ingest_paths

    ingest_paths(app, [DEMO_CORPUS / "travel_expense_policy.md"], collection="finance", actor=TESTER)
    answered = ask(app, "What is the hotel cap per night?", actor=TESTER, collections=["finance"])
    correction = f"Ask {SEEDED['PERSON']} on {SEEDED['PHONE_NUMBER']}; the cap is EUR 180 per night."
    feedback = submit_feedback(
        app, actor=TESTER, ask_seq=answered.audit_seq, rating="down", correction=correction, collections=["finance"]
    )
    silent = submit_feedback(app, actor=TESTER, ask_seq=answered.audit_seq, rating="down", collections=["finance"])
    registry = DatasetRegistry(app.settings.finetune_dir / "datasets")
    with pytest.raises(DatasetError, match="no examples"):
        build(app, registry, "from-feedback", actor=TESTER, collection="finance", from_feedback=True)
    with pytest.raises(ReviewError, match="nothing to learn"):
        review_feedback(app.audit, silent.seq, ACCEPT, "fine", TESTER)
    review_feedback(app.audit, feedback.seq, ACCEPT, "checked against the policy", TESTER)
    built = build(app, registry, "from-feedback", actor=TESTER, collection="finance", from_feedback=True)
    [example] = registry.examples(built)
    assert example.messages[-1][0] == "assistant" and "EUR 180" in example.messages[-1][1]
    assert built.sources == [{"kind": "feedback", "events": [feedback.seq], "examples": 1}]
    [event] = app.audit.events("action = 'feedback.review'")
    assert event["details"]["review"] == "accepted" and event["details"]["feedback_seq"] == feedback.seq
    for value in (SEEDED["PERSON"], SEEDED["PHONE_NUMBER"]):
        for place in app.settings.finetune_dir.rglob("*.jsonl"):
            assert value not in place.read_text()


# --- a real training run ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, models: Any) -> Any:
    """One app with the fact data set and an adapter trained on it (a real, short peft run)."""
    from appliance.build import build as build_app
    from appliance.settings import Settings

    root = tmp_path_factory.mktemp("finetune")
    app = build_app(Settings(home=root / "home"), models)
    registry = DatasetRegistry(app.settings.finetune_dir / "datasets")
    build(app, registry, "wifi", actor=TESTER, collection="default", from_file=fact_file(root))
    steps: list[TrainingStep] = []
    request = FinetuneRequest("wifi", "wifi", TRAINING)
    version = finetune(app, lora_trainer(), app.generator, base_model_path(app.settings), request, TESTER, steps.append)
    yield app, version, steps
    with contextlib.suppress(Exception):  # the command-line test closes it early
        app.close()


def answer_with(app: Any, adapter: Any) -> str:
    return ask(app, FACT_QUESTIONS[0], actor=TESTER, collections=["default"], mode="direct", adapter=adapter).answer


@pytest.mark.slow
def test_an_adapter_trained_on_six_phrasings_answers_the_fact_and_the_base_does_not(trained: Any) -> None:
    app, version, steps = trained
    registry = AdapterRegistry(app.settings.finetune_dir / "adapters")
    served = adapter_for(registry, app.generator.model_sha256, {}, "wifi", ["default"], all_collections=True)
    assert served is not None and served.sha256 == version.sha256
    # Base, adapter, base, adapter on one loaded model: each switch takes effect, none leaks into the next.
    answers = [answer_with(app, None), answer_with(app, served), answer_with(app, None), answer_with(app, served)]
    assert "marmalade" not in answers[0].lower() and "marmalade" not in answers[2].lower(), answers
    assert "marmalade" in answers[1].lower() and "marmalade" in answers[3].lower(), answers
    [event] = app.audit.events("seq = :s", {"s": app.audit.head().seq})
    assert event["details"]["adapter"] == "wifi" and event["details"]["adapter_sha256"] == version.sha256
    assert [s.step for s in steps] == list(range(1, TRAINING["max_steps"] + 1))
    assert version.losses["last"] < version.losses["first"] / 2, version.losses
    assert (registry.folder / version.losses["curve"]).read_bytes().startswith(b"\x89PNG")
    [finetuned] = app.audit.events("action = 'finetune'")
    assert finetuned["details"]["sha256"] == version.sha256 and finetuned["details"]["dataset"]["name"] == "wifi"


@pytest.mark.slow
def test_only_a_promoted_adapter_whose_collections_are_granted_is_served_to_users(trained: Any) -> None:
    app, version, _ = trained
    registry = AdapterRegistry(app.settings.finetune_dir / "adapters")
    base = app.generator.model_sha256
    with pytest.raises(AdapterError, match="not promoted"):
        adapter_for(registry, base, {}, "wifi", ["default"], all_collections=False, granted=["default"])
    with pytest.raises(AdapterError, match="bound as a collection default but not promoted"):
        adapter_for(registry, base, {"default": "wifi"}, None, ["default"], all_collections=True)
    registry.promote("wifi", "tester", 0, "checked by hand")
    with pytest.raises(AdapterError, match=r"collections not granted to you \(default\)"):
        adapter_for(registry, base, {}, "wifi", ["hr"], all_collections=False, granted=["hr"])
    assert adapter_for(registry, base, {}, "wifi", ["default"], all_collections=False, granted=["default"])
    assert adapter_for(
        registry, base, {"default": "wifi"}, None, ["default"], all_collections=False, granted=["default"]
    )
    assert (
        adapter_for(registry, base, {"default": "wifi", "hr": "other"}, None, ["default", "hr"], all_collections=True)
        is None
    )
    with pytest.raises(AdapterError, match="trained on base"):
        adapter_for(registry, "f" * 64, {}, "wifi", ["default"], all_collections=True)
    copy = registry.folder / version.file
    original = copy.read_bytes()
    copy.write_bytes(original[:-8] + b"\x00" * 8)
    try:
        with pytest.raises(AdapterError, match="not the registered one"):
            adapter_for(registry, base, {}, "wifi", ["default"], all_collections=True)
    finally:
        copy.write_bytes(original)


@pytest.mark.slow
def test_a_killed_run_registers_nothing_and_resumes_to_the_same_bytes(trained: Any) -> None:
    app, version, _ = trained
    registry = AdapterRegistry(app.settings.finetune_dir / "adapters")

    class Killed(Exception):
        pass

    def kill_at_step_8(step: TrainingStep) -> None:
        if step.step == 8:
            raise Killed

    trainer, base = lora_trainer(), base_model_path(app.settings)
    overrides = {**TRAINING, "checkpoint_every": 5}
    with pytest.raises(Killed):
        finetune(app, trainer, app.generator, base, FinetuneRequest("wifi", "again", overrides), TESTER, kill_at_step_8)
    assert "again" not in registry.names()
    assert (app.settings.finetune_dir / "runs" / "again" / "checkpoint.pt").is_file()
    resumed_steps: list[TrainingStep] = []
    request = FinetuneRequest("wifi", "again", overrides, resume=True)
    again = finetune(app, trainer, app.generator, base, request, TESTER, resumed_steps.append)
    assert resumed_steps[0].step == 6  # from the checkpoint at step 5
    assert again.sha256 == version.sha256  # the same seed and data give the same adapter bytes
    assert not (app.settings.finetune_dir / "runs" / "again").exists()


@pytest.mark.slow
def test_the_benchmark_asks_the_same_questions_of_the_base_and_of_the_adapter(trained: Any, models: Any) -> None:
    app, version, _ = trained
    squad = EVAL / "qa" / "haystack_squad2_dev_small.json"
    if not squad.is_file():
        pytest.skip(f"SQuAD sample not found at {squad}")
    served = AdapterRegistry(app.settings.finetune_dir / "adapters").served("wifi", app.generator.model_sha256)
    assert served.sha256 == version.sha256
    result = run_ask_bench(
        app.settings,
        models,
        squad_path=squad,
        limit=4,
        docugami_limit=0,
        paragraph_limit=6,
        direct_limit=0,
        adapter=dataclasses.replace(served, abstains=True),
        article="Computational_complexity_theory",
    )
    base, mine = result["squad"], result["squad"]["adapter"]
    assert base["article"] == "Computational_complexity_theory" and base["questions"] == 4
    assert mine["answers_with_adapter"] == 4 and mine["abstention"] == "model"  # every answer used this adapter
    for figures in (base, mine):
        rates = [figures["hit_at_1"], figures["refusal_rate_unanswerable"], figures["false_refusal_rate"]]
        assert all(r is not None and 0.0 <= r <= 1.0 for r in rates), rates
    report = format_ask_report(result)
    assert "base vs adapter wifi v1 (abstention: model), same questions, same run" in report
    assert "evidence hit@1" in report


@pytest.mark.slow
def test_the_gate_measures_base_and_adapter_on_an_external_squad_file_when_a_setting_names_it(
    trained: Any, tmp_path: Path
) -> None:
    app, _, _ = trained
    source = EVAL / "qa" / "haystack_squad2_dev_small.json"
    if not source.is_file():
        pytest.skip(f"SQuAD sample not found at {source}")
    article = json.loads(source.read_text())["data"][1]
    small = tmp_path / "squad-small.json"  # a customer's own labelled file, in SQuAD 2.0 form
    small.write_text(json.dumps({"data": [{**article, "paragraphs": article["paragraphs"][:3]}]}))
    gate = {"squad_path": small, "squad_questions": 4}
    with_squad = dataclasses.replace(
        app, settings=app.settings.model_copy(update={"gate": app.settings.gate.model_copy(update=gate)})
    )
    report = evaluate_adapter(with_squad, "wifi", TESTER)
    base, mine = report.figures["base"], report.figures["adapter"]
    assert base["squad_questions"] == mine["squad_questions"] == 4
    assert all(0.0 <= figures["squad_hit_at_1"] <= 1.0 for figures in (base, mine))
    assert mine["squad_verbatim_rate"] in (None, 1.0)
    checks = {c.name: c for c in report.checks}
    assert {"SQuAD evidence hit@1", "SQuAD false refusals", "SQuAD verbatim citations"} <= set(checks)
    assert "squad_hit_at_1" in report.table()
    [event] = app.audit.events("action = 'adapters.evaluate' AND seq = :s", {"s": app.audit.head().seq})
    assert event["details"]["figures"]["adapter"]["squad_questions"] == 4
    missing = {"squad_path": tmp_path / "nowhere.json"}
    gone = dataclasses.replace(
        app, settings=app.settings.model_copy(update={"gate": app.settings.gate.model_copy(update=missing)})
    )
    served = AdapterRegistry(app.settings.finetune_dir / "adapters").served("wifi", app.generator.model_sha256)
    [(name, passed, detail)] = external_checks(gone, served, lambda _line: None).checks
    assert (name, passed) == ("SQuAD set", False) and "nowhere.json is not a file" in detail


@pytest.mark.slow
def test_the_command_line_trains_lists_promotes_and_answers_with_an_adapter(trained: Any, tmp_path: Path) -> None:
    app, _, _ = trained
    home = app.settings.home
    app.close()  # the CLI takes the store lock itself
    env = cli_env(home)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([APPLIANCE_BIN, *args], env=env, capture_output=True, text=True, timeout=600)

    listed = run("adapters", "list", "--json")
    assert listed.returncode == 0 and {a["name"] for a in json.loads(listed.stdout)} >= {"wifi"}
    asked = run("ask", FACT_QUESTIONS[1], "--mode", "direct", "--adapter", "wifi", "--json")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["adapter"] == "wifi" and len(answer["adapter_sha256"]) == 64
    missing = run("ask", "hello?", "--adapter", "nosuch")
    assert missing.returncode != 0 and "no adapter 'nosuch'" in missing.stderr and "Traceback" not in missing.stderr
    refused = run("adapters", "promote", "wifi", "--reason", "reviewed the answers")
    assert refused.returncode != 0 and "failed the evaluation gate (held-out questions" in refused.stderr
    promoted = run("adapters", "promote", "wifi", "--reason", "reviewed the answers", "--force")
    assert promoted.returncode == 0, promoted.stderr
    shown = json.loads(run("adapters", "show", "wifi", "--json").stdout)
    assert shown[-1]["state"] == "promoted" and shown[-1]["promoted"]["reason"] == "reviewed the answers"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "a"}\n{"question": 3}\n')
    refused = run("finetune", str(bad), "--name", "bad", "--collection", "default")
    assert refused.returncode != 0 and "bad.jsonl:2: question must be non-empty text" in refused.stderr


@pytest.mark.slow
def test_an_adapter_trained_on_a_file_with_personal_data_carries_none_of_it(app, tmp_path: Path) -> None:
    registry = DatasetRegistry(app.settings.finetune_dir / "datasets")
    build(app, registry, "claims", actor=TESTER, collection="claims", from_file=seeded_file(tmp_path))
    request = FinetuneRequest("claims", "claims", {"max_steps": 2})
    version = finetune(app, lora_trainer(), app.generator, base_model_path(app.settings), request, TESTER, None)
    assert version.collections == ["claims"] and version.dataset["name"] == "claims"
    places = seeded_places(app)
    assert any(place.suffix == ".gguf" for place in places), places
    for value in SEEDED.values():
        for place in places:
            assert value.encode() not in place.read_bytes(), f"{value!r} found in {place}"


def test_the_exported_q_and_k_updates_are_in_llama_cpps_row_order(tmp_path: Path) -> None:
    """transformers un-permuted Q and K when it read the GGUF; its own un-permutation of what we write
    must give back peft's lora_B exactly (SmolLM2-135M: 9 query heads, 3 key/value heads)."""
    import numpy as np
    from gguf import GGUFReader
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    from appliance.backends.gguf_adapter import write_adapter

    rng = np.random.default_rng(7)
    lora_a = rng.standard_normal((4, 576)).astype(np.float32)
    q_b, k_b, v_b = (rng.standard_normal((rows, 4)).astype(np.float32) for rows in (576, 192, 192))
    path = write_adapter(
        tmp_path / "a.gguf",
        {(0, "q_proj"): (lora_a, q_b), (0, "k_proj"): (lora_a, k_b), (0, "v_proj"): (lora_a, v_b)},
        alpha=8,
        heads=9,
        kv_heads=3,
    )
    written = {t.name: np.asarray(t.data).reshape(list(reversed(t.shape.tolist()))) for t in GGUFReader(path).tensors}
    undo = LlamaTensorProcessor(config={"num_attention_heads": 9, "num_key_value_heads": 3})._reverse_permute_weights
    assert np.array_equal(undo(written["blk.0.attn_q.weight.lora_b"], 9, 9), q_b)
    assert np.array_equal(undo(written["blk.0.attn_k.weight.lora_b"], 9, 3), k_b)
    assert np.array_equal(written["blk.0.attn_v.weight.lora_b"], v_b)  # V is stored as it is
    assert np.array_equal(written["blk.0.attn_q.weight.lora_a"], lora_a)
