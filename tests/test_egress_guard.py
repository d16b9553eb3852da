"""The egress guard covers the Python subprocesses tests start, not only the test process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import APPLIANCE_BIN, cli_env

REACH_OUT = """
import socket
try:
    socket.create_connection(("203.0.113.7", 443), timeout=2)
    print("connected")
except OSError as error:
    print(type(error).__name__)
"""


def test_a_subprocess_started_with_cli_env_is_guarded_and_reports(tmp_path: Path) -> None:
    log = tmp_path / "egress.log"  # not the session's log, so this test's own attempt does not fail it
    env = cli_env(tmp_path / "home", EGRESS_GUARD_LOG=str(log))
    result = subprocess.run([sys.executable, "-c", REACH_OUT], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "EgressBlocked", result.stderr
    assert "203.0.113.7" in log.read_text()


def test_the_appliance_command_runs_under_the_guard(tmp_path: Path) -> None:
    log = tmp_path / "egress.log"
    env = cli_env(tmp_path / "home", EGRESS_GUARD_LOG=str(log))
    probe = "import sys, socket; print(socket.socket.connect.__module__)"
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "egress_guard"
    listed = subprocess.run(
        [APPLIANCE_BIN, "docs", "list", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    assert not log.exists()  # it ran, guarded, and reached nothing outside
