"""OpenAI-compatible inference servers on loopback for `bench scale` and the tests: llama-cpp-python's
`llama_cpp.server`, run as an operator runs it on an inference host (README: Answers), from the bundle.

Each serves one GGUF under one or more model names (a llama-cpp-python config file with a `models`
list); `cpus` pins it to cores with taskset, so that one server per core can be measured on a small host.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_answering(
    url: str, process: subprocess.Popen[bytes], what: str, log: Path | None = None, seconds: float = 120
) -> None:
    """Poll `url` until it answers 200; RuntimeError (with the end of `log`) if `process` exits or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
            raise RuntimeError(f"{what} exited: {tail}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {seconds:g} s")
        time.sleep(0.2)


@contextmanager
def llama_cpp_server(
    folder: Path, aliases: list[str], *, model: Path | None = None, threads: int = 1, cpus: str | None = None
) -> Iterator[str]:
    """Serve `model` (default: the embedded GGUF) as each of `aliases` on 127.0.0.1; yields the /v1 base URL.

    `cpus` ("0", "1"...) pins the server to those cores with taskset."""
    from appliance.backends.llama_generator import embedded_gguf_path

    port = free_port()
    gguf = str(model or embedded_gguf_path())
    config = {
        "host": "127.0.0.1",
        "port": port,
        "models": [
            {
                "model": gguf,
                "model_alias": alias,
                "n_ctx": 4096,
                "n_threads": threads,
                "n_threads_batch": threads,
                "seed": 0,
                "verbose": False,
            }
            for alias in aliases
        ],
    }
    folder.mkdir(parents=True, exist_ok=True)
    config_file = folder / f"llama-server-{port}.json"
    config_file.write_text(json.dumps(config))
    command = [sys.executable, "-m", "llama_cpp.server", "--config_file", str(config_file)]
    if cpus is not None:
        command = ["taskset", "-c", cpus, *command]
    log = (folder / f"llama-server-{port}.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_answering(f"{url}/models", process, "llama_cpp.server", folder / f"llama-server-{port}.log")
        yield url
    finally:
        stop_process(process)
        log.close()


def stop_process(process: subprocess.Popen[Any], seconds: float = 30) -> None:
    """SIGTERM, then SIGKILL if it has not exited after `seconds`; reaped either way."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
