"""A real `chroma run` on loopback for tests, from the chromadb wheel in the lock (never `chroma update`)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from appliance.bench.inference_servers import free_port, stop_process, wait_until_answering
from tests.conftest import APPLIANCE_BIN


@contextmanager
def chroma_running(data: Path) -> Iterator[str]:
    """A Chroma server storing under `data`, listening on 127.0.0.1 only; yields its http URL."""
    port = free_port()
    command = [str(Path(APPLIANCE_BIN).parent / "chroma"), "run", "--path", str(data)]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{url}/api/v2/heartbeat", server, "chroma run", seconds=60)
        yield url
    finally:
        stop_process(server)
