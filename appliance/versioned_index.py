"""Named things with numbered versions (tabular models, training sets, adapters), kept in one JSON index
per kind under APPLIANCE_HOME, rewritten whole on every change (write_atomically), one writer at a time.

Each registry subclasses this with its entry type, the noun its messages use and its error type;
the files the entries point at are the registry's own business.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from appliance.file_modes import write_atomically

Entry = TypeVar("Entry")
Index = dict[str, list[dict[str, Any]]]


class VersionedIndex(Generic[Entry]):
    """The versions of each name, oldest first, as `entry_type` instances."""

    entry_type: ClassVar[Callable[..., Any]]
    noun: ClassVar[str]
    error: ClassVar[type[Exception]]

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._index = folder / "registry.json"
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(self._read())

    def versions(self, name: str) -> list[Entry]:
        entries = self._read().get(name)
        if not entries:
            raise self.error(f"no {self.noun} {name!r}")
        return [self.entry_type(**entry) for entry in entries]

    def latest(self, name: str) -> Entry:
        return self.versions(name)[-1]

    def _append(self, name: str, make: Callable[[int], Entry]) -> Entry:
        """Register a new version: `make(number)` writes its files and returns the entry to record."""
        with self._lock:
            index = self._read()
            entry = make(len(index.get(name, [])) + 1)
            index.setdefault(name, []).append(asdict(entry))  # type: ignore[call-overload]
            self._write(index)
        return entry

    def _change(self, name: str, change: Callable[[list[dict[str, Any]]], None]) -> list[Entry]:
        """Apply `change` to the stored versions of `name` (under the lock); the versions after it."""
        with self._lock:
            index = self._read()
            entries = index.get(name)
            if not entries:
                raise self.error(f"no {self.noun} {name!r}")
            change(entries)
            self._write(index)
            return [self.entry_type(**entry) for entry in entries]

    def _remove(self, name: str) -> list[Entry]:
        """Forget every version of `name`; the versions it had (their files are the caller's to delete)."""
        with self._lock:
            index = self._read()
            entries = index.pop(name, None)
            if not entries:
                raise self.error(f"no {self.noun} {name!r}")
            self._write(index)
        return [self.entry_type(**entry) for entry in entries]

    def _read(self) -> Index:
        if not self._index.is_file():
            return {}
        data: Index = json.loads(self._index.read_text(encoding="utf-8"))
        return data

    def _write(self, index: Index) -> None:
        write_atomically(self._index, json.dumps(index, indent=1, sort_keys=True))
