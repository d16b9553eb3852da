"""Zero egress: the switches are set in one place, caches live under APPLIANCE_HOME,
the core imports without torch, and the session guard really blocks outside connections."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.offline import OFFLINE_SWITCHES, apply_offline_environment, cache_locations
from tests.conftest import EGRESS_ATTEMPTS, EgressBlocked
from tests.test_layout import HEAVY


def test_switches_and_caches_point_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*OFFLINE_SWITCHES, *cache_locations(tmp_path)]:
        monkeypatch.delenv(name, raising=False)
    apply_offline_environment(tmp_path, threads=1)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] == ""
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert os.environ["OMP_NUM_THREADS"] == "1"
    for name in cache_locations(tmp_path):
        assert Path(os.environ[name]).is_relative_to(tmp_path), name


def test_importing_the_core_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, appliance.cli.main, appliance.build, appliance.redaction.redactor, appliance.store.catalog, ingestion.pipeline;"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules];"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_guard_blocks_outside_connections_and_records_them() -> None:
    before = len(EGRESS_ATTEMPTS)
    with pytest.raises(EgressBlocked):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
    with pytest.raises(EgressBlocked):
        socket.getaddrinfo("pypi.org", 443)
    assert len(EGRESS_ATTEMPTS) == before + 2
    del EGRESS_ATTEMPTS[before:]  # expected here; any other test doing this fails


def test_guard_allows_loopback() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=2)
    client.close()
    server.close()
