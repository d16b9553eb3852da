"""Per-request access rules for the web UI: the role table (roles.py) plus the user's granted collections.

Every web handler calls `authorize()` with the user it looked up from the session before it
touches the core, so hiding a tab is never what keeps someone out. Collections are checked
here once and then passed to the core, whose retrieval and document functions only ever
look inside the collections they are given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from appliance.access.roles import ALL_COLLECTIONS_ROLES, Forbidden, Permission, allowed, require
from appliance.access.users import UserDirectory, UserError, UserRecord
from appliance.app import Appliance
from appliance.audit import events as audit_events
from appliance.audit.log import AuditLog
from appliance.settings import Settings, WebSettings
from appliance.store.collection_names import DEFAULT_COLLECTION, InvalidCollectionName, check_collection_name
from appliance.store.documents import list_documents

__all__ = [
    "Forbidden",
    "authorize",
    "authorize_model",
    "known_collections",
    "readable_documents",
    "settings_view",
    "usable_models",
]


def known_collections(app: Appliance) -> list[str]:
    """Every collection that holds an active document (the default one when there are none)."""
    return sorted({doc.collection for doc in app.catalog.list_active()}) or [DEFAULT_COLLECTION]


def usable_collections(user: UserRecord, known: Iterable[str]) -> list[str]:
    """The collections `user` may act in: all known ones for admins, else those granted."""
    if user.role in ALL_COLLECTIONS_ROLES:
        return sorted({*known, *user.collections})
    return sorted(user.collections)


def authorize(
    user: UserRecord,
    permission: Permission,
    collections: Sequence[str] | None = None,
    *,
    known: Iterable[str] = (),
) -> list[str]:
    """Raise Forbidden unless `user` may do `permission` in every requested collection; the collections to use.

    With no collections requested, the answer is every collection the user may use (all
    `known` ones for an admin).
    """
    if user.disabled:
        raise Forbidden(f"user {user.name!r} is disabled")
    require(user.role, permission)
    if not collections:
        return usable_collections(user, known)
    wanted: list[str] = []
    for name in collections:
        try:
            check_collection_name(name)
        except InvalidCollectionName as error:
            raise Forbidden(str(error)) from None
        if not user.may_read(name):
            raise Forbidden(f"collection {name!r} is not granted to {user.name}")
        wanted.append(name)
    return list(dict.fromkeys(wanted))


def usable_models(user: UserRecord, names: Iterable[str]) -> list[str]:
    """The tabular models among `names` that `user` may use (none for a role without models.use)."""
    if user.disabled or not allowed(user.role, Permission.USE_MODELS):
        return []
    return sorted(name for name in names if user.may_use_model(name))


def authorize_model(audit: AuditLog, user: UserRecord, permission: Permission, model: str) -> None:
    """Raise Forbidden (an audited refusal) unless `user` may do `permission` with the tabular model `model`."""
    try:
        if user.disabled:
            raise Forbidden(f"user {user.name!r} is disabled")
        require(user.role, permission)
        if not user.may_use_model(model):
            raise Forbidden(f"model {model!r} is not granted to {user.name}")
    except Forbidden as error:
        audit.record(
            user.actor,
            audit_events.ACCESS_DENIED,
            subject=permission.value,
            details={"model": model, "reason": str(error)},
        )
        raise


def readable_documents(app: Appliance, user: UserRecord) -> list[dict[str, Any]]:
    """The active documents `user` may list: only those in their collections."""
    collections = authorize(user, Permission.LIST_DOCUMENTS, known=known_collections(app))
    if not collections:
        return []
    return list_documents(app, collections)


def settings_view(settings: Settings) -> dict[str, Any]:
    """The settings as plain data for the read-only admin view, with any database password masked."""
    data = settings.model_dump(mode="json")
    url = data.get("audit", {}).get("database_url")
    if url:
        data["audit"]["database_url"] = _mask_url(url)
    return data


def _mask_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as nothing rather than leaked
        return "***"


def proxy_user(
    web: WebSettings, directory: UserDirectory, headers: Mapping[str, str], client_host: str
) -> UserRecord | None:
    """The user a trusted reverse proxy vouches for, or None (header off, untrusted address, unknown or disabled user)."""
    if not web.trusted_proxy_header or client_host not in web.trusted_proxies:
        return None
    name = headers.get(web.trusted_proxy_header.lower(), "").strip()
    if not name:
        return None
    try:
        user = directory.get(name)
    except UserError:
        return None
    return None if user.disabled else user


def record_proxy_sign_in(audit: AuditLog, user: UserRecord, origin: str) -> None:
    """Audit a sign-in that a trusted proxy vouched for (the password was checked there, not here)."""
    audit.record(
        user.actor, audit_events.LOGIN_SUCCESS, subject=user.name, details={"origin": origin, "method": "proxy-header"}
    )


def authorize_audited(
    audit: AuditLog,
    user: UserRecord,
    permission: Permission,
    collections: Sequence[str] | None = None,
    *,
    known: Iterable[str] = (),
) -> list[str]:
    """`authorize()`, and a refusal is itself an audit event (`access.denied`)."""
    try:
        return authorize(user, permission, collections, known=known)
    except Forbidden as error:
        audit.record(
            user.actor,
            audit_events.ACCESS_DENIED,
            subject=permission.value,
            details={"collections": list(collections or []), "reason": str(error)},
        )
        raise


def scoped(collections: list[str], user: UserRecord) -> list[str]:
    """The collections unchanged, or Forbidden when there are none (never 'all' by accident)."""
    if not collections:
        raise Forbidden(f"no collections are granted to {user.name}; ask an administrator")
    return collections
