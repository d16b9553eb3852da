"""The catalog on a real PostgreSQL server (the throwaway cluster of tests/postgres_server.py).

Each `Catalog` opened here is what one process opens, with its own connections, so two of
them on one database stand for two front-ends or ingest workers.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from appliance.answer.retrieval import search_terms
from appliance.build import build
from appliance.records import ChunkSpan, Section
from appliance.settings import AuditSettings, Settings, StoreSettings
from appliance.store.catalog import Catalog, NewDocument
from appliance.store.catalog_db import PG_SCHEMA, CatalogUnavailable, PostgresCatalogDatabase
from appliance.store.migrations import MIGRATIONS
from appliance.store.recovery import recover
from ingestion.pipeline import ingest_paths
from tests.actors import TESTER
from tests.conftest import DEMO_CORPUS


def open_catalog(url: str) -> Catalog:
    return Catalog(PostgresCatalogDatabase(url))


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def new_document(doc_id: str, text: str, collection: str = "bank", version: int = 1) -> NewDocument:
    return NewDocument(
        collection=collection,
        doc_id=doc_id,
        version=version,
        source=doc_id,
        kind="text",
        sha256="0" * 64,
        size_bytes=len(text),
        page_count=None,
        text=text,
        redactions={},
        notes=[],
        policy_hash="p",
        embedding_model="m",
        actor="tester",
    )


def store(catalog: Catalog, doc_id: str, text: str, collection: str = "bank") -> int:
    """A pending version of one chunk per line, made active."""
    spans, start = [], 0
    for ordinal, line in enumerate(text.split("\n")):
        spans.append(ChunkSpan(ordinal, start, start + len(line), None, None))
        start += len(line) + 1
    version = catalog.next_version(collection, doc_id)
    row = catalog.insert_pending(
        new_document(doc_id, text, collection, version), [Section(0, len(text), None, None)], spans
    )
    catalog.activate(row)
    return row


class NoVectors:
    """Recovery's view of the vector store: which rows it was told to drop."""

    def __init__(self) -> None:
        self.dropped: list[int] = []

    def delete_document_rows(self, rows: Any) -> None:
        self.dropped.extend(rows)


def test_a_blank_database_migrates_to_the_catalog_schema_once(postgres_url: str) -> None:
    first, second = open_catalog(postgres_url), open_catalog(postgres_url)  # the second finds it done
    with psycopg.connect(libpq(postgres_url)) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (PG_SCHEMA,)
            )
        }
        applied = [r[0] for r in conn.execute(f"SELECT version FROM {PG_SCHEMA}.schema_migrations ORDER BY version")]
        public = {
            r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        }
    expected = {"documents", "sections", "chunks", "pseudonyms", "vault_generations", "redaction_ignores"}
    assert expected | {"ingest_claims", "schema_migrations"} <= tables
    assert applied == [m[0] for m in MIGRATIONS]
    assert not public & expected  # the catalog never meets the audit tables' names
    first.close()
    second.close()


def test_versions_full_text_and_purge(postgres_url: str) -> None:
    catalog = open_catalog(postgres_url)
    row = store(catalog, "a.txt", "the hotel cap is 180 euros\nmeals are paid at cost\n<PERSON_3> approves travel")
    assert catalog.active_document("bank", "a.txt").row_id == row  # type: ignore[union-attr]
    assert catalog.full_text_count() == 3
    found = catalog.search_text(search_terms("Who approves travel for <PERSON_3>?"), ["bank"], 5)
    assert [chunk for chunk, _ in found][:1] == [f"d{row}-c2"]
    assert catalog.search_text(["hotel"], ["other"], 5) == []  # another collection's chunks never answer
    newer = store(catalog, "a.txt", "the hotel cap is 200 euros")
    assert catalog.active_document("bank", "a.txt").version == 2  # type: ignore[union-attr]
    assert catalog.rows_in_state("superseded") == [row]
    hits = catalog.search_text(["hotel"], ["bank"], 5)
    assert [chunk for chunk, _ in hits] == [f"d{newer}-c0"]  # only the active version answers
    catalog.purge([row])
    catalog.compact()
    assert catalog.full_text_count() == 1
    catalog.close()


def test_ranking_weighs_rare_terms_and_short_chunks_like_bm25(postgres_url: str) -> None:
    catalog = open_catalog(postgres_url)
    common = "\n".join(f"policy line {i} about the travel policy" for i in range(20))
    row = store(
        catalog, "a.txt", common + "\nthe zx4471 policy\nzx4471 appears here in a much longer line of many words"
    )
    ranked = [chunk for chunk, _ in catalog.search_text(["policy", "zx4471"], ["bank"], 30)]
    assert ranked[:2] == [f"d{row}-c20", f"d{row}-c21"]  # the rare term outweighs the common one; short first
    assert len(ranked) == 22
    catalog.close()


def test_recovery_leaves_a_live_writers_pending_version_and_clears_a_dead_ones(postgres_url: str) -> None:
    writer, starting = open_catalog(postgres_url), open_catalog(postgres_url)
    store(writer, "a.txt", "version one")
    with writer.document_lock("bank", "a.txt"):
        pending = writer.insert_pending(
            new_document("a.txt", "version two", version=2), [], [ChunkSpan(0, 0, 11, None, None)]
        )
        vectors = NoVectors()
        assert recover(starting, vectors) == []  # the writer is alive and holds the document
        assert vectors.dropped == [] and writer.row_state(pending) == "pending"
    writer.close()  # the writer's process dies: its connections close and the server drops its locks
    assert recover(starting, vectors) == [pending]
    assert vectors.dropped == [pending] and starting.row_state(pending) is None
    assert starting.active_document("bank", "a.txt").version == 1  # type: ignore[union-attr]
    starting.close()


def test_document_lock_excludes_another_process_until_released(postgres_url: str) -> None:
    first, second = open_catalog(postgres_url), open_catalog(postgres_url)
    with first.document_lock("bank", "a.txt"):
        assert not second.try_document_lock("bank", "a.txt")
        assert second.try_document_lock("bank", "b.txt")  # one lock per document, not per store
        second.unlock_document("bank", "b.txt")
    assert second.try_document_lock("bank", "a.txt")
    second.unlock_document("bank", "a.txt")
    first.close()
    second.close()


def test_processes_allocating_pseudonyms_at_once_agree_on_numbers(postgres_url: str) -> None:
    catalogs = [open_catalog(postgres_url) for _ in range(4)]
    values = [f"digest-{i % 12}" for i in range(48)]  # every value asked for by several processes
    results: dict[str, set[int]] = {}
    errors: list[BaseException] = []
    guard = threading.Lock()

    def allocate(catalog: Catalog, mine: list[str]) -> None:
        try:
            for digest in mine:
                number = catalog.pseudonym_number("bank", "PERSON", digest, b"sealed")
                with guard:
                    results.setdefault(digest, set()).add(number)
        except BaseException as error:  # noqa: BLE001  (reported below)
            errors.append(error)

    threads = [threading.Thread(target=allocate, args=(c, values[i::4])) for i, c in enumerate(catalogs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert all(len(numbers) == 1 for numbers in results.values())  # one value, one number everywhere
    assert sorted(n for numbers in results.values() for n in numbers) == list(range(1, 13))
    assert catalogs[0].vault_generation("bank") == 12  # each new value moved the generation once
    for catalog in catalogs:
        catalog.close()


def test_claims_expire_and_belong_to_their_worker(postgres_url: str) -> None:
    catalog = open_catalog(postgres_url)
    assert catalog.claim("bank", "a.txt", "worker-1", seconds=60)
    assert not catalog.claim("bank", "a.txt", "worker-2", seconds=60)
    assert catalog.claim("bank", "a.txt", "worker-1", seconds=60)  # renewing one's own
    catalog.release_claim("bank", "a.txt", "worker-2")  # not worker-2's to give up
    assert catalog.claim_holder("bank", "a.txt") == "worker-1"
    assert catalog.claim("bank", "b.txt", "worker-1", seconds=0.001)
    threading.Event().wait(0.01)
    assert catalog.claim("bank", "b.txt", "worker-2", seconds=60)  # worker-1 died: its claim expired
    catalog.release_claim("bank", "a.txt", "worker-1")
    assert catalog.claim_holder("bank", "a.txt") is None
    catalog.close()


def test_the_appliance_ingests_and_answers_from_the_shared_catalog(postgres_url: str, home: Path, models: Any) -> None:
    settings = Settings(
        home=home, store=StoreSettings(catalog="database"), audit=AuditSettings(database_url=postgres_url)
    )
    with build(settings, models) as app:
        report = ingest_paths(app, [DEMO_CORPUS / "travel_expense_policy.md"], collection="finance", actor=TESTER)
        assert not report.failed and report.ingested
        from appliance.answer.answering import ask

        answer = ask(app, "What is the hotel cap per night?", actor=TESTER, collections=["finance"])
        assert not answer.refused and "180" in answer.answer
        again = ingest_paths(app, [DEMO_CORPUS / "travel_expense_policy.md"], collection="finance", actor=TESTER)
        assert len(again.unchanged) == 1
    assert not (home / "catalog.sqlite3").exists()  # the catalog is in PostgreSQL, not in the home


def test_a_shared_catalog_needs_a_postgres_database(home: Path) -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        Settings(home=home, store=StoreSettings(catalog="database"))


def test_an_unreachable_catalog_database_is_named_in_one_line(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://appliance:s3cret@/catalog?host={tmp_path / 'no-server-here'}"
    with pytest.raises(CatalogUnavailable) as failure:
        open_catalog(url)
    message = str(failure.value)
    assert "the catalog database postgresql+psycopg://appliance:***@/catalog" in message
    assert "s3cret" not in message and "\n" not in message


def test_the_retroactive_pass_never_waits_for_a_document_an_ingest_holds(
    postgres_url: str, home: Path, tmp_path: Path, models: Any
) -> None:
    """An ingest holds its document, then waits for store_writes; the pass holds store_writes: it must skip, not wait."""
    from appliance.redaction.retroactive import catch_up
    from tests.test_known_value_propagation import CUSTOMER, MEMO

    memo = tmp_path / "memo.html"
    memo.write_text(MEMO)  # its customer's name is not found by the detector: only the vault can catch it
    settings = Settings(
        home=home, store=StoreSettings(catalog="database"), audit=AuditSettings(database_url=postgres_url)
    )
    with build(settings, models) as app:
        ingest_paths(app, [memo], collection="bank", actor=TESTER)
        app.redactor.pseudonymizer.placeholders("bank", "PERSON", [CUSTOMER])  # the vault learns it later
        holding, release = threading.Event(), threading.Event()

        def ingest_holding_the_document() -> None:
            with app.catalog.document_lock("bank", str(memo)):
                holding.set()
                release.wait(60)
                with app.store_writes:
                    pass

        ingest = threading.Thread(target=ingest_holding_the_document, daemon=True)
        ingest.start()
        assert holding.wait(30)
        finished: list[Any] = []

        def retroactive_pass() -> None:
            with app.store_writes:  # as the pass holds it; the ingest now waits for it, holding the document
                release.set()
                time.sleep(0.5)
                finished.append(catch_up(app, "bank", TESTER))

        passer = threading.Thread(target=retroactive_pass, daemon=True)
        passer.start()
        passer.join(60)
        assert not passer.is_alive(), "the pass waited for the document the ingest holds: a deadlock"
        ingest.join(60)
        assert finished and finished[0].documents == []  # left for the next pass, not waited for
        assert app.catalog.documents_behind("bank", app.catalog.vault_generation("bank"))  # still behind
        again = catch_up(app, "bank", TESTER)  # nothing holds it now
        assert [d["doc_id"] for d in again.documents] == [str(memo)]


def test_a_value_one_process_learns_is_redacted_by_another(postgres_url: str, tmp_path: Path, models: Any) -> None:
    """Each process's known-value matcher follows the shared vault's generation (the keys are shared)."""
    from tests.test_known_value_propagation import CUSTOMER, MEMO

    memo = tmp_path / "memo.html"
    memo.write_text(MEMO)  # the detector alone misses this customer's name

    def settings(name: str) -> Settings:
        return Settings(
            home=tmp_path / name,
            store=StoreSettings(catalog="database"),
            audit=AuditSettings(database_url=postgres_url),
        )

    with build(settings("front-end-1"), models) as first:
        shutil.copytree(first.settings.keys_dir, tmp_path / "front-end-2" / "keys")
        with build(settings("front-end-2"), models) as second:
            assert second.redactor.vault is not None
            second.redactor.vault.matcher("bank")  # its matcher is built before the value exists
            first.redactor.pseudonymizer.placeholders("bank", "PERSON", [CUSTOMER])
            report = ingest_paths(second, [memo], collection="bank", actor=TESTER)
            stored = second.catalog.document_text(second.catalog.active_document("bank", str(memo)).row_id)  # type: ignore[union-attr]
    assert not report.failed
    assert CUSTOMER not in stored and "<PERSON_1>" in stored


def test_a_connection_the_server_dropped_is_opened_again(postgres_url: str) -> None:
    catalog = open_catalog(postgres_url)
    store(catalog, "a.txt", "the hotel cap is 180 euros")
    with psycopg.connect(libpq(postgres_url), autocommit=True) as admin:  # a restart, as far as the catalog can tell
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
    with pytest.raises(psycopg.OperationalError):
        catalog.active_document("bank", "a.txt")  # the call in flight fails ...
    assert catalog.active_document("bank", "a.txt") is not None  # ... the next one reconnects
    catalog.close()
