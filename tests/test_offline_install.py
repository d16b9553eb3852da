"""Air-gapped install (deploy/): the bundle checks, the service unit, the TLS proxy, and the whole path.

The last group (`offline_install`) builds the real wheelhouse from the lock (needs the package
registry, as CI has), installs it inside a network namespace with no network (`unshare -n`), runs
the self-test with a backup and restore, then installs again over it and finds the data still there.
`make offline-test` runs just that group; its figures are printed (pytest -s shows them).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.conftest import APPLIANCE_BIN, REPO, cli_env

DEPLOY = REPO / "deploy"
SAMPLE = REPO / "appliance" / "demo" / "corpus" / "documents" / "travel_expense_policy.md"
PASSWORD = "a long pass phrase for the proxy test"


def _load_bundle_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("offline_bundle", DEPLOY / "offline_bundle.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bundle = _load_bundle_module()


# --- the bundle checks, on a small fake wheelhouse -------------------------------------------------------


def _fake_wheel(folder: Path, filename: str) -> str:
    path = folder / filename
    path.write_bytes(os.urandom(2048))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def fake_bundle(tmp_path: Path) -> Path:
    """A wheelhouse of three fake wheels and a project wheel, with a manifest written for this host."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    alpha = _fake_wheel(wheels, "alpha-1.0-py3-none-any.whl")
    beta = _fake_wheel(wheels, "Beta_Pkg-2.0-cp311-cp311-manylinux_2_28_x86_64.whl")
    gamma = _fake_wheel(wheels, "gamma-0.1-py3-none-any.whl")
    _fake_wheel(wheels, "appliance-0.1.0-py3-none-any.whl")
    (tmp_path / "lock.txt").write_text(
        f"# a comment\nalpha==1.0 \\\n    --hash=sha256:{alpha}\nbeta-pkg==2.0 \\\n    --hash=sha256:{beta}\n"
    )
    (tmp_path / "nodeps.txt").write_text(f"gamma==0.1 \\\n    --hash=sha256:{gamma}\n")
    bundle.write_manifest(
        wheels,
        tmp_path / "lock.txt",
        tmp_path / "nodeps.txt",
        "appliance-0.1.0-py3-none-any.whl",
        "-DGGML_NATIVE=OFF",
        "test",
    )
    return wheels


def _verify(wheels: Path, prefix: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEPLOY / "offline_bundle.py"), "verify", str(wheels), "--prefix", str(prefix)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _edit_manifest(wheels: Path, **target: Any) -> None:
    manifest = json.loads((wheels / "manifest.json").read_text())
    manifest["target"].update(target)
    (wheels / "manifest.json").write_text(json.dumps(manifest))


def test_manifest_records_files_and_build_host(fake_bundle: Path) -> None:
    manifest = json.loads((fake_bundle / "manifest.json").read_text())
    files = {w["file"]: w for w in manifest["wheels"]}
    assert set(files) == {p.name for p in fake_bundle.glob("*.whl")}
    for wheel in manifest["wheels"]:
        assert wheel["sha256"] == hashlib.sha256((fake_bundle / wheel["file"]).read_bytes()).hexdigest()
    assert files["Beta_Pkg-2.0-cp311-cp311-manylinux_2_28_x86_64.whl"]["name"] == "beta-pkg"
    assert files["gamma-0.1-py3-none-any.whl"]["group"] == "nodeps"
    assert files["appliance-0.1.0-py3-none-any.whl"]["group"] == "project"
    host = manifest["build_host"]
    assert host["python"].startswith("3.11") and host["machine"] and host["system"] == "Linux"
    assert host["glibc"] and manifest["target"]["min_glibc"] == host["glibc"]
    assert manifest["target"]["cpu_flags"] == ["avx", "avx2", "bmi2", "f16c", "fma", "sse4_2"]
    sums = (fake_bundle / "SHA256SUMS").read_text()
    assert f"{files['alpha-1.0-py3-none-any.whl']['sha256']}  alpha-1.0-py3-none-any.whl" in sums


def test_manifest_refuses_a_wheelhouse_that_is_not_the_lock(fake_bundle: Path, tmp_path: Path) -> None:
    (fake_bundle / "stray-9.9-py3-none-any.whl").write_bytes(b"x")
    (fake_bundle / "alpha-1.0-py3-none-any.whl").write_bytes(b"changed")
    (fake_bundle / "gamma-0.1-py3-none-any.whl").unlink()
    with pytest.raises(bundle.BundleError) as raised:
        bundle.write_manifest(
            fake_bundle, tmp_path / "lock.txt", tmp_path / "nodeps.txt", "appliance-0.1.0-py3-none-any.whl", "", ""
        )
    message = str(raised.value)
    assert "stray-9.9-py3-none-any.whl: not in the lock" in message
    assert "alpha-1.0-py3-none-any.whl: sha256" in message and "is not the locked one" in message
    assert "no wheel for gamma==0.1 (nodeps)" in message


def test_llama_cpu_flags_follow_cmake_args() -> None:
    assert "avx2" in bundle.llama_cpu_flags("-DGGML_NATIVE=OFF")
    assert bundle.llama_cpu_flags("-DGGML_NATIVE=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF") == [
        "avx",
        "bmi2",
        "f16c",
        "sse4_2",
    ]
    assert "avx512f" in bundle.llama_cpu_flags("-DGGML_NATIVE=OFF -DGGML_AVX512=ON")
    with pytest.raises(bundle.BundleError, match="GGML_NATIVE=ON"):
        bundle.llama_cpu_flags("-DGGML_NATIVE=ON")


def test_verify_passes_a_good_bundle(fake_bundle: Path, tmp_path: Path) -> None:
    done = _verify(fake_bundle, tmp_path / "opt" / "appliance")
    assert done.returncode == 0, done.stderr
    assert "ok         wheel hashes (4 files)" in done.stdout
    assert "manifest   sha256" in done.stdout


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("alter", "altered wheel: alpha-1.0-py3-none-any.whl"),
        ("remove", "missing wheel: gamma-0.1-py3-none-any.whl"),
        ("python", "wrong Python: this is CPython 3.11"),
        ("platform", "wrong platform: this is Linux"),
        ("glibc", "glibc too old or absent: this host has"),
        ("cpu", "CPU lacks avx512_imaginary"),
        ("disk", "not enough disk:"),
        ("manifest", "no manifest.json in"),
    ],
)
def test_verify_names_what_is_wrong(fake_bundle: Path, tmp_path: Path, damage: str, expected: str) -> None:
    if damage == "alter":
        with (fake_bundle / "alpha-1.0-py3-none-any.whl").open("ab") as wheel:
            wheel.write(b"!")
    elif damage == "remove":
        (fake_bundle / "gamma-0.1-py3-none-any.whl").unlink()
    elif damage == "python":
        _edit_manifest(fake_bundle, python="3.99")
    elif damage == "platform":
        _edit_manifest(fake_bundle, machine="riscv128")
    elif damage == "glibc":
        _edit_manifest(fake_bundle, min_glibc="99.1")
    elif damage == "cpu":
        if bundle.cpu_flags() is None or bundle.host_facts()["machine"] != "x86_64":
            pytest.skip("the CPU check runs on x86-64 Linux")
        _edit_manifest(fake_bundle, cpu_flags=["avx", "avx512_imaginary"])
    elif damage == "disk":
        _edit_manifest(fake_bundle, installed_bytes_estimate=10**18)
    else:
        (fake_bundle / "manifest.json").unlink()
    done = _verify(fake_bundle, tmp_path / "opt" / "appliance")
    assert done.returncode == 1
    assert expected in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_install_offline_stops_before_installing_from_a_bad_bundle(fake_bundle: Path, tmp_path: Path) -> None:
    with (fake_bundle / "alpha-1.0-py3-none-any.whl").open("ab") as wheel:
        wheel.write(b"!")
    prefix = tmp_path / "opt" / "appliance"
    done = subprocess.run(
        [str(DEPLOY / "install-offline.sh"), "--prefix", str(prefix), "--wheels", str(fake_bundle)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "altered wheel: alpha-1.0-py3-none-any.whl" in done.stderr
    assert "install-offline: FAIL: the checks above failed; nothing was installed" in done.stderr
    assert not prefix.exists()


def test_install_offline_refuses_to_replace_a_folder_that_is_not_a_venv(fake_bundle: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "opt" / "appliance"
    prefix.mkdir(parents=True)
    (prefix / "precious.txt").write_text("keep me")
    done = subprocess.run(
        [str(DEPLOY / "install-offline.sh"), "--prefix", str(prefix), "--wheels", str(fake_bundle)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "is not a virtual environment: refusing to replace it" in done.stderr
    assert (prefix / "precious.txt").read_text() == "keep me"


def test_a_failed_upgrade_puts_the_previous_installation_back(fake_bundle: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "opt" / "appliance"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(prefix)], check=True, timeout=120)
    (prefix / "the-old-one.txt").write_text("old")
    done = subprocess.run(  # the fake wheels pass the hash checks but are not installable
        [str(DEPLOY / "install-offline.sh"), "--prefix", str(prefix), "--wheels", str(fake_bundle)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1
    assert "upgrade: the installed version is set aside" in done.stdout
    assert "install-offline: FAIL: pip could not install the bundle" in done.stderr
    assert "the previous installation was put back" in done.stderr
    assert (prefix / "the-old-one.txt").read_text() == "old"
    assert not Path(f"{prefix}.previous").exists()


def test_requirements_come_from_the_manifest(fake_bundle: Path, tmp_path: Path) -> None:
    bundle.write_requirements(fake_bundle, tmp_path)
    lock = bundle.read_lock(tmp_path / "lock.txt")
    assert set(lock) == {"alpha", "beta-pkg", "appliance"}
    assert set(bundle.read_lock(tmp_path / "nodeps.txt")) == {"gamma"}
    manifest = json.loads((fake_bundle / "manifest.json").read_text())
    assert lock["alpha"][1] == [next(w["sha256"] for w in manifest["wheels"] if w["name"] == "alpha")]


def test_shell_scripts_pass_shellcheck() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("needs the Debian package shellcheck (make system-deps)")
    scripts = [str(DEPLOY / "build-wheelhouse.sh"), str(DEPLOY / "install-offline.sh")]
    done = subprocess.run(["shellcheck", *scripts], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout


# --- the service unit and the reverse proxy ----------------------------------------------------------------


def test_service_unit_is_hardened_and_verifies(tmp_path: Path) -> None:
    text = (DEPLOY / "appliance.service").read_text()
    directives = {
        line.split("=", 1)[0]: line.split("=", 1)[1] for line in text.splitlines() if "=" in line and line[0].isalpha()
    }
    assert directives["User"] == "appliance" and directives["NoNewPrivileges"] == "yes"
    assert directives["ProtectSystem"] == "strict" and directives["PrivateTmp"] == "yes"
    assert directives["ReadWritePaths"] == "/var/lib/appliance"
    assert "Environment=APPLIANCE_HOME=/var/lib/appliance" in text
    assert "Environment=APPLIANCE_WEB__SECURE_COOKIES=true" in text
    assert directives["IPAddressDeny"] == "any" and directives["IPAddressAllow"] == "localhost"
    assert directives["ExecStart"] == "/opt/appliance/bin/appliance serve --host 127.0.0.1 --port 7860"
    if shutil.which("systemd-analyze") is None:
        pytest.skip("needs systemd-analyze (the Debian package systemd)")
    # Verified as installed: the ExecStart binary must exist, so point it at this checkout's command.
    unit = tmp_path / "appliance.service"
    unit.write_text(text.replace("/opt/appliance/bin/appliance", APPLIANCE_BIN))
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def proxied_service(tmp_path: Path, home: Path) -> Iterator[tuple[str, str]]:
    """`appliance serve` on loopback behind deploy/nginx-appliance.conf (self-signed TLS); yields (https, direct)."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.skip("needs the Debian package nginx-light (make system-deps)")
    if shutil.which("openssl") is None:
        pytest.skip("needs the Debian package openssl")
    app_port, tls_port, http_port = _free_port(), _free_port(), _free_port()
    run = tmp_path / "nginx"
    (run / "logs").mkdir(parents=True)
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=appliance.test"),
            *("-keyout", str(run / "key.pem"), "-out", str(run / "cert.pem")),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    conf = (DEPLOY / "nginx-appliance.conf").read_text()
    for old, new in (
        ("/etc/ssl/appliance/appliance.crt", str(run / "cert.pem")),
        ("/etc/ssl/appliance/appliance.key", str(run / "key.pem")),
        ("listen 443 ", f"listen {tls_port} "),
        ("listen [::]:443 ", f"listen [::]:{tls_port} "),
        ("listen 80;", f"listen {http_port};"),
        ("listen [::]:80;", f"listen [::]:{http_port};"),
        ("/var/log/nginx/", f"{run}/logs/"),
        ("127.0.0.1:7860", f"127.0.0.1:{app_port}"),
    ):
        assert old in conf, old
        conf = conf.replace(old, new)
    (run / "appliance.conf").write_text(conf)
    temp = " ".join(f"{kind}_temp_path {run}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (run / "nginx.conf").write_text(
        f"pid {run}/nginx.pid;\nerror_log {run}/logs/error.log;\nevents {{}}\n"
        f"http {{\n access_log {run}/logs/access.log;\n {temp}\n include {run}/appliance.conf;\n}}\n"
    )
    tested = subprocess.run(
        [nginx, "-t", "-c", str(run / "nginx.conf"), "-p", str(run)], capture_output=True, text=True
    )
    assert tested.returncode == 0, tested.stderr
    env = cli_env(
        home,
        APPLIANCE_WEB__SECURE_COOKIES="true",
        APPLIANCE_WEB__TRUSTED_PROXY_HEADER="X-Remote-User",
        APPLIANCE_WEB__TRUSTED_PROXIES='["127.0.0.1"]',
    )
    added = subprocess.run(
        [APPLIANCE_BIN, "users", "add", "ana", "--role", "analyst", "--password-stdin"],
        input=PASSWORD + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    service = subprocess.Popen(
        [APPLIANCE_BIN, "serve", "--port", str(app_port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    subprocess.run([nginx, "-c", str(run / "nginx.conf"), "-p", str(run)], check=True, timeout=60)
    direct = f"http://127.0.0.1:{app_port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert service.poll() is None, service.communicate()
            try:
                if httpx.get(direct + "/login", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.3)
        yield f"https://127.0.0.1:{tls_port}", direct
    finally:
        subprocess.run([nginx, "-s", "stop", "-c", str(run / "nginx.conf"), "-p", str(run)], timeout=60)
        service.send_signal(signal.SIGTERM)
        try:
            service.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            service.kill()
            service.communicate()


@pytest.mark.slow
def test_tls_proxy_serves_the_appliance_with_secure_cookies(proxied_service: tuple[str, str]) -> None:
    url, direct = proxied_service
    with httpx.Client(base_url=url, verify=False, timeout=60) as client:
        form = client.get("/login")
        assert form.status_code == 200
        assert form.headers["strict-transport-security"].startswith("max-age=")
        assert "secure" in form.headers["set-cookie"].lower()
        csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        signed_in = client.post("/login", data={"csrf": csrf, "name": "ana", "password": PASSWORD})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/app/"
        session = next(c for c in signed_in.headers.get_list("set-cookie") if c.startswith("appliance_session="))
        assert "; Secure" in session and "HttpOnly" in session and "SameSite=strict" in session
        page = client.get("/app/")
        assert page.status_code == 200
        # Gradio builds its URLs from the forwarded host and scheme: https, with the port.
        assert f'"root":"{url}/app"' in page.text
    # Single sign-on trusts the header only from the proxy's address, and the proxy never passes a client's.
    assert httpx.get(direct + "/", headers={"X-Remote-User": "ana"}).headers["location"].endswith("/app/")
    with httpx.Client(base_url=url, verify=False, timeout=60) as client:
        forged = client.get("/", headers={"X-Remote-User": "ana"})
        assert forged.status_code == 303 and forged.headers["location"].endswith("/login")
        assert "appliance_session" not in forged.headers.get("set-cookie", "")


# --- the whole path, with no network ----------------------------------------------------------------------


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=30).returncode == 0
    except OSError:
        return False


def _no_network(
    *command: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run inside a new network namespace: only a loopback interface, and that one down."""
    return subprocess.run(
        ["unshare", "-n", *command], env=env, input=stdin, capture_output=True, text=True, timeout=1800
    )


FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if not _unshare_works():
        pytest.skip("needs `unshare -n` (util-linux, as root or with user namespaces)")
    wheels = tmp_path_factory.mktemp("bundle") / "offline_wheels"
    # pip's own cache, not the test session's (conftest points XDG_CACHE_HOME into a throw-away home): a
    # machine that ran `make install` has the locked wheels and the built llama-cpp-python wheel there.
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "TMPDIR")}
    started = time.monotonic()
    built = subprocess.run(
        [str(DEPLOY / "build-wheelhouse.sh"), "--out", str(wheels)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    FIGURES["build_s"] = round(time.monotonic() - started, 1)
    try:
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        yield wheels
    finally:
        shutil.rmtree(wheels, ignore_errors=True)  # about 0.9 GB


@pytest.fixture(scope="module")
def installed(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    prefix = tmp_path_factory.mktemp("opt") / "appliance"
    started = time.monotonic()
    done = _no_network(
        str(DEPLOY / "install-offline.sh"), "--prefix", str(prefix), "--wheels", str(wheelhouse), "--selftest-backup"
    )
    FIGURES["install_script_s"] = round(time.monotonic() - started, 1)
    try:
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        yield prefix, done.stdout
    finally:
        for folder in (prefix, Path(f"{prefix}.previous")):
            shutil.rmtree(folder, ignore_errors=True)  # about 3 GB each


@pytest.mark.slow
@pytest.mark.offline_install
@pytest.mark.timeout(3600)
def test_wheelhouse_holds_the_lock(wheelhouse: Path) -> None:
    manifest = json.loads((wheelhouse / "manifest.json").read_text())
    by_name = {w["name"]: w for w in manifest["wheels"]}
    locked = bundle.read_lock(REPO / "requirements" / "lock.txt") | bundle.read_lock(
        REPO / "requirements" / "nodeps.txt"
    )
    assert set(by_name) == set(locked) | {"appliance"}
    assert not {"pytest", "ruff", "mypy", "playwright"} & set(by_name), "development tools in the bundle"
    for name, (version, _hashes) in locked.items():
        assert bundle.public_version(by_name[name]["version"]) == version, name
    assert by_name["torch"]["version"].endswith("+cpu")
    llama = by_name["llama-cpp-python"]
    assert llama["origin"] == "built from the locked sdist" and llama["file"].endswith("linux_x86_64.whl")
    assert manifest["llama_cpp_python"]["cmake_args"].count("-DGGML_NATIVE=OFF") == 1
    assert manifest["build_host"]["glibc"] and manifest["build_host"]["python"].startswith("3.11.")
    assert not [p for p in wheelhouse.iterdir() if p.suffix not in (".whl", ".json") and p.name != "SHA256SUMS"]
    FIGURES["bundle_mb"] = round(manifest["total_bytes"] / 1e6, 1)
    FIGURES["wheels"] = len(manifest["wheels"])


@pytest.mark.slow
@pytest.mark.offline_install
@pytest.mark.timeout(3600)
def test_offline_install_passes_its_self_test_with_no_network(installed: tuple[Path, str]) -> None:
    prefix, output = installed
    assert "ok         wheel hashes" in output
    for step in ("ingest", "redaction", "ask", "audit verify", "backup", "restore", "restored: verify"):
        assert f"  ok    {step} " in output, output
    assert "SELF-TEST PASS" in output and "install-offline: PASS" in output
    FIGURES["selftest_lines"] = [line for line in output.splitlines() if line.startswith(("  ok", "SELF-TEST"))]
    FIGURES["summary"] = next(line for line in output.splitlines() if line.startswith("install-offline: PASS"))
    # The environment holds exactly the bundle's versions.
    listed = _no_network(
        str(prefix / "bin" / "python"),
        "-m",
        "pip",
        "list",
        "--format",
        "json",
        env={"PATH": os.environ["PATH"], "PIP_CONFIG_FILE": "/dev/null"},
    )
    assert listed.returncode == 0, listed.stderr
    have = {bundle.normalize(p["name"]): p["version"] for p in json.loads(listed.stdout)}
    manifest = json.loads((prefix / "share" / "appliance" / "bundle-manifest.json").read_text())
    for wheel in manifest["wheels"]:
        assert have.get(wheel["name"]) == wheel["version"], wheel["file"]


@pytest.mark.slow
@pytest.mark.offline_install
@pytest.mark.timeout(3600)
def test_an_upgrade_keeps_the_data(installed: tuple[Path, str], wheelhouse: Path, tmp_path: Path) -> None:
    prefix, _output = installed
    appliance = str(prefix / "bin" / "appliance")
    env = {"PATH": os.environ["PATH"], "APPLIANCE_HOME": str(tmp_path / "var-lib-appliance")}
    ingested = _no_network(appliance, "ingest", str(SAMPLE), "--collection", "policies", "--json", env=env)
    assert ingested.returncode == 0, ingested.stderr
    before = json.loads(_no_network(appliance, "docs", "list", "--json", env=env).stdout)

    started = time.monotonic()
    again = _no_network(
        str(DEPLOY / "install-offline.sh"), "--prefix", str(prefix), "--wheels", str(wheelhouse), "--no-selftest"
    )
    FIGURES["reinstall_s"] = round(time.monotonic() - started, 1)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "upgrade: the installed version is set aside" in again.stdout
    FIGURES["reinstall_summary"] = next(x for x in again.stdout.splitlines() if x.startswith("install-offline: PASS"))
    assert not Path(f"{prefix}.previous").exists()

    assert json.loads(_no_network(appliance, "docs", "list", "--json", env=env).stdout) == before
    verified = _no_network(appliance, "audit", "verify", "--json", env=env)
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"], verified.stdout
    asked = _no_network(
        appliance, "ask", "What is the hotel cap per night?", "--collection", "policies", "--json", env=env
    )
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    shown = json.loads(
        _no_network(
            appliance, "docs", "show", before[0]["doc_id"], "--collection", "policies", "--json", env=env
        ).stdout
    )
    assert answer["citations"] and not answer["refused"]
    for citation in answer["citations"]:
        assert shown["text"][citation["start"] : citation["end"]] == citation["quote"]
    with sqlite3.connect(tmp_path / "var-lib-appliance" / "appliance.sqlite3") as db:
        applied = [row[0] for row in db.execute("SELECT version FROM appliance_schema_migrations ORDER BY version")]
    assert applied and applied == sorted(set(applied))
    print(f"\noffline-install figures: {json.dumps(FIGURES, indent=2)}")
