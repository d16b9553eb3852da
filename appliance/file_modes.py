"""Owner-only state: the umask every entry point sets, whole-or-nothing private files, and the check that
finds state others can read.

APPLIANCE_HOME holds redacted documents, vectors, the audit log and keys. Run from a shell
with the usual umask 022, SQLite and Chroma create their files 0644, readable by every local
account; so every entry point (the CLI, the web service, the test suite) sets umask 077 before
it creates anything, and the home itself is made 0700. State made before that, or by hand, is
reported (never silently changed: an operator may have a reason) by `serve` and `selftest`.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

PRIVATE_UMASK = 0o077
SHOWN = 10


def use_private_umask() -> None:
    """Make every file and folder this process creates from now on owner-only."""
    os.umask(PRIVATE_UMASK)


def write_atomically(path: Path, data: bytes | str) -> Path:
    """Write an owner-only file whole or not at all: a temporary file, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.partial")
    blob = data.encode("utf-8") if isinstance(data, str) else data
    with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
        handle.write(blob)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return path


class SecretFileError(ValueError):
    """A file meant to hold a secret is missing, empty, someone else's, or readable by others."""


def read_secret_file(path: Path, setting: str) -> str:
    """The secret in `path` (an API key, a token), which only this account may read; SecretFileError naming `setting`."""
    try:
        info = path.stat()
        secret = path.read_text().strip()
    except OSError as error:
        raise SecretFileError(f"{setting} {path}: {error.strerror or error}") from None
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise SecretFileError(f"{setting} {path} is readable by others (mode {mode:o}); chmod 600 it")
    if info.st_uid != os.getuid():
        raise SecretFileError(f"{setting} {path} belongs to another account")
    if not secret:
        raise SecretFileError(f"{setting} {path} is empty")
    return secret


def make_private_home(home: Path) -> None:
    """Create APPLIANCE_HOME (and missing parents) owner-only; an existing home is left as it is."""
    if not home.exists():
        home.mkdir(parents=True, mode=0o700)
        home.chmod(0o700)  # mkdir's mode is filtered by the umask; say it exactly


def exposed_state(home: Path) -> list[tuple[Path, int]]:
    """Entries under `home` (itself included) that a group or other accounts may read, write or enter."""
    found = _if_exposed(home)
    for folder, folders, files in os.walk(home):
        for name in folders + files:
            found += _if_exposed(Path(folder) / name)
    return found


def exposure_warnings(home: Path) -> list[str]:
    """One line per exposed entry (the first few), naming the path and its mode, and what to run."""
    found = exposed_state(home)
    lines = [f"{path} is readable by other local accounts (mode {mode:04o})" for path, mode in found[:SHOWN]]
    if len(found) > SHOWN:
        lines.append(f"... and {len(found) - SHOWN} more under {home}")
    if found:
        lines.append(f"to make APPLIANCE_HOME owner-only: chmod -R go-rwx {home}")
    return lines


def warn_about_exposed_state(home: Path) -> None:
    """Print `exposure_warnings` on stderr, each as an `appliance: warning:` line (serve, selftest)."""
    for line in exposure_warnings(home):
        print(f"appliance: warning: {line}", file=sys.stderr, flush=True)


def _if_exposed(path: Path) -> list[tuple[Path, int]]:
    try:
        info = path.lstat()
    except OSError:  # removed while we looked
        return []
    if stat.S_ISLNK(info.st_mode):
        return []
    mode = stat.S_IMODE(info.st_mode)
    return [(path, mode)] if mode & 0o077 else []
