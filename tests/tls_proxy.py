"""A real nginx with a self-signed certificate for tests of the deploy/ proxy samples (Debian's nginx-light)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def nginx_binary() -> str:
    """nginx, or skip the test naming the Debian package."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.skip("needs the Debian package nginx-light (make system-deps)")
    if shutil.which("openssl") is None:
        pytest.skip("needs the Debian package openssl")
    return nginx


def self_signed(folder: Path, name: str = "127.0.0.1") -> tuple[Path, Path]:
    """(certificate, key) for `name`, valid one day; the certificate is its own CA."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}"),
            *("-addext", f"subjectAltName=IP:{name}", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@contextmanager
def nginx_running(folder: Path, site_conf: str) -> Iterator[Path]:
    """nginx serving `site_conf` (one http-level include) with its state in `folder`, until the block ends."""
    nginx = nginx_binary()
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    (folder / "site.conf").write_text(site_conf)
    temp = " ".join(
        f"{kind}_temp_path {folder}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (folder / "nginx.conf").write_text(
        f"pid {folder}/nginx.pid;\nerror_log {folder}/logs/error.log;\nevents {{}}\n"
        f"http {{\n access_log {folder}/logs/access.log;\n {temp}\n include {folder}/site.conf;\n}}\n"
    )
    command = [nginx, "-c", str(folder / "nginx.conf"), "-p", str(folder)]
    tested = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stderr
    subprocess.run(command, check=True, timeout=60)
    try:
        yield folder
    finally:
        subprocess.run([*command, "-s", "stop"], timeout=60)
