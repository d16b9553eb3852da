"""Tables of the appliance database (audit log, users, their grants), declared with sqlmodel.

The tables are created and changed only by the numbered migrations (migrations.py). These
classes are the schema written down once, typed, for readers and for tools that query the
database with sqlmodel (a reviewer's notebook, a report); tests/test_audit_chain.py checks that
the two agree. The appliance itself writes with plain SQL statements, because the hash chain
needs exact control over each insert, so nothing in appliance/ imports this module.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, Text
from sqlmodel import Field, SQLModel


class AuditEvent(SQLModel, table=True):
    """One audited action; append-only, linked to the previous event by its hash."""

    __tablename__ = "audit_events"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    ts_ms: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    actor: str = Field(sa_column=Column(Text, nullable=False, index=True))
    role: str = Field(sa_column=Column(Text, nullable=False))
    action: str = Field(sa_column=Column(Text, nullable=False, index=True))
    subject: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    details: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON of the details object
    prev_hash: str = Field(sa_column=Column(Text, nullable=False))
    hash: str = Field(sa_column=Column(Text, nullable=False, unique=True))


class User(SQLModel, table=True):
    """A person who signs in to the web UI; the password is kept only as a slow salted hash."""

    __tablename__ = "users"

    name: str = Field(sa_column=Column(Text, primary_key=True))
    role: str = Field(sa_column=Column(Text, nullable=False))
    password_hash: str = Field(sa_column=Column(Text, nullable=False))
    disabled: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    failed_logins: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    locked_until_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    # Migration 3: a password change moves the epoch on, ending web sessions begun at another one;
    # lock_count doubles the next lock-out while failures go on (reset by a sign-in or an unlock).
    session_epoch: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    lock_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))


class UserCollection(SQLModel, table=True):
    """A collection a user may read and write (within their role)."""

    __tablename__ = "user_collections"

    user_name: str = Field(sa_column=Column(Text, ForeignKey("users.name", ondelete="CASCADE"), primary_key=True))
    collection: str = Field(sa_column=Column(Text, primary_key=True))


class UserModel(SQLModel, table=True):
    """A tabular model a user may predict with (migration 4); admins use every model."""

    __tablename__ = "user_models"

    user_name: str = Field(sa_column=Column(Text, ForeignKey("users.name", ondelete="CASCADE"), primary_key=True))
    model: str = Field(sa_column=Column(Text, primary_key=True))


class ApiKey(SQLModel, table=True):
    """A bearer token for the /v1 API (migration 5): only a hash of its secret is kept."""

    __tablename__ = "api_keys"

    id: str = Field(sa_column=Column(Text, primary_key=True))
    user_name: str = Field(
        sa_column=Column(Text, ForeignKey("users.name", ondelete="CASCADE"), nullable=False, index=True)
    )
    secret_sha256: str = Field(sa_column=Column(Text, nullable=False))
    # The user's session epoch when the key was made: a password change moves it on and ends the key.
    session_epoch: int = Field(sa_column=Column(Integer, nullable=False))
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    expires_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    revoked_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class WebSession(SQLModel, table=True):
    """A signed-in browser (migration 6), shared by every front-end; the token itself is never stored."""

    __tablename__ = "web_sessions"

    token_sha256: str = Field(sa_column=Column(Text, primary_key=True))
    user_name: str = Field(
        sa_column=Column(Text, ForeignKey("users.name", ondelete="CASCADE"), nullable=False, index=True)
    )
    session_epoch: int = Field(sa_column=Column(Integer, nullable=False))
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_seen_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class SignInFailure(SQLModel, table=True):
    """One failed sign-in (migration 6): the client address and an HMAC of the name typed, never the name."""

    __tablename__ = "sign_in_failures"

    id: str = Field(sa_column=Column(Text, primary_key=True))  # random: the same SQL on SQLite and PostgreSQL
    address: str = Field(sa_column=Column(Text, nullable=False, index=True))
    name_hmac: str = Field(sa_column=Column(Text, nullable=False))
    ts_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class SchemaMigration(SQLModel, table=True):
    """Which numbered migrations this database has had."""

    __tablename__ = "appliance_schema_migrations"

    version: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    name: str = Field(sa_column=Column(Text, nullable=False))
    applied_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
