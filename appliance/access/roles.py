"""Who may do what: the one role x action table the command line and the web UI both enforce.

Grants are the second half of the rule: an analyst acts only within the collections and with
the tabular models granted to them (see users.py); admins and the OS operator reach them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Role(StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"
    AUDITOR = "auditor"
    OPERATOR = "operator"  # someone at the server's shell: `os:<login>`, the CLI's actor


class Permission(StrEnum):
    ASK = "ask"
    INGEST = "docs.ingest"
    LIST_DOCUMENTS = "docs.list"
    VIEW_DOCUMENT = "docs.view"
    DELETE_DOCUMENT = "docs.delete"
    FEEDBACK = "feedback"
    AUDIT_SEARCH = "audit.search"
    AUDIT_VIEW = "audit.view"
    AUDIT_EXPORT = "audit.export"
    AUDIT_VERIFY = "audit.verify"
    AUDIT_PURGE = "audit.purge"
    MANAGE_USERS = "users.manage"
    VIEW_SETTINGS = "settings.view"
    USE_MODELS = "models.use"  # predict with, and see, the tabular models granted (users.py)
    TRAIN_MODELS = "models.train"  # train, retire and delete tabular models
    MANAGE_ADAPTERS = "adapters.manage"  # review feedback, build data sets, train and promote adapters


_AUDIT_READ = frozenset(
    {Permission.AUDIT_SEARCH, Permission.AUDIT_VIEW, Permission.AUDIT_EXPORT, Permission.AUDIT_VERIFY}
)

PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.ADMIN: frozenset(Permission),
        Role.OPERATOR: frozenset(Permission),
        Role.ANALYST: frozenset(
            {
                Permission.ASK,
                Permission.INGEST,
                Permission.LIST_DOCUMENTS,
                Permission.VIEW_DOCUMENT,
                Permission.USE_MODELS,
                Permission.FEEDBACK,
            }
        ),
        Role.AUDITOR: frozenset(_AUDIT_READ),
    }
)

# Roles that reach every collection; the others only those granted to them.
ALL_COLLECTIONS_ROLES = frozenset({Role.ADMIN, Role.OPERATOR})
# Roles a person can be given in the user table (operator is the shell, never a stored user).
ASSIGNABLE_ROLES = (Role.ADMIN, Role.ANALYST, Role.AUDITOR)


class Forbidden(PermissionError):
    """The actor's role does not allow the action, or the collection is not theirs."""


def allowed(role: str, permission: Permission) -> bool:
    """Whether `role` may do `permission` (unknown roles may do nothing)."""
    try:
        return permission in PERMISSIONS[Role(role)]
    except ValueError:
        return False


def require(role: str, permission: Permission) -> None:
    """Raise Forbidden unless `role` may do `permission`."""
    if not allowed(role, permission):
        raise Forbidden(f"role {role!r} may not {permission.value}")
