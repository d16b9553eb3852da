"""Finding 3 (medium): data at rest was readable by every local account.

Run from a shell (umask 022), `appliance serve` created APPLIANCE_HOME 0755 and the catalog
and vector store 0644, and another local account read document text from them. Now every entry
point sets umask 077, the home and everything under it is owner-only, and `serve` warns, naming
the path, about state it finds readable by others. The served process runs under strace the
whole time, with the attack requests of finding 2, to show it opened no outside connection.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.conftest import APPLIANCE_BIN, cli_env
from tests.security.conftest import OUTSIDE, file_data
from tests.test_ui_serve import free_port, wait_until_serving
from ui.http_client import call, sign_in

DEMO_PASSWORD = "demo password for the test"
SETPRIV = shutil.which("setpriv")
STRACE = shutil.which("strace")


@pytest.fixture
def shared_parent() -> Iterator[Path]:
    """A folder every local account may enter (like /srv or /var/lib), so only the modes below it protect."""
    parent = Path(tempfile.mkdtemp(prefix="appliance-perm-", dir="/tmp"))
    parent.chmod(0o755)
    yield parent
    shutil.rmtree(parent, ignore_errors=True)


def exposed(home: Path) -> list[str]:
    """Entries under `home` (itself included) that any group or other account may read, write or enter."""
    found = []
    for path in [home, *home.rglob("*")]:
        if path.is_symlink():
            continue
        if stat.S_IMODE(path.lstat().st_mode) & 0o077:
            found.append(f"{oct(stat.S_IMODE(path.lstat().st_mode))} {path.relative_to(home.parent)}")
    return found


def cli_from_a_shell(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `appliance` command as an operator's login shell runs it (umask 022)."""
    return subprocess.run(
        [APPLIANCE_BIN, *args], env=cli_env(home), capture_output=True, text=True, timeout=300, umask=0o022
    )


def read_as_nobody(path: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [SETPRIV or "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat", str(path)],
        capture_output=True,
        timeout=30,
    )


def traced_child(pid: int) -> int:
    """The process strace (pid) started."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return int(children[0]) if children else pid


def outside_connects(trace: Path) -> list[str]:
    """connect() calls in an strace log to anything but loopback or a Unix socket."""
    lines = []
    for log in trace.parent.glob(trace.name + "*"):
        for line in log.read_text(errors="replace").splitlines():
            if "connect(" in line and ("AF_INET" in line) and "127.0.0.1" not in line and '"::1"' not in line:
                lines.append(line.strip())
    return lines


@pytest.mark.slow
def test_a_served_home_is_owner_only_and_reaches_nothing_outside(shared_parent: Path, tmp_path: Path) -> None:
    home = shared_parent / "home"
    home.mkdir()
    home.chmod(0o700)
    loose = home / "notes-left-by-someone.txt"
    loose.write_text("a file an operator left readable\n")
    loose.chmod(0o644)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    trace = tmp_path / "connect.trace"
    command = [APPLIANCE_BIN, "serve", "--port", str(port), "--demo-admin"]
    if STRACE:
        command = [STRACE, "-f", "-qq", "-e", "trace=connect", "-o", str(trace), *command]
    service = subprocess.Popen(
        command,
        env=cli_env(home, APPLIANCE_DEMO_PASSWORD=DEMO_PASSWORD),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        umask=0o022,  # what a login shell gives the operator
    )
    try:
        wait_until_serving(url, service)
        note = tmp_path / "parking.txt"
        note.write_text("The staff car park opens at 06:30 on weekdays. Contact Jane Doe on 555-0100.\n")
        ingest = cli_from_a_shell(home, "ingest", str(note), "--collection", "ops", "--json")
        assert ingest.returncode == 0, ingest.stderr
        with closing(sign_in(url, "demo-admin", DEMO_PASSWORD)) as admin:
            kind, payload = call(admin, "ask", ["When does the staff car park open?", "rag", "ops", None])
            assert kind == "complete" and "06:30" in payload[0], payload
            # Finding 2's outside fetches, against the served process.
            for route in (
                f"/app/gradio_api/file/http://{OUTSIDE}/robots.txt",
                f"/app/gradio_api/proxy=http://{OUTSIDE}/",
            ):
                assert admin.get(route).status_code == 404
            kind, _ = call(admin, "ingest", [[file_data(f"http://{OUTSIDE}/policy.txt")], "ops"])
            assert kind in ("http", "error")
        catalog = home / "catalog.sqlite3"
        assert catalog.exists()
        problems = [p for p in exposed(home) if loose.name not in p]
        assert problems == [], f"state readable by other local accounts: {problems}"
        if SETPRIV and os.geteuid() == 0:
            for secret in (catalog, home / "chroma" / "chroma.sqlite3"):
                attempt = read_as_nobody(secret)
                assert attempt.returncode != 0 and b"car park" not in attempt.stdout, secret
    finally:
        served = traced_child(service.pid) if STRACE else service.pid
        os.kill(served, signal.SIGTERM)  # what systemd sends; strace itself would only detach
        try:
            _, err = service.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(served, signal.SIGKILL)
            _, err = service.communicate()
    assert str(loose) in err and "readable" in err, f"serve did not warn about {loose}: {err}"
    if STRACE:
        assert outside_connects(trace) == [], outside_connects(trace)


def test_a_new_home_made_from_a_shell_is_owner_only(shared_parent: Path) -> None:
    home = shared_parent / "fresh-home"
    made = cli_from_a_shell(home, "docs", "list", "--json")  # opens the catalog, the store and the database
    assert made.returncode == 0, made.stderr
    assert (home / "appliance.sqlite3").exists() and (home / "catalog.sqlite3").exists()
    assert exposed(home) == []
