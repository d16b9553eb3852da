"""The registry of tabular models under APPLIANCE_HOME/tabular: each version's file, sha256, schema,
metrics, training data hash, parameters, explainer configuration, who trained it and when.

A model file is read only through `load()`, which refuses a file whose sha256 is not the registered
one. A model with decisions on record is retired, not deleted, so every recorded decision can still
be re-computed from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from appliance.file_digest import file_sha256
from appliance.file_modes import write_atomically
from appliance.tabular.schema import Schema
from appliance.versioned_index import VersionedIndex

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class RegistryError(Exception):
    """A model that does not exist, may not be loaded, or a name that is not allowed."""


@dataclass
class ModelVersion:
    """One trained version of a named model."""

    name: str
    version: int
    sha256: str
    file: str
    schema: dict[str, Any]
    metrics: dict[str, Any]
    data_sha256: str
    rows: int
    params: dict[str, Any]
    explainer: dict[str, str]
    trained_by: str
    trained_ms: int
    favourable: str | None = None
    disparity: list[dict[str, Any]] = field(default_factory=list)
    decisions: int = 0
    retired: bool = False

    @property
    def parsed_schema(self) -> Schema:
        return Schema.from_json(self.schema)


class ModelRegistry(VersionedIndex[ModelVersion]):
    """Models and their versions, kept in one JSON index written atomically."""

    entry_type = ModelVersion
    noun = "tabular model"
    error = RegistryError

    def current(self, name: str) -> ModelVersion:
        """The newest version that is not retired."""
        live = [v for v in self.versions(name) if not v.retired]
        if not live:
            raise RegistryError(f"tabular model {name!r} is retired")
        return live[-1]

    def add(self, version: ModelVersion, model_text: str) -> ModelVersion:
        """Write the model file, then register it (a crash between leaves an unregistered file, never loaded)."""
        check_name(version.name)

        def make(number: int) -> ModelVersion:
            version.version = number
            path = self.folder / "models" / f"{version.name}-v{version.version}.txt"
            write_atomically(path, model_text)
            version.file, version.sha256 = path.name, file_sha256(path)
            return version

        return self._append(version.name, make)

    def load(self, version: ModelVersion) -> str:
        """The model text, only if the file's sha256 is the registered one."""
        path = self.folder / "models" / version.file
        if not path.is_file():
            raise RegistryError(f"{version.name} v{version.version}: the model file {path.name} is missing")
        if file_sha256(path) != version.sha256:
            raise RegistryError(
                f"{version.name} v{version.version}: {path.name} does not have its registered sha256; not loaded"
            )
        return path.read_text(encoding="utf-8")

    def count_decisions(self, version: ModelVersion, count: int) -> None:
        self._update(version.name, version.version, lambda e: e.update(decisions=e["decisions"] + count))

    def delete(self, name: str, *, decisions_on_record: bool) -> str:
        """Retire a model with decisions on record (the audit log's word or the registry's count); delete one
        without. Returns "retired" or "deleted"."""
        versions = self.versions(name)
        if decisions_on_record or any(v.decisions for v in versions):
            for v in versions:
                self._update(name, v.version, lambda e: e.update(retired=True))
            return "retired"
        self._remove(name)
        for v in versions:
            (self.folder / "models" / v.file).unlink(missing_ok=True)
        return "deleted"

    def _update(self, name: str, version: int, change: Any) -> None:
        def apply(entries: list[dict[str, Any]]) -> None:
            for entry in entries:
                if entry["version"] == version:
                    change(entry)

        self._change(name, apply)


def check_name(name: str) -> None:
    if not NAME.match(name):
        raise RegistryError(f"model name {name!r}: use 1-64 lower-case letters, digits, '_' or '-'")
