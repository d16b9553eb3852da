"""Two `appliance serve` processes behind deploy/nginx-appliance.conf (real nginx, its upstream with affinity),
each with its own home, sharing PostgreSQL (audit, users, sessions, catalog), a Chroma server, the keys and one
audit checkpoint: a document ingested through one is answered through the other, a session made on one works
on the other and survives that one stopping, and the audit chain stays one verified chain."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from appliance.access.api_keys import ApiKeys
from appliance.access.users import UserDirectory
from appliance.audit.verify import verify_log
from appliance.bench.inference_servers import free_port, stop_process
from appliance.build import build, build_records
from appliance.settings import AuditSettings, IngestSettings, Settings, StoreSettings
from tests.actors import TESTER
from tests.chroma_server import chroma_running
from tests.conftest import APPLIANCE_BIN, DEMO_CORPUS, cli_env
from tests.served import PASSWORD
from tests.tls_proxy import nginx_running, self_signed

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
pytestmark = pytest.mark.slow


def shared_settings(home: Path, url: str, chroma: str, checkpoint: Path, share: Path) -> Settings:
    return Settings(
        home=home,
        store=StoreSettings(catalog="database", vector_store="chroma_server", chroma_url=chroma, chroma_namespace="c"),
        audit=AuditSettings(database_url=url, checkpoint_file=checkpoint),
        ingest=IngestSettings(source_root=share),
    )


def env_of(settings: Settings, **more: str) -> dict[str, str]:
    return cli_env(
        settings.home,
        APPLIANCE_STORE__CATALOG="database",
        APPLIANCE_STORE__VECTOR_STORE="chroma_server",
        APPLIANCE_STORE__CHROMA_URL=settings.store.chroma_url,
        APPLIANCE_STORE__CHROMA_NAMESPACE=settings.store.chroma_namespace,
        APPLIANCE_AUDIT__DATABASE_URL=str(settings.audit.database_url),
        APPLIANCE_AUDIT__CHECKPOINT_FILE=str(settings.audit.checkpoint_file),
        APPLIANCE_INGEST__SOURCE_ROOT=str(settings.ingest.source_root),
        APPLIANCE_RUNTIME__THREADS="1",
        **more,
    )


@contextmanager
def serving(settings: Settings, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """`appliance serve` on a loopback port until the block ends (or the test stops it)."""
    service = subprocess.Popen(
        [APPLIANCE_BIN, "serve", "--port", str(port)],
        env=env_of(settings, APPLIANCE_WEB__TRUSTED_PROXIES='["127.0.0.1"]'),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            assert service.poll() is None, service.communicate()[1][-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.3)
        yield service
    finally:
        stop_process(service, 60)


def proxy_conf(root: Path, ports: list[int], tls_port: int) -> str:
    root.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed(root)
    conf = (DEPLOY / "nginx-appliance.conf").read_text()
    upstream = "\n    ".join(f"server 127.0.0.1:{port};" for port in ports)
    for old, new in (
        ("/etc/ssl/appliance/appliance.crt", str(cert)),
        ("/etc/ssl/appliance/appliance.key", str(key)),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{tls_port} ssl;"),
        ("listen [::]:443 ssl http2;", ""),
        ("listen 80;", f"listen 127.0.0.1:{free_port()};"),
        ("listen [::]:80;", ""),
        ("access_log /var/log/nginx/appliance.access.log;", f"access_log {root}/logs/upstreams.log upstreams;"),
        ("/var/log/nginx/", f"{root}/logs/"),
        ("server 127.0.0.1:7860;", upstream),
    ):
        assert old in conf, old
        conf = conf.replace(old, new)
    return "log_format upstreams '$upstream_addr';\n" + conf  # which front-end answered each request


def answered_by(nginx: Path, requests: int) -> list[str]:
    """The front-end (host:port) that answered each of the last `requests` proxied requests."""
    lines = (nginx / "logs" / "upstreams.log").read_text().splitlines()[-requests:]
    return [line.split(",")[-1].strip() for line in lines]


def sign_in(client: httpx.Client) -> str:
    form = client.get("/login")
    csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    signed_in = client.post("/login", data={"csrf": csrf, "name": "ana", "password": PASSWORD})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/app/", signed_in.text[:500]
    return str(client.cookies["appliance_session"])


def test_two_front_ends_share_documents_sessions_and_one_audit_chain(
    tmp_path: Path, postgres_url: str, models: Any
) -> None:
    share = tmp_path / "share"
    share.mkdir()
    shutil.copy(DEMO_CORPUS / "travel_expense_policy.md", share / "travel.md")
    checkpoint = tmp_path / "shared-audit" / "checkpoint.json"  # a folder both front-ends mount
    with ExitStack() as stack:
        chroma = stack.enter_context(chroma_running(tmp_path / "chroma"))
        first, second = (
            shared_settings(tmp_path / name, postgres_url, chroma, checkpoint, share) for name in ("fe-1", "fe-2")
        )
        with build(first, models) as app:  # the operator's set-up: keys, an account, a key for a tool
            directory = UserDirectory(app.audit)
            directory.add("ana", "analyst", PASSWORD, by=TESTER)
            directory.grant("ana", ["finance"], by=TESTER)
            _, token = ApiKeys(app.audit, directory).create("ana", days=1, by=TESTER)
        shutil.copytree(first.keys_dir, second.keys_dir)  # one set of keys, provisioned to every front-end
        ports = [free_port(), free_port()]
        services = [stack.enter_context(serving(s, p)) for s, p in zip((first, second), ports, strict=True)]
        tls_port = free_port()
        nginx = stack.enter_context(nginx_running(tmp_path / "nginx", proxy_conf(tmp_path / "nginx", ports, tls_port)))

        # Ingested through the first front-end (the CLI reaches the process that owns its home) ...
        ingested = subprocess.run(
            [APPLIANCE_BIN, "ingest", str(share / "travel.md"), "--collection", "finance"],
            env=env_of(first),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert ingested.returncode == 0, ingested.stderr[-3000:]
        # ... answered through the second, from the shared catalog and vectors.
        tool = openai.OpenAI(base_url=f"http://127.0.0.1:{ports[1]}/v1", api_key=token, max_retries=0, timeout=300)
        reply = tool.chat.completions.create(
            model="appliance", messages=[{"role": "user", "content": "What is the hotel cap per night?"}]
        )
        cited = reply.model_dump()["citations"]
        assert "180" in (reply.choices[0].message.content or "") and cited
        assert {c["doc_id"] for c in cited} == {"travel.md"}

        # A session made through the proxy is one session on both front-ends ...
        with httpx.Client(base_url=f"https://127.0.0.1:{tls_port}", verify=False, timeout=60) as browser:
            cookie = sign_in(browser)
            for port in ports:
                page = httpx.get(f"http://127.0.0.1:{port}/app/", cookies={"appliance_session": cookie})
                assert page.status_code == 200
            for _ in range(4):
                assert browser.get("/app/").status_code == 200
            (sticky,) = set(answered_by(nginx, 4))  # the signed-in browser stays on one front-end ...
            # ... and survives that front-end stopping: the proxy moves it to the other, still signed in.
            stop_process(services[[f"127.0.0.1:{p}" for p in ports].index(sticky)])
            assert browser.get("/app/").status_code == 200
            assert answered_by(nginx, 1) != [sticky]
            signed_out = browser.get("/logout")
            assert signed_out.status_code in (200, 303)
        alive = next(port for port, service in zip(ports, services, strict=True) if service.poll() is None)
        after = httpx.get(f"http://127.0.0.1:{alive}/app/", cookies={"appliance_session": cookie})
        assert after.status_code == 303  # signed out on the front-end still running too
    records = build_records(second)  # the audit database and the one shared checkpoint, as `audit verify` reads them
    result = verify_log(records.audit)
    actions = [e["action"] for e in records.audit.events()]
    records.audit.close()
    assert result.ok, result.to_json()
    assert result.checkpoint is not None and result.checkpoint.seq == result.chain.last_seq  # one checkpoint: the head
    assert {"docs.ingest", "api.call", "login.success", "logout"} <= set(actions)
