"""`appliance bench workers` on a real PostgreSQL catalog and Chroma server, with a short run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from appliance.build import build
from appliance.settings import AuditSettings, Settings, StoreSettings
from tests.chroma_server import chroma_running
from tests.conftest import APPLIANCE_BIN, DEMO_CORPUS, cli_env

pytestmark = pytest.mark.slow


def test_bench_workers_reports_both_runs_with_nothing_lost_or_doubled(
    tmp_path: Path, postgres_url: str, models: Any
) -> None:
    home = tmp_path / "home"
    with chroma_running(tmp_path / "chroma") as chroma:
        store = {"catalog": "database", "vector_store": "chroma_server", "chroma_url": chroma, "chroma_namespace": "b"}
        with build(
            Settings(home=home, store=StoreSettings(**store), audit=AuditSettings(database_url=postgres_url)), models
        ):
            pass  # the keys the workers copy
        env = cli_env(
            home,
            APPLIANCE_STORE__CATALOG="database",
            APPLIANCE_STORE__VECTOR_STORE="chroma_server",
            APPLIANCE_STORE__CHROMA_URL=chroma,
            APPLIANCE_STORE__CHROMA_NAMESPACE="b",
            APPLIANCE_AUDIT__DATABASE_URL=postgres_url,
        )
        sources = [DEMO_CORPUS / "travel_expense_policy.md", DEMO_CORPUS / "kyc_note_cp1252.txt"]
        done = subprocess.run(
            [APPLIANCE_BIN, "bench", "workers", *map(str, sources), "--copies", "2", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout)
    files = 2 * len(sources)
    for name, workers in (("baseline", 1), ("workers", 2)):
        run = result[name]
        assert run["workers"] == workers and run["files"] == files
        assert run["failed"] == 0 and run["ingested_twice"] == 0
        assert run["chunks"] > 0 and run["chunks_per_s"] > 0
    assert result["workers"]["chunks"] == result["baseline"]["chunks"]
    assert result["speedup"] > 0


def test_bench_workers_refuses_a_store_that_is_not_shared(home: Path) -> None:
    done = subprocess.run(
        [APPLIANCE_BIN, "bench", "workers"], env=cli_env(home), capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0 and "store.catalog = database" in done.stderr
