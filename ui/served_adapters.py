"""Which fine-tuned adapters a user may be served, and the one their answer uses: the web page and /v1 share it.

The lists offer only what the caller may be served (promoted, every collection of its data granted;
admins see every adapter); the handlers check again through `served_adapter` (appliance/finetune/adapters.py).
"""

from __future__ import annotations

from appliance.access.roles import ALL_COLLECTIONS_ROLES, Forbidden
from appliance.access.users import UserRecord
from appliance.audit import events as audit_events
from appliance.finetune.adapters import (
    AdapterError,
    AdapterRegistry,
    AdapterVersion,
    ServedAdapter,
    adapter_for,
    may_serve,
)
from ui.context import WebContext


def adapter_registry(ctx: WebContext) -> AdapterRegistry:
    return AdapterRegistry(ctx.settings.finetune_dir / "adapters")


def servable_adapters(ctx: WebContext, user: UserRecord) -> list[AdapterVersion]:
    """The latest version of each adapter `user` may be served."""
    registry = adapter_registry(ctx)
    return [
        version
        for version in (registry.latest(name) for name in registry.names())
        if may_serve(version, all_collections=user.role in ALL_COLLECTIONS_ROLES, granted=user.collections) is None
    ]


def served_adapter(
    ctx: WebContext, user: UserRecord, requested: str | None, collections: list[str]
) -> ServedAdapter | None:
    """The adapter this user's answer uses (asked for, or the collection's default); refusals are audited."""
    try:
        return adapter_for(
            adapter_registry(ctx),
            ctx.app.generator.model_sha256,
            ctx.settings.finetune.collection_adapters,
            requested or None,
            collections,
            all_collections=user.role in ALL_COLLECTIONS_ROLES,
            granted=user.collections,
        )
    except AdapterError as problem:
        ctx.app.audit.record(
            user.actor,
            audit_events.ACCESS_DENIED,
            subject="adapter",
            details={"adapter": requested or "", "collections": collections, "reason": str(problem)},
        )
        raise Forbidden(str(problem)) from None
