"""Which signed-in session owns what: the files it uploaded, its queue sessions, its events.

The gate (ui/gate.py) records ownership as requests pass and refuses a request that names
something another session owns, so knowing someone's `session_hash`, `event_id` or upload
path gives nothing. Sessions are named by `Session.id` (a digest of the cookie's token).
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

from appliance.access.roles import Forbidden

# Stream bindings older than this are forgotten (no session lives longer: web.session_hours <= 720).
BINDING_SECONDS = 31 * 24 * 3600
PRUNE_ABOVE = 10_000


class StreamOwners:
    """Keys (a queue `session_hash`, an `event_id`, an `upload_id`) bound to the session that first used them."""

    def __init__(self) -> None:
        self._owners: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, owner: str) -> bool:
        """Bind `key` to `owner` if it is free; whether `owner` holds it now."""
        now = time.monotonic()
        with self._lock:
            if len(self._owners) > PRUNE_ABOVE:
                self._prune(now)
            held = self._owners.get(key)
            if held is not None and held[0] != owner:
                return False
            self._owners[key] = (owner, now)
            return True

    def owned_by(self, key: str, owner: str) -> bool:
        """Whether `key` is bound to `owner` (an unknown key belongs to nobody)."""
        with self._lock:
            held = self._owners.get(key)
        return held is not None and held[0] == owner

    def holder(self, key: str) -> str | None:
        """The session `key` is bound to, if any."""
        with self._lock:
            held = self._owners.get(key)
        return held[0] if held is not None else None

    def forget_owner(self, owner: str) -> None:
        """Drop every binding of a session that ended."""
        with self._lock:
            for key in [k for k, (o, _) in self._owners.items() if o == owner]:
                del self._owners[key]

    def _prune(self, now: float) -> None:
        for key in [k for k, (_, at) in self._owners.items() if now - at > BINDING_SECONDS]:
            del self._owners[key]


class ReceivedUploads:
    """Files that arrived through Gradio's upload route, per session: the only files a handler may read."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self._files: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def add(self, owner: str, paths: list[str]) -> None:
        """Record what the upload route stored for `owner` (paths outside the upload folder are ignored)."""
        kept = {str(_resolved(p)) for p in paths if _resolved(p).is_relative_to(self.folder)}
        with self._lock:
            self._files.setdefault(owner, set()).update(kept)

    def owns(self, owner: str, path: str) -> bool:
        """Whether `path` is a file `owner` uploaded and has not used yet."""
        with self._lock:
            return str(_resolved(path)) in self._files.get(owner, set())

    def take(self, owner: str, paths: list[str]) -> list[Path]:
        """Claim uploaded files for one use; Forbidden (nothing claimed) if any is not `owner`'s."""
        wanted = [str(_resolved(p)) for p in paths]
        with self._lock:
            mine = self._files.get(owner, set())
            if any(p not in mine for p in wanted):
                raise Forbidden("files must be sent through the upload form of this session")
            mine.difference_update(wanted)
        return [Path(p) for p in wanted]

    def discard(self, owner: str, paths: list[str]) -> None:
        """Delete those of `paths` that are `owner`'s unused uploads (a refused ingest); others are not touched."""
        wanted = {str(_resolved(p)) for p in paths}
        with self._lock:
            mine = self._files.get(owner, set())
            ours = wanted & mine
            mine.difference_update(ours)
        delete_uploads([Path(p) for p in ours], self.folder)

    def discard_owner(self, owner: str) -> None:
        """Delete every file a session uploaded and never used (sign-out, session end)."""
        with self._lock:
            paths = self._files.pop(owner, set())
        delete_uploads([Path(p) for p in paths], self.folder)


def delete_uploads(paths: list[Path], folder: Path) -> None:
    """Remove uploaded files and the per-upload folders Gradio made for them (left empty)."""
    for path in paths:
        path.unlink(missing_ok=True)
        parent = path.parent
        if parent != folder and parent.is_relative_to(folder):
            with contextlib.suppress(OSError):
                parent.rmdir()


def _resolved(path: str) -> Path:
    return Path(path).resolve()
