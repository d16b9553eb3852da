"""People who sign in: accounts, roles, granted collections, and throttled, audited logins.

Users live in the appliance database beside the audit log; every change to them and every
login attempt is an audit event. An unknown user name is never written to the log (people
type passwords into the name field); only that an unknown name was tried.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import text

from appliance.access.passwords import hash_password, password_matches
from appliance.access.roles import ALL_COLLECTIONS_ROLES, ASSIGNABLE_ROLES
from appliance.actors import Actor
from appliance.audit import events as audit_events
from appliance.audit.log import AuditLog
from appliance.db.engine import reading
from appliance.store.collection_names import check_collection_name
from appliance.tabular.registry import RegistryError
from appliance.tabular.registry import check_name as check_model_name

# Wrong passwords (from anywhere) before an account is locked. The web service refuses one
# client address after 5 failures for one name (appliance/access/login_throttle.py), so locking an
# account takes several addresses, and a lock is short and grows only while failures go on.
MAX_FAILED_LOGINS = 10
SIGN_IN_FAILED = "sign-in failed: wrong user name or password, a disabled account, or too many attempts"
FIRST_LOCK_MS = 30 * 1000
LONGEST_LOCK_MS = 15 * 60 * 1000
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class UserError(ValueError):
    """A user command that cannot be done (message says why)."""


class LoginFailed(PermissionError):
    """Wrong name or password, a disabled account, or too many recent failures (one message for all)."""


@dataclass(frozen=True)
class UserRecord:
    """A user as the rest of the appliance sees it (never the password hash)."""

    name: str
    role: str
    disabled: bool
    collections: tuple[str, ...]
    # Moves on with every password change; a web session started at another epoch is over.
    session_epoch: int = 0
    models: tuple[str, ...] = ()  # tabular models granted (admins use every model)

    @property
    def actor(self) -> Actor:
        return Actor(f"user:{self.name}", self.role)

    def may_read(self, collection: str) -> bool:
        """Whether this user may act within `collection`."""
        return self.role in ALL_COLLECTIONS_ROLES or collection in self.collections

    def may_use_model(self, model: str) -> bool:
        """Whether this user may predict with (and see) the tabular model `model`, role permitting."""
        return self.role in ALL_COLLECTIONS_ROLES or model in self.models


class UserDirectory:
    """User accounts in the appliance database; changes and logins are audited."""

    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit
        self._engine = audit.engine

    def add(self, name: str, role: str, password: str, *, by: Actor) -> UserRecord:
        """Create an account; the password is hashed (scrypt) before it is stored."""
        _check_name(name)
        if role not in {r.value for r in ASSIGNABLE_ROLES}:
            raise UserError(f"role must be one of {', '.join(r.value for r in ASSIGNABLE_ROLES)}, not {role!r}")
        hashed = hash_password(password)
        now = _now_ms()
        with self._audit.appending() as writer:
            if writer.conn.execute(text("SELECT 1 FROM users WHERE name = :n"), {"n": name}).first():
                raise UserError(f"user {name!r} already exists")
            writer.conn.execute(
                text(
                    "INSERT INTO users (name, role, password_hash, disabled, failed_logins, created_ms, updated_ms) "
                    "VALUES (:n, :r, :h, 0, 0, :t, :t)"
                ),
                {"n": name, "r": role, "h": hashed, "t": now},
            )
            writer.append(by, audit_events.USER_ADD, name, {"role": role})
        return self.get(name)

    def set_password(self, name: str, password: str, *, by: Actor) -> None:
        """Replace a password, end the user's web sessions (in every process) and clear any lock."""
        hashed = hash_password(password)
        self._change(
            name,
            by,
            audit_events.USER_PASSWORD,
            {},
            "password_hash = :h, session_epoch = session_epoch + 1, failed_logins = 0, locked_until_ms = NULL, "
            "lock_count = 0",
            {"h": hashed},
            end_api_keys=True,
        )

    def unlock(self, name: str, *, by: Actor) -> None:
        """Lift a lock-out now and forget past failures (an admin's answer to a locked-out colleague)."""
        self._change(
            name, by, audit_events.USER_UNLOCK, {}, "failed_logins = 0, locked_until_ms = NULL, lock_count = 0", {}
        )

    def set_disabled(self, name: str, disabled: bool, *, by: Actor) -> None:
        """Disable (or re-enable) an account; a disabled user cannot sign in, and disabling revokes its API keys."""
        action = audit_events.USER_DISABLE if disabled else audit_events.USER_ENABLE
        self._change(name, by, action, {}, "disabled = :d", {"d": int(disabled)}, end_api_keys=disabled)

    def grant(
        self,
        name: str,
        collections: Iterable[str] = (),
        *,
        by: Actor,
        revoke: bool = False,
        models: Iterable[str] = (),
    ) -> UserRecord:
        """Give (or take away) collections and tabular models, in one audited change."""
        names = sorted(set(collections))
        model_names = sorted(set(models))
        for collection in names:
            check_collection_name(collection)
        for model in model_names:
            _check_model_name(model)
        if not names and not model_names:
            raise UserError("name at least one collection or --model")
        with self._audit.appending() as writer:
            self._require(writer.conn, name)
            for table, column, values in (
                ("user_collections", "collection", names),
                ("user_models", "model", model_names),
            ):
                for value in values:
                    params = {"u": name, "v": value}
                    writer.conn.execute(text(f"DELETE FROM {table} WHERE user_name = :u AND {column} = :v"), params)
                    if not revoke:
                        writer.conn.execute(text(f"INSERT INTO {table} (user_name, {column}) VALUES (:u, :v)"), params)
            details: dict[str, list[str]] = {"collections": names}
            if model_names:
                details["models"] = model_names
            writer.append(by, audit_events.USER_REVOKE if revoke else audit_events.USER_GRANT, name, details)
        return self.get(name)

    def get(self, name: str) -> UserRecord:
        """One user, or UserError."""
        found = self.list([name])
        if not found:
            raise UserError(f"no user {name!r}")
        return found[0]

    def list(self, names: Sequence[str] | None = None) -> list[UserRecord]:
        """All users (or those named), with their collections."""
        with reading(self._engine) as conn:
            rows = conn.execute(text("SELECT name, role, disabled, session_epoch FROM users ORDER BY name")).all()
            grants = conn.execute(text("SELECT user_name, collection FROM user_collections ORDER BY collection")).all()
            model_grants = conn.execute(text("SELECT user_name, model FROM user_models ORDER BY model")).all()
        by_user: dict[str, list[str]] = {}
        for user_name, collection in grants:
            by_user.setdefault(user_name, []).append(collection)
        models_of: dict[str, list[str]] = {}
        for user_name, model in model_grants:
            models_of.setdefault(user_name, []).append(model)
        return [
            UserRecord(
                name, role, bool(disabled), tuple(by_user.get(name, ())), int(epoch), tuple(models_of.get(name, ()))
            )
            for name, role, disabled, epoch in rows
            if names is None or name in names
        ]

    def authenticate(self, name: str, password: str, *, origin: str = "") -> UserRecord:
        """The user, if the password is right and the account usable; every attempt is audited.

        Every attempt costs exactly one scrypt check, whether the name is unknown, the account
        locked or disabled, or the password wrong: the time of an answer tells nothing.
        """
        with reading(self._engine) as conn:
            row = conn.execute(
                text("SELECT password_hash, disabled, locked_until_ms FROM users WHERE name = :n"), {"n": name}
            ).first()
        matches = password_matches(password, row[0] if row is not None else _dummy_hash())
        now = _now_ms()
        if row is None:
            self._refuse(None, "unknown user", origin)  # the name typed is not kept: it may be a password
        _, disabled, locked_until = row
        refusal = "locked" if locked_until is not None and locked_until > now else None
        if refusal is None and not matches:
            self._failed(name, now, origin)
            raise LoginFailed(SIGN_IN_FAILED)
        refusal = refusal or ("disabled" if disabled else None)
        if refusal is not None:
            self._refuse(name, refusal, origin)
        user = self.get(name)
        with self._audit.appending() as writer:
            writer.conn.execute(
                text("UPDATE users SET failed_logins = 0, locked_until_ms = NULL, lock_count = 0 WHERE name = :n"),
                {"n": name},
            )
            writer.append(user.actor, audit_events.LOGIN_SUCCESS, name, {"origin": origin})
        return user

    def _refuse(self, name: str | None, reason: str, origin: str) -> NoReturn:
        """Record a refused sign-in and refuse it with the one message every refusal shares."""
        actor = Actor(f"user:{name}", "none") if name else Actor("anonymous", "none")
        self._audit.record(
            actor, audit_events.LOGIN_FAILURE, subject=name, details={"reason": reason, "origin": origin}
        )
        raise LoginFailed(SIGN_IN_FAILED)

    def _failed(self, name: str, now: int, origin: str) -> None:
        with self._audit.appending() as writer:
            count, locks = writer.conn.execute(
                text("SELECT failed_logins, lock_count FROM users WHERE name = :n"), {"n": name}
            ).one()
            count += 1
            locked = None
            if count >= MAX_FAILED_LOGINS:
                locked = now + min(FIRST_LOCK_MS * 2**locks, LONGEST_LOCK_MS)
                locks += 1
            writer.conn.execute(
                text("UPDATE users SET failed_logins = :c, locked_until_ms = :l, lock_count = :k WHERE name = :n"),
                {"c": 0 if locked else count, "l": locked, "k": locks, "n": name},
            )
            details = {"reason": "wrong password", "origin": origin, "locked": locked is not None}
            if locked is not None:
                details["locked_seconds"] = (locked - now) // 1000
            writer.append(Actor(f"user:{name}", "none"), audit_events.LOGIN_FAILURE, name, details)

    def _change(
        self,
        name: str,
        by: Actor,
        action: str,
        details: dict,
        assignments: str,
        params: dict,
        *,
        end_api_keys: bool = False,
    ) -> None:
        """One audited change to a user row; `end_api_keys` also revokes the account's live API keys with it."""
        now = _now_ms()
        with self._audit.appending() as writer:
            self._require(writer.conn, name)
            writer.conn.execute(
                text(f"UPDATE users SET {assignments}, updated_ms = :now WHERE name = :name"),
                {**params, "now": now, "name": name},
            )
            if end_api_keys:
                revoked = writer.conn.execute(
                    text("UPDATE api_keys SET revoked_ms = :now WHERE user_name = :name AND revoked_ms IS NULL"),
                    {"now": now, "name": name},
                ).rowcount
                details = {**details, "api_keys_revoked": revoked}
            writer.append(by, action, name, details)

    @staticmethod
    def _require(conn: object, name: str) -> None:
        if not conn.execute(text("SELECT 1 FROM users WHERE name = :n"), {"n": name}).first():  # type: ignore[attr-defined]
            raise UserError(f"no user {name!r}")


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise UserError(f"user name {name!r}: use 1-64 lower-case letters, digits, '.', '_' or '-'")


def _check_model_name(model: str) -> None:
    try:
        check_model_name(model)
    except RegistryError as problem:
        raise UserError(str(problem)) from None


def _now_ms() -> int:
    return int(time.time() * 1000)


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not-a-real-password-for-timing")
