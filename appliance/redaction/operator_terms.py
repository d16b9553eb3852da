"""Operator terms: values an operator adds to a collection's vault (`redact add|import`) or takes off it (`redact remove`).

An added value is redacted from then on wherever it appears in the collection, and at once
in every stored document (a new version each), after which the catalog is compacted so no
byte of the value is left in it. A removed value goes on the collection's ignore list: the
redactor no longer replaces or propagates it (text already redacted stays redacted: the
originals are not kept). The values come from the caller's stdin or file, never appear in
a report, a log or the audit log; the audit log gets counts only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from appliance.actors import Actor
from appliance.app import Appliance
from appliance.audit import events as audit_events
from appliance.audit.log import AuditLog
from appliance.redaction.known_values import KnownValue, KnownValueMatcher
from appliance.redaction.retroactive import PassReport, catch_up, sweep

MAX_VALUE_CHARS = 500


class TermsError(ValueError):
    """A request that cannot be carried out as asked (no vault, bad type, empty value); one line."""


def clean_values(values: Sequence[str]) -> list[str]:
    """Values stripped, blank lines dropped, duplicates removed, each within the length limit."""
    kept: dict[str, None] = {}
    for raw in values:
        value = raw.strip()
        if not value:
            continue
        if len(value) > MAX_VALUE_CHARS:
            raise TermsError(f"a value is longer than {MAX_VALUE_CHARS} characters")
        kept[value] = None
    if not kept:
        raise TermsError("no value given (the value is read from stdin, one per line for import)")
    return list(kept)


def add_terms(
    app: Appliance,
    actor: Actor,
    *,
    collection: str,
    entity_type: str,
    values: Sequence[str],
    dry_run: bool = False,
    action: str = audit_events.REDACT_ADD,
) -> dict[str, Any]:
    """Add values to the vault, re-redact every stored document holding one, purge the old text."""
    vault = app.redactor.vault
    if vault is None:
        raise TermsError("known-value propagation is off (redaction.propagate_known_values = false)")
    if entity_type not in vault.propagated_types:
        allowed = ", ".join(sorted(vault.propagated_types))
        raise TermsError(f"--type {entity_type} is not one of the propagated types: {allowed}")
    values = clean_values(values)
    pseudonyms = app.redactor.pseudonymizer
    matcher = KnownValueMatcher()
    matcher.add(KnownValue(entity_type, pseudonyms.existing_placeholder(collection, entity_type, v), v) for v in values)
    if not matcher.size:
        raise TermsError(
            "the value is too short, an ordinary word, or a one-word name (which may be a place or a brand): "
            "it cannot be redacted wherever it appears; give the full name"
        )
    if dry_run:
        report = sweep(app, collection, actor, matcher, dry_run=True)
    else:
        app.catalog.remove_ignored(collection, [pseudonyms.ignore_digest(collection, v) for v in values])
        matcher = KnownValueMatcher()
        placeholders = pseudonyms.placeholders(collection, entity_type, values)
        matcher.add(KnownValue(entity_type, p, v) for p, v in zip(placeholders, values, strict=True))
        report = sweep(app, collection, actor, matcher)
        later = catch_up(app, collection, actor)
        report.documents += later.documents
        report.chunks += later.chunks
        report.chunks_embedded += later.chunks_embedded
        if report.documents:
            with app.store_writes:
                app.catalog.compact()
    in_audit = audit_events_containing(app.audit, matcher)
    summary = _summary(collection, entity_type, len(values), dry_run, report, in_audit)
    app.audit.record(actor, action, subject=collection, details={k: v for k, v in summary.items() if k != "documents"})
    return summary


def remove_term(app: Appliance, actor: Actor, *, collection: str, value: str) -> dict[str, Any]:
    """Put a value on the collection's ignore list, so a false positive stops spreading."""
    vault = app.redactor.vault
    if vault is None:
        raise TermsError("known-value propagation is off (redaction.propagate_known_values = false)")
    [value] = clean_values([value])
    added = app.catalog.add_ignored(collection, app.redactor.pseudonymizer.ignore_digest(collection, value))
    summary = {"collection": collection, "ignored": added, "already_ignored": not added}
    app.audit.record(actor, audit_events.REDACT_REMOVE, subject=collection, details=summary)
    return summary


def audit_events_containing(audit: AuditLog, matcher: KnownValueMatcher) -> int:
    """How many audit events hold one of the values (searched here, never printed)."""
    count = 0
    for event in audit.events(parse=False):
        text = " ".join(str(event.get(k) or "") for k in ("actor", "subject", "details_text"))
        count += bool(matcher.find(text))
    return count


def _summary(
    collection: str, entity_type: str, values: int, dry_run: bool, report: PassReport, in_audit: int
) -> dict[str, Any]:
    return {
        "collection": collection,
        "type": entity_type,
        "values": values,
        "dry_run": dry_run,
        "documents_re_redacted": len(report.documents),
        "chunks_re_redacted": report.chunks,
        "chunks_embedded": report.chunks_embedded,
        "occurrences": sum(report.occurrences.values()),
        "audit_events_containing": in_audit,
        "documents": report.documents,
        "find_seconds": round(report.find_seconds, 3),
        "embed_seconds": round(report.embed_seconds, 3),
    }
