"""Finishing what a crash interrupted: drop half-written versions and leftovers."""

from __future__ import annotations

from appliance.ports import VectorStore
from appliance.store.catalog import Catalog


def recover(catalog: Catalog, vectors: VectorStore) -> list[int]:
    """Delete vectors and rows of every version that is not active; return the rows purged.

    Pending versions never became visible, superseded and deleted ones no longer are, so
    removing them changes nothing a reader sees. Safe to run any number of times.
    """
    dead = catalog.rows_in_state("pending", "superseded", "deleted")
    if dead:
        vectors.delete_document_rows(dead)
        catalog.purge(dead)
    return dead
