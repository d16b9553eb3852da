"""Session set-up: an isolated APPLIANCE_HOME, the offline switches, and the egress guard.

The guard replaces socket connect and name resolution for the whole session: any
attempt to reach something other than loopback or a Unix socket is blocked and
recorded, and the test that made it fails, even if a library swallowed the error.
"""

from __future__ import annotations

import atexit
import os
import shutil
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
from tests.subprocess_guard import egress_guard  # noqa: E402

apply_offline_environment(SESSION_HOME, threads=2)

REPO = Path(__file__).resolve().parents[1]
EVAL = REPO.parent / "shared" / "eval"
DEMO_CORPUS = REPO / "appliance" / "demo" / "corpus" / "documents"
DEMO_EXPECTATIONS = REPO / "appliance" / "demo" / "corpus" / "expectations.json"

EGRESS_ATTEMPTS = egress_guard.ATTEMPTS
EgressBlocked = egress_guard.EgressBlocked
egress_guard.install()
# Python subprocesses started through cli_env() load the guard too and report here.
SUBPROCESS_GUARD = REPO / "tests" / "subprocess_guard"
SUBPROCESS_EGRESS_LOG = SESSION_HOME.parent / f"{SESSION_HOME.name}-egress.log"
atexit.register(SUBPROCESS_EGRESS_LOG.unlink, True)


def _subprocess_attempts() -> list[str]:
    try:
        return SUBPROCESS_EGRESS_LOG.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []


@pytest.fixture(autouse=True)
def no_egress() -> Iterator[None]:
    """Fail the test if it (or a library under it) tried to reach outside loopback."""
    start, start_subprocesses = len(EGRESS_ATTEMPTS), len(_subprocess_attempts())
    yield
    attempts = EGRESS_ATTEMPTS[start:] + _subprocess_attempts()[start_subprocesses:]
    del EGRESS_ATTEMPTS[start:]
    if attempts:
        pytest.fail(f"egress attempted: {attempts}", pytrace=False)


@pytest.fixture(scope="session")
def models():  # type: ignore[no-untyped-def]
    """The real embedded models (spaCy md via Presidio, MiniLM; the GGUF loads on first use), loaded once per session."""
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


@pytest.fixture(scope="session")
def postgres_server():  # type: ignore[no-untyped-def]
    """One throwaway PostgreSQL cluster for the session (Unix socket only), stopped and removed at the end."""
    from tests.postgres_server import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer()
    except PostgresUnavailable as error:
        pytest.skip(str(error))
    with server:
        yield server


@pytest.fixture
def postgres_url(postgres_server) -> str:  # type: ignore[no-untyped-def]
    """A blank database of its own for each test, as a SQLAlchemy URL over the socket."""
    return str(postgres_server.create_database())


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for running the real `appliance` command in a subprocess, under the egress guard."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    paths = [str(SUBPROCESS_GUARD), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env.update({"PYTHONPATH": os.pathsep.join(paths), "EGRESS_GUARD_LOG": str(SUBPROCESS_EGRESS_LOG)})
    env.update({"APPLIANCE_HOME": str(home), "APPLIANCE_RUNTIME__THREADS": "2", **extra})
    return env


APPLIANCE_BIN = str(Path(os.sys.executable).parent / "appliance")  # type: ignore[attr-defined]
