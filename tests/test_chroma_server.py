"""The vector store on a Chroma server: a real `chroma run` on loopback behind deploy/nginx-chroma.conf (real
nginx, TLS, the token check), used by the real appliance for ingest and cited answers."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.answer.answering import ask
from appliance.bench.inference_servers import free_port, wait_until_answering
from appliance.build import build
from appliance.settings import Settings, StoreSettings
from appliance.store.documents import show_document
from ingestion.pipeline import ingest_paths
from tests.actors import TESTER
from tests.conftest import APPLIANCE_BIN, DEMO_CORPUS, cli_env
from tests.tls_proxy import nginx_running, self_signed

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
TOKEN = "a-long-random-token-the-proxy-checks-0123456789"


@dataclass
class ChromaBehindProxy:
    url: str  # https, through nginx
    direct: str  # http, the server itself on loopback
    ca: Path
    token_file: Path
    connects: Path | None  # strace's record of the server's connections, when strace exists


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaBehindProxy]:
    root = tmp_path_factory.mktemp("chroma-server")
    port, tls_port = free_port(), free_port()
    command = [str(Path(APPLIANCE_BIN).parent / "chroma"), "run", "--path", str(root / "data")]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    connects = root / "connect.trace" if shutil.which("strace") else None
    if connects is not None:
        command = ["strace", "-f", "-qq", "-e", "trace=connect", "-o", str(connects), *command]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cert, key = self_signed(root)
    token_file = root / "chroma.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    (root / "token.map").write_text(f'"{TOKEN}" 1;\n')
    conf = (DEPLOY / "nginx-chroma.conf").read_text()
    for old, new in (
        ("/etc/ssl/chroma/chroma.crt", str(cert)),
        ("/etc/ssl/chroma/chroma.key", str(key)),
        ("/etc/nginx/chroma-token.map", str(root / "token.map")),
        ("listen 8443 ssl;", f"listen 127.0.0.1:{tls_port} ssl;"),
        ("listen [::]:8443 ssl;", ""),
        ("/var/log/nginx/", f"{root}/nginx/logs/"),
        ("127.0.0.1:8000", f"127.0.0.1:{port}"),
    ):
        assert old in conf, old
        conf = conf.replace(old, new)
    direct = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{direct}/api/v2/heartbeat", server, "chroma run", seconds=60)
        with nginx_running(root / "nginx", conf):
            yield ChromaBehindProxy(f"https://127.0.0.1:{tls_port}", direct, cert, token_file, connects)
    finally:
        if connects is not None:  # stop the traced server itself; strace then exits with it
            subprocess.run(["pkill", "-TERM", "-P", str(server.pid)], timeout=30)
        else:
            server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def server_store(chroma: ChromaBehindProxy, **more: Any) -> StoreSettings:
    options: dict[str, Any] = {
        "vector_store": "chroma_server",
        "chroma_url": chroma.url,
        "chroma_token_file": chroma.token_file,
        "chroma_ca_file": chroma.ca,
        "chroma_namespace": "bank-a",
    }
    return StoreSettings(**{**options, **more})


def test_ingest_and_cited_answers_through_the_token_proxy(chroma: ChromaBehindProxy, home: Path, models: Any) -> None:
    settings = Settings(home=home, store=server_store(chroma))
    with build(settings, models) as app:
        report = ingest_paths(app, [DEMO_CORPUS / "travel_expense_policy.md"], collection="finance", actor=TESTER)
        assert not report.failed
        answer = ask(app, "What is the hotel cap per night?", actor=TESTER, collections=["finance"])
        assert not answer.refused and "180" in answer.answer
        for citation in answer.citations:
            document = show_document(app, citation["doc_id"], actor=TESTER, collections=["finance"])
            assert document["text"][citation["start"] : citation["end"]] == citation["quote"]
        stored = app.vectors.count()
    assert stored == report.ingested[0].chunks
    assert not (home / "chroma").exists()  # the vectors are on the server, not in the home
    names = [
        c["name"]
        for c in httpx.get(
            f"{chroma.direct}/api/v2/tenants/default_tenant/databases/default_database/collections"
        ).json()
    ]
    assert any(name.startswith("bank-a-chunks-") for name in names)
    if chroma.connects is not None:
        outside = [
            line for line in chroma.connects.read_text().splitlines() if "AF_INET" in line and "127.0.0.1" not in line
        ]
        assert not outside, outside  # the Chroma server itself opened no connection beyond loopback


def test_the_proxy_refuses_a_missing_or_wrong_token_and_an_unknown_certificate(
    chroma: ChromaBehindProxy, home: Path, tmp_path: Path, models: Any
) -> None:
    verify = str(chroma.ca)
    assert httpx.get(f"{chroma.url}/api/v2/heartbeat", verify=verify).status_code == 401
    wrong = httpx.get(f"{chroma.url}/api/v2/heartbeat", verify=verify, headers={"X-Chroma-Token": TOKEN + "x"})
    assert wrong.status_code == 401
    right = httpx.get(f"{chroma.url}/api/v2/heartbeat", verify=verify, headers={"X-Chroma-Token": TOKEN})
    assert right.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{chroma.url}/api/v2/heartbeat", headers={"X-Chroma-Token": TOKEN})  # not our CA: refused

    other_ca, _ = self_signed(tmp_path)
    env_base = {"APPLIANCE_HOME": str(home), "APPLIANCE_STORE__VECTOR_STORE": "chroma_server"}
    env_base |= {"APPLIANCE_STORE__CHROMA_URL": chroma.url, "APPLIANCE_STORE__CHROMA_NAMESPACE": "bank-a"}
    for extra, expected in (
        ({"APPLIANCE_STORE__CHROMA_CA_FILE": str(chroma.ca)}, "401"),  # no token
        (
            {
                "APPLIANCE_STORE__CHROMA_CA_FILE": str(other_ca),
                "APPLIANCE_STORE__CHROMA_TOKEN_FILE": str(chroma.token_file),
            },
            "certificate",
        ),
    ):
        env = cli_env(home, **{k: v for k, v in {**env_base, **extra}.items() if k != "APPLIANCE_HOME"})
        listed = subprocess.run([APPLIANCE_BIN, "docs", "list"], env=env, capture_output=True, text=True, timeout=120)
        assert listed.returncode != 0 and "Traceback" not in listed.stderr
        assert chroma.url in listed.stderr and expected in listed.stderr.lower(), listed.stderr
    loose = tmp_path / "loose.token"
    loose.write_text(TOKEN)
    loose.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        build(Settings(home=home, store=server_store(chroma, chroma_token_file=loose)), models)
