"""The adapter registry under APPLIANCE_HOME/finetune/adapters, and who may be served which adapter.

Each version records the adapter's sha256, the base model's sha256, the data set it learnt from
(name, version, sha256, size, collections), the parameters, the losses, wall time, device, who and
when, and a state: `trained`, then `promoted` by an admin with a reason (audited). An adapter is
never applied to a base with another sha256, and never read from a file whose sha256 is not the
registered one.

An adapter carries its data: a model trained on a collection's text can repeat it. So it is
served only to someone granted every collection its data came from, and only a promoted one to
anyone but admins and the operator.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.file_digest import file_sha256
from appliance.file_modes import write_atomically
from appliance.versioned_index import VersionedIndex

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
TRAINED, PROMOTED = "trained", "promoted"


class AdapterError(ValueError):
    """An adapter that does not exist, may not be served here or to this caller, or a bad name."""


@dataclass
class AdapterVersion:
    """One trained version of a named adapter."""

    name: str
    version: int
    sha256: str
    file: str
    base_model: str
    base_sha256: str
    dataset: dict[str, Any]
    collections: list[str]
    params: dict[str, Any]
    losses: dict[str, Any]  # first, last, steps, and the curve's PNG file name
    tokens: int
    seconds: float
    device: str
    trained_by: str
    trained_ms: int
    state: str = TRAINED
    promoted: dict[str, Any] = field(default_factory=dict)  # by, ms, reason
    evaluation: dict[str, Any] = field(default_factory=dict)  # the gate's last verdict on this file (gate.py)

    def abstains(self) -> bool:
        """Whether the gate approved this very file to decide abstention (an empty pick is a refusal)."""
        return bool(self.evaluation.get("abstention_approved")) and self.evaluation.get("sha256") == self.sha256


@dataclass(frozen=True)
class ServedAdapter:
    """The adapter one answer is generated with: what the answer JSON and the audit event name."""

    name: str
    version: int
    sha256: str
    path: Path
    abstains: bool = False  # the gate approved it to decide abstention


class AdapterRegistry(VersionedIndex[AdapterVersion]):
    """Adapters and their versions, kept in one JSON index written atomically."""

    entry_type = AdapterVersion
    noun = "adapter"
    error = AdapterError

    def add(self, version: AdapterVersion, adapter_file: Path, loss_png: bytes | None) -> AdapterVersion:
        """Copy the adapter in, then register it: a crash between leaves an unregistered file, never served."""
        check_name(version.name)

        def make(number: int) -> AdapterVersion:
            version.version = number
            stem = f"{version.name}-v{version.version}"
            target = self.folder / f"{stem}.gguf"
            partial = target.with_name(f".{target.name}.partial")
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.copyfile(adapter_file, partial)
            partial.replace(target)
            version.file, version.sha256 = target.name, file_sha256(target)
            if loss_png is not None:
                version.losses["curve"] = write_atomically(self.folder / f"{stem}.loss.png", loss_png).name
            return version

        return self._append(version.name, make)

    def promote(self, name: str, by: str, ms: int, reason: str) -> AdapterVersion:
        """Mark the newest version promoted (servable to users, bindable as a collection's default)."""

        def mark(entries: list[dict[str, Any]]) -> None:
            entries[-1]["state"] = PROMOTED
            entries[-1]["promoted"] = {"by": by, "ms": ms, "reason": reason}

        return self._change(name, mark)[-1]

    def record_evaluation(self, name: str, verdict: dict[str, Any]) -> AdapterVersion:
        """Keep the gate's verdict (pass, abstention, figures' digest) with the newest version."""

        def mark(entries: list[dict[str, Any]]) -> None:
            entries[-1]["evaluation"] = verdict

        return self._change(name, mark)[-1]

    def delete(self, name: str) -> list[AdapterVersion]:
        """Remove every version of `name` and its files."""
        removed = self._remove(name)
        for version in removed:
            (self.folder / version.file).unlink(missing_ok=True)
            if version.losses.get("curve"):
                (self.folder / version.losses["curve"]).unlink(missing_ok=True)
        return removed

    def served(self, name: str, base_sha256: str) -> ServedAdapter:
        """The newest version as a file to apply, after checking its base and its own sha256."""
        version = self.latest(name)
        if version.base_sha256 != base_sha256:
            raise AdapterError(
                f"adapter {name} v{version.version} was trained on base {version.base_sha256[:12]}, "
                f"not on the configured model ({base_sha256[:12]})"
            )
        path = self.folder / version.file
        if not path.is_file() or file_sha256(path) != version.sha256:
            raise AdapterError(f"adapter {name} v{version.version}: the file is not the registered one; refusing it")
        return ServedAdapter(version.name, version.version, version.sha256, path, version.abstains())


def check_name(name: str) -> None:
    if not NAME.match(name):
        raise AdapterError(f"adapter name {name!r}: use 1-64 lower-case letters, digits, '_' or '-'")


def may_serve(version: AdapterVersion, *, all_collections: bool, granted: tuple[str, ...] | list[str]) -> str | None:
    """None when the caller may be served `version`, else why not.

    `all_collections` is true for admins and the operator, who may also use adapters not yet promoted.
    """
    if all_collections:
        return None
    if version.state != PROMOTED:
        return f"adapter {version.name} is not promoted yet; only admins may use it"
    missing = sorted(set(version.collections) - set(granted))
    if missing:
        return f"adapter {version.name} learnt from collections not granted to you ({', '.join(missing)})"
    return None


def default_adapter(bindings: dict[str, str], collections: list[str]) -> str | None:
    """The collections' default adapter when they agree on one, else None (the base answers)."""
    chosen = {bindings.get(collection) for collection in collections}
    return chosen.pop() if len(chosen) == 1 else None


def adapter_for(
    registry: AdapterRegistry,
    base_sha256: str,
    bindings: dict[str, str],
    requested: str | None,
    collections: list[str],
    *,
    all_collections: bool,
    granted: tuple[str, ...] | list[str] = (),
) -> ServedAdapter | None:
    """The adapter to answer with: the one asked for, else the collections' promoted default, else None.

    Raises AdapterError when the caller may not be served it (not promoted, data from collections
    not granted to them, another base, a changed file).
    """
    name = requested or default_adapter(bindings, collections)
    if name is None:
        return None
    version = registry.latest(name)
    if requested is None and version.state != PROMOTED:
        raise AdapterError(f"adapter {name} is bound as a collection default but not promoted; promote it first")
    problem = may_serve(version, all_collections=all_collections, granted=granted)
    if problem is not None:
        raise AdapterError(problem)
    return registry.served(name, base_sha256)
