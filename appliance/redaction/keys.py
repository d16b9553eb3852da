"""Secret keys kept as 0600 files under APPLIANCE_HOME/keys, created once, never logged."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

WEB_SESSION_KEY = "web-session.key"  # signs the web UI's session cookies; one per installation, shared by front-ends


def load_or_create_key(path: Path, nbytes: int = 32) -> bytes:
    """Read the key at `path`, or create it atomically with mode 0600 if absent."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
    else:
        key = secrets.token_bytes(nbytes)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        return key
    if len(key) != nbytes:
        raise RuntimeError(f"key file {path} is damaged (expected {nbytes} bytes, found {len(key)})")
    return key
