"""Ingest workers' claims on a shared catalog: one worker per document at a time, expiring if it dies.

A claim is a row in the catalog's `ingest_claims` (Catalog.claim). It only spreads the work:
the document lock (Catalog.document_lock) is what keeps two processes from storing one
file twice, so a claim that expires under a slow but living worker costs time, not data.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable

from appliance.store.catalog import Catalog

CLAIM_POLL_SECONDS = 0.5  # how often a worker looks again at the files another worker holds


class IngestClaims:
    """One run's claims in one collection, under a worker name unique to this process and run."""

    def __init__(self, catalog: Catalog, collection: str, seconds: float) -> None:
        self._catalog = catalog
        self._collection = collection
        self._seconds = seconds
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    def take(self, doc_id: str) -> bool:
        """Claim (or renew) the document; False while another worker's claim on it is live."""
        return self._catalog.claim(self._collection, doc_id, self.worker, self._seconds)

    def renewing(self, doc_id: str, step: Callable[[str], None]) -> Callable[[str], None]:
        """`step`, renewing the claim at each stage first, so a long file keeps its claim."""

        def renew_then_step(stage: str) -> None:
            self.take(doc_id)
            step(stage)

        return renew_then_step

    def give_up(self, doc_id: str) -> None:
        self._catalog.release_claim(self._collection, doc_id, self.worker)
