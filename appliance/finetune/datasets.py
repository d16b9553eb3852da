"""Training sets: versioned under APPLIANCE_HOME/finetune/datasets, split once with a fixed seed.

`build()` gathers examples from a curated JSONL file (every line redacted with the collection's
pseudonyms) and from accepted feedback, splits them into a training and a held-out part, writes
both files whole (or not at all), and registers the version with its sha256, size and sources.
A bad line stops the build with its line number: a training set is made from what its owner
meant, or not at all.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.actors import Actor
from appliance.app import Appliance
from appliance.audit import events as audit_events
from appliance.file_digest import file_sha256
from appliance.file_modes import write_atomically
from appliance.finetune.evidence_data import QuestionWriter, evidence_examples, mask_details
from appliance.finetune.examples import Example, ExampleError, read_jsonl, redacted
from appliance.finetune.feedback_review import accepted_items
from appliance.store.collection_names import check_collection_name
from appliance.versioned_index import VersionedIndex

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
TASKS = ("answer", "evidence")


class DatasetError(ValueError):
    """A data set that does not exist, cannot be built, or a name that is not allowed."""


@dataclass
class Dataset:
    """One built version of a named training set."""

    name: str
    version: int
    task: str
    sha256: str  # of the training file, then the held-out file
    train_file: str
    heldout_file: str
    train_examples: int
    heldout_examples: int
    bytes: int
    collections: list[str]
    sources: list[dict[str, Any]]
    redactions: dict[str, int]
    built_by: str
    built_ms: int
    seed: int
    extra: dict[str, Any] = field(default_factory=dict)


class DatasetRegistry(VersionedIndex[Dataset]):
    """Training sets and their versions, kept in one JSON index written atomically."""

    entry_type = Dataset
    noun = "data set"
    error = DatasetError

    def examples(self, dataset: Dataset, part: str = "train") -> list[Example]:
        """The examples of one part, after checking the files are the registered ones."""
        train, heldout = self.folder / dataset.train_file, self.folder / dataset.heldout_file
        if _pair_sha256(train, heldout) != dataset.sha256:
            raise DatasetError(f"data set {dataset.name} v{dataset.version}: its files are not the registered ones")
        path = train if part == "train" else heldout
        return [Example.from_json(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line]

    def add(self, dataset: Dataset, train: list[Example], heldout: list[Example]) -> Dataset:
        """Write both parts, then register them (a crash between leaves unregistered files, never used)."""

        def make(number: int) -> Dataset:
            dataset.version = number
            stem = f"{dataset.name}-v{dataset.version}"
            train_path = write_atomically(self.folder / f"{stem}.train.jsonl", _jsonl(train))
            heldout_path = write_atomically(self.folder / f"{stem}.heldout.jsonl", _jsonl(heldout))
            dataset.train_file, dataset.heldout_file = train_path.name, heldout_path.name
            dataset.sha256 = _pair_sha256(train_path, heldout_path)
            dataset.bytes = train_path.stat().st_size + heldout_path.stat().st_size
            return dataset

        return self._append(dataset.name, make)

    def delete(self, name: str) -> int:
        """Remove every version of `name` and its files; the number of versions removed."""
        removed = self._remove(name)
        for dataset in removed:
            (self.folder / dataset.train_file).unlink(missing_ok=True)
            (self.folder / dataset.heldout_file).unlink(missing_ok=True)
        return len(removed)


def check_name(name: str) -> None:
    if not NAME.match(name):
        raise DatasetError(f"data set name {name!r}: use 1-64 lower-case letters, digits, '_' or '-'")


def build(
    app: Appliance,
    registry: DatasetRegistry,
    name: str,
    *,
    actor: Actor,
    collection: str | None,
    from_file: Path | None = None,
    from_feedback: bool = False,
    task: str = "answer",
    question_writer: QuestionWriter | None = None,
    progress: Callable[[str], None] | None = None,
) -> Dataset:
    """Gather, redact, split and register a training set; audited as `dataset.build`."""
    check_name(name)
    if task == "evidence":
        return _build_evidence(app, registry, name, actor, collection, question_writer, progress)
    if task not in TASKS:
        raise DatasetError(f"task {task!r}: one of {', '.join(TASKS)}")
    if from_file is None and not from_feedback:
        raise DatasetError("say where the examples come from: --from-file JSONL and/or --from-feedback")
    if from_file is not None and collection is None:
        raise DatasetError("--from-file needs --collection: it decides whose pseudonyms apply")
    if collection is not None:
        check_collection_name(collection)
    examples: list[Example] = []
    sources: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    if from_file is not None:
        assert collection is not None
        lines = 0
        for _, example in read_jsonl(from_file):
            clean, found = redacted(example, app.redactor, collection)
            examples.append(clean)
            counts.update(found)
            lines += 1
        sources.append({"kind": "file", "name": from_file.name, "sha256": file_sha256(from_file), "examples": lines})
    collections = [collection] if collection else []
    if from_feedback:
        accepted = accepted_items(app.audit, collection)
        examples += [item.example for item in accepted if item.example is not None]
        sources.append({"kind": "feedback", "events": [item.seq for item in accepted], "examples": len(accepted)})
        if collection is None:
            collections = sorted({item.collection for item in accepted})
    if not examples:
        raise DatasetError(f"data set {name}: no examples (nothing in the file, or no accepted feedback)")
    return _register(app, registry, name, actor, "answer", examples, collections, sources, counts)


def _build_evidence(
    app: Appliance,
    registry: DatasetRegistry,
    name: str,
    actor: Actor,
    collection: str | None,
    question_writer: QuestionWriter | None,
    progress: Callable[[str], None] | None,
) -> Dataset:
    """Evidence examples from the collection's stored documents (evidence_data.py), questions redacted."""
    if collection is None:
        raise DatasetError("--task evidence needs --collection: its documents are the material")
    check_collection_name(collection)
    if question_writer is None:
        raise DatasetError("--task evidence needs a question writer")
    redactions: Counter[str] = Counter()

    def write_questions(sentence: str) -> list[tuple[str, str]]:
        pairs = question_writer(sentence)
        if not pairs:
            return []
        clean, found = app.redactor.redact_texts([q for q, _ in pairs], collection)
        redactions.update(found)
        return [(q, a) for q, (_, a) in zip(clean, pairs, strict=True)]

    ft = app.settings.finetune
    examples, counts = evidence_examples(app, collection, write_questions, ft.evidence_examples, ft.seed, progress)
    if not examples:
        raise DatasetError(
            f"data set {name}: no evidence examples from collection {collection} "
            f"({counts['sentences']} sentences, {counts['questions']} questions, none passed the checks)"
        )
    sources = [{"kind": "documents", "collection": collection, "examples": len(examples), "checks": dict(counts)}]
    return _register(app, registry, name, actor, "evidence", examples, [collection], sources, redactions)


def _register(
    app: Appliance,
    registry: DatasetRegistry,
    name: str,
    actor: Actor,
    task: str,
    examples: list[Example],
    collections: list[str],
    sources: list[dict[str, Any]],
    counts: Counter[str],
) -> Dataset:
    seed = app.settings.finetune.seed
    train, heldout = split(examples, app.settings.finetune.held_out_fraction, seed)
    dataset = Dataset(
        name=name,
        version=0,
        task=task,
        sha256="",
        train_file="",
        heldout_file="",
        train_examples=len(train),
        heldout_examples=len(heldout),
        bytes=0,
        collections=collections,
        sources=sources,
        redactions=dict(counts),
        built_by=actor.name,
        built_ms=int(time.time() * 1000),
        seed=seed,
    )
    registry.add(dataset, train, heldout)
    app.audit.record(actor, audit_events.DATASET_BUILD, subject=name, details=dataset_details(dataset))
    return dataset


def split(examples: list[Example], held_out: float, seed: int) -> tuple[list[Example], list[Example]]:
    """A seeded shuffle of the questions, then the first share held out (none when there are too few).

    Examples that ask the same question (an evidence question with and without its answer) stay
    on the same side, so no held-out question was ever seen in training.
    """
    groups: dict[str, list[Example]] = {}
    for example in examples:
        groups.setdefault(_question_of(example), []).append(example)
    keys = list(groups)
    random.Random(seed).shuffle(keys)
    cut = int(len(keys) * held_out) if len(keys) >= 10 else 0
    return [e for k in keys[cut:] for e in groups[k]], [e for k in keys[:cut] for e in groups[k]]


def _question_of(example: Example) -> str:
    """The last user message before the answer. Of an evidence prompt: the question without the
    candidate list, with its details masked, so that a question and its changed-detail form stay on
    one side (curated questions that differ only in a name are different questions: kept apart)."""
    users = [content for role, content in example.messages[:-1] if role == "user"]
    if not users:
        return json.dumps(example.to_json())
    if "</documents>" not in users[-1]:
        return users[-1]
    return mask_details(users[-1].rsplit("Question:", 1)[-1].strip())


def dataset_details(dataset: Dataset) -> dict[str, Any]:
    """The audit event of a build: identity, size and sources (never the examples' text)."""
    return {
        "version": dataset.version,
        "task": dataset.task,
        "sha256": dataset.sha256,
        "train_examples": dataset.train_examples,
        "heldout_examples": dataset.heldout_examples,
        "collections": dataset.collections,
        "sources": dataset.sources,
        "redactions": dataset.redactions,
    }


def _jsonl(examples: list[Example]) -> str:
    return "".join(json.dumps(e.to_json(), ensure_ascii=False, sort_keys=True) + "\n" for e in examples)


def _pair_sha256(first: Path, second: Path) -> str:
    digest = hashlib.sha256()
    for path in (first, second):
        digest.update(path.read_bytes())
    return digest.hexdigest()


__all__ = ["TASKS", "Dataset", "DatasetError", "DatasetRegistry", "ExampleError", "build", "check_name", "split"]
