"""Finishing what a crash interrupted: drop half-written versions and leftovers."""

from __future__ import annotations

from appliance.ports import VectorStore
from appliance.store.catalog import Catalog


def recover(catalog: Catalog, vectors: VectorStore) -> list[int]:
    """Delete vectors and rows of every version that is not active; return the rows purged.

    Pending versions never became visible, superseded and deleted ones no longer are, so
    removing them changes nothing a reader sees. Safe to run any number of times. On a
    shared catalog another live process may be writing one of these versions right now:
    a version is cleared only when its document's lock is free, which it is once the
    process that wrote it has finished or died.
    """
    dead = catalog.rows_in_state("pending", "superseded", "deleted")
    if not dead:
        return []
    if not catalog.shared:
        vectors.delete_document_rows(dead)
        catalog.purge(dead)
        return dead
    purged: list[int] = []
    for row_id, (collection, doc_id) in catalog.document_keys(dead).items():
        with catalog.document_lock_if_free(collection, doc_id) as held:
            # Not held: a live writer has it and will finish or drop this version itself. Held: another
            # process may still have finished it meanwhile.
            if held and catalog.row_state(row_id) not in (None, "active"):
                vectors.delete_document_rows([row_id])
                catalog.purge([row_id])
                purged.append(row_id)
    return purged
