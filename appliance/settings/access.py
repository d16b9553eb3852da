"""Settings of the records and the doors: the audit log, the web UI, the OpenAI-compatible API."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class AuditSettings(BaseModel):
    """The audit log: where it lives, how long it keeps events, where checkpoints are copied."""

    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the appliance database (audit log, users); empty means SQLite in WAL mode at APPLIANCE_HOME/appliance.sqlite3. PostgreSQL: postgresql+psycopg://USER@HOST/DB.",
    )
    retention_days: int | None = Field(
        None,
        ge=1,
        description="Events older than this many days are removed by `appliance audit purge` (an audited admin action that leaves the chain verifiable); empty keeps everything.",
    )
    checkpoint_file: Path | None = Field(
        None,
        description="The signed chain-head checkpoint; empty means APPLIANCE_HOME/audit/checkpoint.json. Front-ends that share one audit database must share one checkpoint file too (a folder they all mount), or each checks only its own part of the chain's end.",
    )
    checkpoint_copy: str | None = Field(
        None,
        description="Where each signed chain-head checkpoint is also written: 'syslog', or a file path (on write-once storage) that gets one line per checkpoint; empty keeps only APPLIANCE_HOME/audit/checkpoint.json.",
    )


class WebSettings(BaseModel):
    """The web UI (`appliance serve`): sessions, the request queue, an optional single sign-on header."""

    session_hours: float = Field(
        8.0, gt=0, le=720, description="A web session ends this many hours after sign-in, however active it is."
    )
    idle_minutes: float = Field(
        30.0, gt=0, le=1440, description="A web session ends after this many minutes without a request."
    )
    ask_concurrency: int = Field(
        8,
        ge=1,
        le=64,
        description="Questions handled at the same time: retrieval runs in parallel, the model writes one answer at a time and the rest wait for it; beyond this, questions wait in the queue.",
    )
    questions_per_user: int = Field(
        2,
        ge=1,
        le=64,
        description="Questions one user may have waiting or being answered at once; one more is refused with a message, so nobody can keep everyone else waiting.",
    )
    queue_size: int = Field(
        64,
        ge=1,
        le=10_000,
        description="Requests waiting in the web UI's queue; beyond this a request is refused (busy).",
    )
    secure_cookies: bool = Field(
        False,
        description="Mark the session cookie Secure (sent over HTTPS only); set it when a TLS reverse proxy fronts the service.",
    )
    trusted_proxy_header: str = Field(
        "",
        description="Single sign-on: a header (e.g. X-Remote-User) naming an existing, enabled user, set by a reverse proxy that authenticated them; empty (the default) turns it off.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses of the reverse proxies the service trusts: their trusted_proxy_header is believed, and the client address they report (X-Real-IP, else the rightmost X-Forwarded-For entry) is what sign-in throttling counts; from any other address both headers are ignored.",
    )


class ApiSettings(BaseModel):
    """The OpenAI-compatible API under /v1 of the web service (bearer API keys only: `appliance users api-key`)."""

    enabled: bool = Field(
        True,
        description="Serve /v1/models, /v1/chat/completions and /v1/embeddings beside the web UI; every call needs an API key, and there are none until an operator creates one.",
    )
    key_days: int = Field(
        90, ge=1, le=3650, description="How long a new API key is valid when `users api-key create` gives no --days."
    )
    max_embedding_inputs: int = Field(
        256, ge=1, le=4096, description="Texts one /v1/embeddings call may embed; more is refused (413)."
    )


# Protected attributes (lending and equality law) and the header words that name them; a column whose
# name contains one of the words is excluded from a tabular model's features unless opted in.
