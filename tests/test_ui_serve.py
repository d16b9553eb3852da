"""`appliance serve` as operators run it: a subprocess that owns the store, with the CLI working beside it."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from appliance.store.lock import StoreLock
from tests.conftest import APPLIANCE_BIN, cli_env
from ui.http_client import call, sign_in

DEMO_PASSWORD = "demo password for the test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_serving(url: str, service: subprocess.Popen[str], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise AssertionError(f"serve exited early: {service.communicate()}")
        try:
            if httpx.get(url + "/login", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError("serve did not start")


@pytest.mark.slow
def test_serve_owns_the_store_and_the_cli_goes_through_its_control_socket(home: Path, tmp_path: Path) -> None:
    port = free_port()
    env = cli_env(home, APPLIANCE_DEMO_PASSWORD=DEMO_PASSWORD)
    service = subprocess.Popen(
        [APPLIANCE_BIN, "serve", "--port", str(port), "--demo-admin"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, service)
        assert (home / "control.sock").exists()
        note = tmp_path / "parking.txt"
        note.write_text("The staff car park opens at 06:30 on weekdays.\n")
        # A store command while the service holds the store lock: it runs inside the service.
        ingest = subprocess.run(
            [APPLIANCE_BIN, "ingest", str(note), "--collection", "ops", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert ingest.returncode == 0, ingest.stderr
        listed = subprocess.run(
            [APPLIANCE_BIN, "docs", "list", "--json"], env=env, capture_output=True, text=True, timeout=120
        )
        assert listed.returncode == 0 and "parking.txt" in listed.stdout, listed.stderr
        with closing(sign_in(url, "demo-admin", DEMO_PASSWORD)) as admin:
            kind, payload = call(admin, "ask", ["When does the staff car park open?", "rag", "ops", None])
            assert kind == "complete" and "06:30" in payload[0], payload
    finally:
        service.send_signal(signal.SIGTERM)  # what systemd sends
        try:
            out, err = service.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            service.kill()
            out, err = service.communicate()
    assert service.returncode == 0, err
    assert re.search(r"Demo admin account: demo-admin / demo password for the test", out)
    assert not (home / "control.sock").exists()
    lock = StoreLock(home / "store.lock")
    lock.acquire()  # released on shutdown
    lock.release()
