"""The multi-server samples in deploy/: the inference server's and Chroma's units verify as installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import APPLIANCE_BIN

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
BIN = Path(APPLIANCE_BIN).parent


@pytest.mark.parametrize("name", ["llama-server.service", "chroma.service"])
def test_the_unit_is_confined_to_loopback_and_verifies(name: str, tmp_path: Path) -> None:
    text = (DEPLOY / name).read_text()
    directives = {
        line.split("=", 1)[0]: line.split("=", 1)[1] for line in text.splitlines() if line[:1].isalpha() and "=" in line
    }
    assert directives["NoNewPrivileges"] == "yes" and directives["ProtectSystem"] == "strict"
    assert directives["IPAddressDeny"] == "any" and directives["IPAddressAllow"] == "localhost"
    assert "--host 127.0.0.1" in directives["ExecStart"] or "llama_cpp.server" in directives["ExecStart"]
    if shutil.which("systemd-analyze") is None:
        pytest.skip("needs systemd-analyze (the Debian package systemd)")
    unit = tmp_path / name
    unit.write_text(text.replace("/opt/appliance/bin/", f"{BIN}/"))
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
