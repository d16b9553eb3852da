"""A throwaway PostgreSQL cluster for tests: a temporary folder, a Unix socket only, removed afterwards.

The server binaries come from Debian's `postgresql` package (`make system-deps`), which puts
them under /usr/lib/postgresql/<version>/bin. initdb refuses to run as root, so when the
tests run as root the cluster is created and run as the `postgres` OS user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

DEBIAN_PACKAGE = "postgresql"
SUPERUSER = "postgres"
PORT = 5432  # only names the socket file: the server listens on no TCP address


class PostgresUnavailable(RuntimeError):
    """No usable server binaries (the message says what is missing)."""


def find_bin_dir() -> Path:
    """The folder holding initdb, pg_ctl and postgres: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which("initdb")
    if found:
        folder = Path(found).resolve().parent
        if (folder / "pg_ctl").exists() and (folder / "postgres").exists():
            return folder
    candidates = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p, "initdb").exists()),
        key=lambda p: _version_key(p.parent.name),
    )
    if not candidates:
        raise PostgresUnavailable(
            f"PostgreSQL server binaries (initdb) not found: install the Debian package "
            f"'{DEBIAN_PACKAGE}' (`make system-deps`)"
        )
    return candidates[-1]


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


class PostgresServer:
    """One cluster under a temporary folder, reachable only through a socket in that folder."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or find_bin_dir()
        self._run_as = self._os_user()
        self.root = Path(tempfile.mkdtemp(prefix="appliance-pg-"))  # short: socket paths are limited to 107 bytes
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log_file = self.root / "server.log"
        self.started = False

    def _os_user(self) -> str | None:
        """The OS user the server must run as: `postgres` when we are root (initdb refuses root)."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise PostgresUnavailable(
                f"running as root and there is no '{SUPERUSER}' OS user to run the server as: install the "
                f"Debian package '{DEBIAN_PACKAGE}' (`make system-deps`), which creates it"
            ) from None
        if shutil.which("runuser") is None:
            raise PostgresUnavailable("running as root and `runuser` is missing: cannot start PostgreSQL as postgres")
        return SUPERUSER

    def _command(self, program: str, *args: str) -> list[str]:
        argv = [str(self.bin_dir / program), *args]
        return ["runuser", "-u", self._run_as, "--", *argv] if self._run_as else argv

    def _run(self, argv: Sequence[str]) -> None:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=self.root, check=False)
        if result.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()} {log}")

    def start(self) -> PostgresServer:
        """initdb (trust auth, UTF-8), then start listening on the socket only."""
        self.socket_dir.mkdir()
        if self._run_as:
            entry = pwd.getpwnam(self._run_as)
            for path in (self.root, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run(
            self._command(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
        )
        settings = {
            "listen_addresses": "''",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "port": str(PORT),
            "max_connections": "100",
            "fsync": "off",  # a throwaway cluster: durability is not under test
            "full_page_writes": "off",
            "synchronous_commit": "off",
        }
        options = " ".join(f"-c {name}={value}" for name, value in settings.items())
        self._run(
            self._command("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options, "-w", "start")
        )
        self.started = True
        return self

    def url(self, database: str = SUPERUSER) -> str:
        """A SQLAlchemy URL for `database` over the Unix socket."""
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.socket_dir}&port={PORT}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a fresh name unless given); return its SQLAlchemy URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host=str(self.socket_dir), port=PORT, user=SUPERUSER, dbname=SUPERUSER) as conn:
            conn.autocommit = True
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (immediately: nothing here needs to survive) and remove every file."""
        try:
            if self.started:
                self._run(self._command("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"))
                self.started = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_exc: object) -> None:
        self.stop()
