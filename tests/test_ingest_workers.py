"""Several ingest workers on one folder: real `appliance ingest` processes sharing a PostgreSQL catalog and a
Chroma server, each file claimed by exactly one of them, nothing ingested twice or half."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from appliance.audit import events as audit_events
from appliance.audit.search import AuditFilter, search
from appliance.build import build
from appliance.records import ChunkSpan
from appliance.settings import AuditSettings, IngestSettings, Settings, StoreSettings
from appliance.store.catalog import Catalog
from appliance.store.catalog_db import PostgresCatalogDatabase
from ingestion.pipeline import ingest_paths
from tests.actors import TESTER
from tests.chroma_server import chroma_running
from tests.conftest import APPLIANCE_BIN, DEMO_CORPUS, cli_env
from tests.test_catalog_postgres import new_document

FILES = 24


def corpus(root: Path) -> Path:
    """The demo corpus plus short generated memos: enough files for two workers to share."""
    folder = root / "share"
    shutil.copytree(DEMO_CORPUS, folder)
    existing = len([p for p in folder.rglob("*") if p.is_file()])
    for i in range(FILES - existing):
        (folder / f"memo_{i:02d}.md").write_text(
            f"# Memo {i}\n\nCase {1000 + i} was reviewed by the compliance team on day {i + 1}.\n"
            f"The outcome of case {1000 + i} is recorded in ledger {7000 + i}.\n"
        )
    assert len([p for p in folder.rglob("*") if p.is_file()]) == FILES
    return folder


def shared_env(home: Path, url: str, chroma: str, share: Path) -> dict[str, str]:
    return cli_env(
        home,
        APPLIANCE_STORE__CATALOG="database",
        APPLIANCE_AUDIT__DATABASE_URL=url,
        APPLIANCE_STORE__VECTOR_STORE="chroma_server",
        APPLIANCE_STORE__CHROMA_URL=chroma,
        APPLIANCE_STORE__CHROMA_NAMESPACE="bank",
        APPLIANCE_INGEST__SOURCE_ROOT=str(share),
        APPLIANCE_RUNTIME__THREADS="1",
    )


def test_two_worker_processes_ingest_one_folder_once(tmp_path: Path, postgres_url: str, models: Any) -> None:
    share = corpus(tmp_path)
    homes = [tmp_path / "worker-a", tmp_path / "worker-b"]
    with chroma_running(tmp_path / "chroma") as chroma:
        settings = Settings(
            home=homes[0],
            store=StoreSettings(
                catalog="database", vector_store="chroma_server", chroma_url=chroma, chroma_namespace="bank"
            ),
            audit=AuditSettings(database_url=postgres_url),
            ingest=IngestSettings(source_root=share),
        )
        with build(settings, models):
            pass  # creates the keys, which the operator gives every worker (deploy/README.md)
        shutil.copytree(homes[0] / "keys", homes[1] / "keys")
        workers = [
            subprocess.Popen(
                [APPLIANCE_BIN, "ingest", str(share), "--collection", "shared", "--json"],
                env=shared_env(home, postgres_url, chroma, share),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for home in homes
        ]
        outputs = [w.communicate(timeout=600) for w in workers]
        for worker, (_out, err) in zip(workers, outputs, strict=True):
            assert worker.returncode == 0, err[-3000:]
        reports = [json.loads(out) for out, _ in outputs]
        with build(settings, models) as app:
            active = app.catalog.list_active(["shared"])
            stored_vectors = app.vectors.count()
            events = list(search(app.audit, AuditFilter(action=audit_events.INGEST)))
    done = [{d["doc_id"] for d in r["ingested"]} for r in reports]
    assert not reports[0]["failed"] and not reports[1]["failed"]
    assert done[0] and done[1], "both workers should have taken a share of the folder"
    assert not done[0] & done[1]  # no file ingested by both
    assert len(done[0] | done[1]) == FILES
    assert sorted(d.doc_id for d in active) == sorted(done[0] | done[1])
    assert all(d.version == 1 for d in active)  # and none twice: the second store would be version 2
    assert len(events) == FILES
    assert stored_vectors == sum(d.chunk_count for d in active)  # no half-written or orphaned vectors


def test_a_dead_workers_claim_expires_and_its_half_written_version_is_cleared(
    tmp_path: Path, postgres_url: str, models: Any
) -> None:
    share = corpus(tmp_path)
    target = "board_minutes.docx"  # the first file the run comes to
    dead = Catalog(PostgresCatalogDatabase(postgres_url))  # the dead worker's own connections
    dead.document_lock("shared", target).__enter__()
    text = "a half-written version"
    pending = dead.insert_pending(new_document(target, text, "shared"), [], [ChunkSpan(0, 0, len(text), None, None)])
    dead.close()  # it dies: the server drops its lock; its claim (below) stays until it expires
    settings = Settings(
        home=tmp_path / "home",
        store=StoreSettings(catalog="database"),
        audit=AuditSettings(database_url=postgres_url),
        ingest=IngestSettings(source_root=share, claim_seconds=30),
    )
    with build(settings, models) as app:  # start-up recovery clears the dead worker's pending version
        assert app.catalog.row_state(pending) is None
        assert app.catalog.claim("shared", target, "dead-worker", seconds=3)  # its claim, as it was when it died
        stages: list[tuple[str, str]] = []
        report = ingest_paths(
            app,
            [share],
            collection="shared",
            actor=TESTER,
            progress=lambda e: stages.append((Path(e.path).name, e.stage)),
        )
        assert not report.failed
        assert (target, "waiting") in stages  # it left the claimed file alone until the claim expired
        assert len(report.ingested) == FILES  # the claimed file too, once its claim expired
        assert app.catalog.claim_holder("shared", target) is None  # every claim given back
        assert app.catalog.active_document("shared", target).version == 1  # type: ignore[union-attr]
