"""Turning the paths an operator names into the files to ingest, refusing unsafe ones."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Candidate:
    """A file to ingest; `path` is how the operator reached it (its doc_id comes from it)."""

    path: Path


@dataclass(frozen=True)
class Refusal:
    """A path that will not be ingested, with the reason."""

    path: Path
    reason: str


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def discover(paths: Iterable[Path]) -> tuple[list[Candidate], list[Refusal]]:
    """Expand folders (sorted, hidden entries skipped), check each file, keep the order given."""
    candidates: list[Candidate] = []
    refusals: list[Refusal] = []
    for raw in paths:
        path = Path(raw).absolute()
        if not path.exists() and not path.is_symlink():
            refusals.append(Refusal(path, "no such file or directory"))
        elif path.is_dir():
            _walk(path, candidates, refusals)
        else:
            _check_file(path, candidates, refusals)
    return candidates, refusals


def _walk(root: Path, candidates: list[Candidate], refusals: list[Refusal]) -> None:
    real_root = root.resolve()
    for folder, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in list(dirnames):
            sub = Path(folder) / name
            if sub.is_symlink():
                dirnames.remove(name)  # never followed: it would escape the tree or loop
                if not _inside(sub.resolve(), real_root):
                    refusals.append(Refusal(sub, "symlink points outside the folder being ingested; refused"))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            if path.is_symlink() and not _inside(path.resolve(), real_root):
                refusals.append(Refusal(path, "symlink points outside the folder being ingested; refused"))
                continue
            _check_file(path, candidates, refusals)


def _check_file(path: Path, candidates: list[Candidate], refusals: list[Refusal]) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        refusals.append(Refusal(path, "broken symlink"))
        return
    except OSError as error:
        refusals.append(Refusal(path, f"cannot read: {error.strerror}"))
        return
    if not stat.S_ISREG(mode):
        refusals.append(Refusal(path, "not a regular file"))
        return
    candidates.append(Candidate(path))
