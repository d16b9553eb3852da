"""Collection names: short, safe in file names, URLs and Chroma metadata."""

from __future__ import annotations

import re

DEFAULT_COLLECTION = "default"
_VALID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class InvalidCollectionName(ValueError):
    """The name breaks the rule below."""


def check_collection_name(name: str) -> str:
    """1-63 characters of letters, digits, '.', '_' or '-', starting with a letter or digit."""
    if not _VALID.match(name):
        raise InvalidCollectionName(
            f"invalid collection name {name!r}: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name
