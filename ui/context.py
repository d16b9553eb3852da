"""What every web handler shares: the appliance, the user directory, sessions, pending downloads.

`user_for(request)` is how a handler learns who is calling: from the session cookie on the
request, looked up afresh in the user table (a disabled account stops at once).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.access.login_throttle import LoginThrottle
from appliance.access.roles import Forbidden, Permission
from appliance.access.rules import authorize_audited, known_collections, scoped
from appliance.access.sessions import COOKIE_NAME, Session, SessionStore
from appliance.access.users import UserDirectory, UserError, UserRecord
from appliance.app import Appliance
from appliance.settings import Settings
from ui.ownership import ReceivedUploads, StreamOwners
from ui.question_slots import QuestionSlots

DOWNLOAD_SECONDS = 15 * 60


@dataclass
class Download:
    """A file one user may fetch once from /downloads/ID (an audit export)."""

    path: Path
    owner: str
    filename: str
    expires: float


@dataclass
class Downloads:
    """Files waiting to be fetched; each is deleted once fetched or expired."""

    items: dict[str, Download] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: Path, owner: str, filename: str) -> str:
        """Register a file for `owner`; the id to put in the link."""
        key = secrets.token_urlsafe(24)
        with self.lock:
            self._expire()
            self.items[key] = Download(path, owner, filename, time.monotonic() + DOWNLOAD_SECONDS)
        return key

    def take(self, key: str, owner: str) -> Download | None:
        """The download if it is `owner`'s and still waiting; it is removed from the list."""
        with self.lock:
            self._expire()
            item = self.items.get(key)
            if item is None or item.owner != owner:
                return None
            return self.items.pop(key)

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, d in self.items.items() if d.expires < now]:
            self.items.pop(key).path.unlink(missing_ok=True)


@dataclass
class WebContext:
    """The state of one running web service."""

    app: Appliance
    directory: UserDirectory
    sessions: SessionStore
    throttle: LoginThrottle
    downloads: Downloads = field(default_factory=Downloads)
    streams: StreamOwners = field(default_factory=StreamOwners)
    uploads: ReceivedUploads = field(init=False)
    questions: QuestionSlots = field(init=False)

    def __post_init__(self) -> None:
        self.uploads = ReceivedUploads(self.gradio_dir)
        self.questions = QuestionSlots(self.settings.web.questions_per_user)

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def uploads_dir(self) -> Path:
        return self.settings.tmp_dir / "uploads"

    @property
    def exports_dir(self) -> Path:
        return self.settings.tmp_dir / "exports"

    @property
    def gradio_dir(self) -> Path:
        return self.settings.tmp_dir / "gradio"

    def signed_in(self, cookie: str | None) -> tuple[Session, UserRecord] | None:
        """The live session the cookie names and its enabled user, or None.

        The user is read afresh from the database on every request, so a disabled account or a
        changed password (a new session epoch) ends its sessions at once, whichever process changed it.
        """
        session = self.sessions.resolve(cookie)
        self.end_sessions(self.sessions.take_expired())
        if session is None:
            return None
        try:
            user = self.directory.get(session.user)
        except UserError:  # the account was removed
            user = None
        if user is None or user.disabled:
            self.end_sessions(self.sessions.end_user(session.user))
            return None
        if session.epoch != user.session_epoch:  # the password changed after this sign-in
            self.sessions.end(cookie)
            self.end_sessions([session])
            return None
        return session, user

    def end_sessions(self, ended: list[Session]) -> None:
        """Forget what ended sessions owned and delete the files they uploaded but never used."""
        for session in ended:
            self.streams.forget_owner(session.id)
            self.uploads.discard_owner(session.id)

    def session_user(self, cookie: str | None) -> UserRecord | None:
        """The enabled user whose live session the cookie names, or None."""
        found = self.signed_in(cookie)
        return found[1] if found else None

    def session_of(self, request: Any) -> tuple[Session, UserRecord]:
        """The session and user making a Gradio request (gr.Request); Forbidden when there is none."""
        cookies = getattr(request, "cookies", None) or {}
        found = self.signed_in(cookies.get(COOKIE_NAME))
        if found is None:
            raise Forbidden("not signed in (or the session has ended): sign in again")
        return found

    def user_for(self, request: Any) -> UserRecord:
        """The signed-in user making a Gradio request (gr.Request); Forbidden when there is none."""
        return self.session_of(request)[1]

    def authorize(
        self, request: Any, permission: Permission, collections: list[str] | None = None, *, scoped_to: bool = False
    ) -> tuple[UserRecord, list[str]]:
        """The caller and the collections they may use for `permission` (refusals are audited).

        `scoped_to=True` also refuses when that leaves no collection, so that an empty list
        never reaches the core (where it would mean every collection).
        """
        user = self.user_for(request)
        wanted = [c for c in (collections or []) if c]
        allowed = authorize_audited(self.app.audit, user, permission, wanted or None, known=known_collections(self.app))
        return user, scoped(allowed, user) if scoped_to else allowed


def new_context(app: Appliance) -> WebContext:
    """A context for `app`: sessions and sign-in failures in the appliance database (shared by every
    front-end on it, kept across restarts), signed with keys/web-session.key, lifetimes from the web settings."""
    from appliance.redaction.keys import WEB_SESSION_KEY, load_or_create_key

    web = app.settings.web
    key = load_or_create_key(app.settings.keys_dir / WEB_SESSION_KEY)
    engine = app.audit.engine
    return WebContext(
        app=app,
        directory=app.users,
        sessions=SessionStore(engine, key, web.session_hours * 3600, web.idle_minutes * 60),
        throttle=LoginThrottle(engine, key),
    )
