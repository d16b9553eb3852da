"""What each action records in the audit log: the action names and their details.

One place lists them so that a compliance reviewer (and the README) can see exactly what
is kept. Every value here is already redacted: questions and answers come from the
redactor, documents are referred to by id, version and sha256, never by content.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# The standalone verifier (chain.py, copied out to examiners) must recognise purges on its own.
from appliance.audit.chain import PURGE_ACTION as PURGE

# Documents and questions
INGEST = "docs.ingest"
INGEST_FAILED = "docs.ingest_failed"
DELETE = "docs.delete"
VIEW = "docs.view"
RE_REDACT = "docs.re_redact"
ASK = "ask"
FEEDBACK = "feedback"
# A collection's redaction vault
REDACT_ADD = "redact.add"
REDACT_REMOVE = "redact.remove"
REDACT_IMPORT = "redact.import"
# The log itself, backups
EXPORT = "audit.export"
BACKUP = "backup"
RESTORE = "backup.restore"
# Signing in and out, refusals
LOGIN_SUCCESS = "login.success"
LOGIN_FAILURE = "login.failure"
LOGOUT = "logout"
ACCESS_DENIED = "access.denied"
# Accounts
USER_ADD = "users.add"
USER_PASSWORD = "users.passwd"
USER_UNLOCK = "users.unlock"
USER_DISABLE = "users.disable"
USER_ENABLE = "users.enable"
USER_GRANT = "users.grant"
USER_REVOKE = "users.revoke"
API_KEY_CREATE = "users.api_key_create"
API_KEY_REVOKE = "users.api_key_revoke"
# The OpenAI-compatible API: one event per authenticated call (the ask it makes is an `ask` event)
API_CALL = "api.call"
# Tabular side-models
TABULAR_TRAIN = "tabular.train"
TABULAR_PREDICT = "tabular.predict"
TABULAR_DELETE = "tabular.delete"
TABULAR_RETIRE = "tabular.retire"
TABULAR_REVIEW = "tabular.review"
# Fine-tuning
FEEDBACK_REVIEW = "feedback.review"
DATASET_BUILD = "dataset.build"
DATASET_DELETE = "dataset.delete"
FINETUNE = "finetune"
ADAPTER_PROMOTE = "adapters.promote"
ADAPTER_DELETE = "adapters.delete"
ADAPTER_EVALUATE = "adapters.evaluate"
# `bench audit` writes into a throw-away log of its own
BENCH_EVENT = "bench.event"

ACTIONS = frozenset(
    {
        INGEST, INGEST_FAILED, DELETE, VIEW, RE_REDACT, ASK, FEEDBACK,
        REDACT_ADD, REDACT_REMOVE, REDACT_IMPORT,
        EXPORT, PURGE, BACKUP, RESTORE,
        LOGIN_SUCCESS, LOGIN_FAILURE, LOGOUT, ACCESS_DENIED,
        USER_ADD, USER_PASSWORD, USER_UNLOCK, USER_DISABLE, USER_ENABLE, USER_GRANT, USER_REVOKE,
        API_KEY_CREATE, API_KEY_REVOKE, API_CALL,
        TABULAR_TRAIN, TABULAR_PREDICT, TABULAR_DELETE, TABULAR_RETIRE, TABULAR_REVIEW,
        FEEDBACK_REVIEW, DATASET_BUILD, DATASET_DELETE, FINETUNE, ADAPTER_PROMOTE, ADAPTER_DELETE,
        ADAPTER_EVALUATE,
        BENCH_EVENT,
    }
)  # fmt: skip
"""Every action the appliance records; tests/test_audit_vocabulary.py fails on any other."""
ERROR_CHARS = 300


def ingest_details(
    *,
    collection: str,
    version: int,
    sha256: str,
    kind: str,
    chunks: int,
    redactions: Mapping[str, int],
    policy_hash: str,
    embedding_model: str,
) -> dict[str, Any]:
    """A new document version: what it is, how it was redacted and embedded (counts only, never values)."""
    return {
        "collection": collection,
        "version": version,
        "sha256": sha256,
        "kind": kind,
        "chunks": chunks,
        "redactions": dict(redactions),
        "policy_hash": policy_hash,
        "embedding_model": embedding_model,
    }


def failure_details(collection: str, error: str) -> dict[str, Any]:
    """A file that could not be ingested, and why (the reason, cut to a few hundred characters)."""
    return {"collection": collection, "error": error[:ERROR_CHARS]}


def document_details(collection: str, version: int, sha256: str, chunks: int | None = None) -> dict[str, Any]:
    """A document version someone opened or deleted."""
    details: dict[str, Any] = {"collection": collection, "version": version, "sha256": sha256}
    if chunks is not None:
        details["chunks"] = chunks
    return details


def ask_details(
    *,
    question: str,
    answer: str,
    mode: str,
    collections: Sequence[str],
    evidence: str,
    refused: bool,
    retrieved: Sequence[Mapping[str, Any]],
    citations: Sequence[Mapping[str, Any]],
    dropped_quotes: int,
    model: str,
    model_sha256: str,
    adapter: str | None,
    adapter_sha256: str | None,
    timings_ms: Mapping[str, float],
    recall_timed_out: bool = False,
    abstention: str = "threshold",
) -> dict[str, Any]:
    """A question and its answer (both redacted), what was read, what was cited, by which model, how fast."""
    return {
        "question": question,
        "answer": answer,
        "mode": mode,
        "collections": list(collections),
        "evidence": evidence,
        "refused": refused,
        "retrieved": [
            {"chunk_id": r["chunk_id"], "doc_id": r["doc_id"], "version": r["version"], "score": r["score"]}
            for r in retrieved
        ],
        "citations": [
            {k: c[k] for k in ("n", "doc_id", "version", "page", "start", "end", "quote")} for c in citations
        ],
        "dropped_quotes": dropped_quotes,
        "recall_timed_out": recall_timed_out,
        "model": model,
        "model_sha256": model_sha256,
        "adapter": adapter,
        "adapter_sha256": adapter_sha256,
        "abstention": abstention,
        "timings_ms": {k: round(v) for k, v in timings_ms.items()},
    }
