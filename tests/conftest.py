"""Session set-up: an isolated APPLIANCE_HOME, the offline switches, and the egress guard.

The guard replaces socket connect and name resolution for the whole session: any
attempt to reach something other than loopback or a Unix socket is blocked and
recorded, and the test that made it fails, even if a library swallowed the error.
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.umask(0o077)  # as every entry point of the appliance does (appliance/file_modes.py)
SESSION_HOME = Path(tempfile.mkdtemp(prefix="appliance-test-home-"))
atexit.register(shutil.rmtree, SESSION_HOME, True)
os.environ["APPLIANCE_HOME"] = str(SESSION_HOME)
os.environ.setdefault("APPLIANCE_RUNTIME__THREADS", "2")

from appliance.offline import apply_offline_environment  # noqa: E402  (after APPLIANCE_HOME)

apply_offline_environment(SESSION_HOME, threads=2)

REPO = Path(__file__).resolve().parents[1]
EVAL = REPO.parent / "shared" / "eval"
DEMO_CORPUS = REPO / "appliance" / "demo_corpus" / "documents"
DEMO_EXPECTATIONS = REPO / "appliance" / "demo_corpus" / "expectations.json"

EGRESS_ATTEMPTS: list[str] = []
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo
_real_gethostbyname = socket.gethostbyname


class EgressBlocked(OSError):
    """Raised in place of a connection to anything but loopback."""


def _is_loopback_host(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host in {"localhost", "localhost.localdomain", ""}:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check_address(family: int, address: object) -> None:
    if family == getattr(socket, "AF_UNIX", -1):
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_loopback_host(host):
        EGRESS_ATTEMPTS.append(f"connect {address!r}")
        raise EgressBlocked(f"egress blocked by the test guard: {address!r}")


def _guarded_connect(self: socket.socket, address: object) -> None:
    _check_address(self.family, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _check_address(self.family, address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
    if host is not None and not _is_loopback_host(host if not isinstance(host, bytes) else host.decode()):
        EGRESS_ATTEMPTS.append(f"resolve {host!r}")
        raise EgressBlocked(f"name resolution blocked by the test guard: {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


def _guarded_gethostbyname(host: str) -> str:
    if not _is_loopback_host(host):
        EGRESS_ATTEMPTS.append(f"resolve {host!r}")
        raise EgressBlocked(f"name resolution blocked by the test guard: {host!r}")
    return _real_gethostbyname(host)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]
socket.gethostbyname = _guarded_gethostbyname  # type: ignore[assignment]


@pytest.fixture(autouse=True)
def no_egress() -> Iterator[None]:
    """Fail the test if it (or a library under it) tried to reach outside loopback."""
    start = len(EGRESS_ATTEMPTS)
    yield
    attempts = EGRESS_ATTEMPTS[start:]
    del EGRESS_ATTEMPTS[start:]
    if attempts:
        pytest.fail(f"egress attempted: {attempts}", pytrace=False)


@pytest.fixture(scope="session")
def models():  # type: ignore[no-untyped-def]
    """The real embedded models (spaCy sm via Presidio, MiniLM), loaded once per session."""
    from appliance.build import load_models
    from appliance.settings import Settings

    loaded = load_models(Settings(home=SESSION_HOME))
    loaded.warm_up()
    assert not EGRESS_ATTEMPTS, f"egress while loading models: {EGRESS_ATTEMPTS}"
    return loaded


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh APPLIANCE_HOME for one test."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def settings(home: Path):  # type: ignore[no-untyped-def]
    from appliance.settings import Settings

    return Settings(home=home)


@pytest.fixture
def app(settings, models):  # type: ignore[no-untyped-def]
    """A real appliance (real Presidio, MiniLM, Chroma, SQLite) in a fresh home."""
    from appliance.build import build

    with build(settings, models) as built:
        yield built


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for running the real `appliance` command in a subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env.update({"APPLIANCE_HOME": str(home), "APPLIANCE_RUNTIME__THREADS": "2", **extra})
    return env


APPLIANCE_BIN = str(Path(os.sys.executable).parent / "appliance")  # type: ignore[attr-defined]
