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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.actors import Actor
from appliance.app import Appliance
from appliance.audit import events as audit_events
from appliance.file_digest import file_sha256
from appliance.file_modes import write_atomically
from appliance.finetune.examples import Example, ExampleError, read_jsonl, redacted
from appliance.finetune.feedback_review import accepted_items
from appliance.store.collection_names import check_collection_name
from appliance.versioned_index import VersionedIndex

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
TASKS = ("answer",)


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
) -> Dataset:
    """Gather, redact, split and register a training set; audited as `dataset.build`."""
    check_name(name)
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
    seed = app.settings.finetune.seed
    train, heldout = split(examples, app.settings.finetune.held_out_fraction, seed)
    dataset = Dataset(
        name=name,
        version=0,
        task="answer",
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
    """A seeded shuffle, then the first share held out (none when there are too few to spare)."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    cut = int(len(examples) * held_out) if len(examples) >= 10 else 0
    return [examples[i] for i in order[cut:]], [examples[i] for i in order[:cut]]


def dataset_details(dataset: Dataset) -> dict[str, Any]:
    """The audit event of a build: identity, size and sources (never the examples' text)."""
    return {
        "version": dataset.version,
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
