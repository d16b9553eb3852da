"""Backup and restore of everything under APPLIANCE_HOME that cannot be rebuilt.

A backup is a consistent snapshot: the SQLite databases through SQLite's online backup
API, and the vector store copied while the appliance holds its store-write lock (no
ingest or delete commits meanwhile; questions go on). The audit checkpoint is copied
before the audit database, so the restored chain always reaches it. The snapshot is a
tar with a manifest of sha256s, encrypted (backup_crypto.py) because it carries the
signing and pseudonym keys. Restore checks every hash before anything replaces the
current state, and sets aside what it replaces rather than deleting it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from appliance.app import Appliance
from appliance.audit.log import database_url
from appliance.backup.crypto import Sealing, decrypt_stream, encrypt_stream
from appliance.file_digest import file_sha256
from appliance.settings import CONFIG_FILE_NAME, Settings

MANIFEST = "manifest.json"
STATE_NAMES = ("catalog.sqlite3", "appliance.sqlite3", "chroma", "keys", "audit", CONFIG_FILE_NAME)


class RestoreError(ValueError):
    """A backup that cannot be restored here (message says why)."""


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    files: int
    bytes_in: int
    bytes_out: int
    seconds: float
    notes: tuple[str, ...]


def write_backup(app: Appliance, out: Path, sealing: Sealing) -> BackupSummary:
    """Snapshot the state of `app` into `out`, encrypted; written to a temporary file, then renamed."""
    started = time.perf_counter()
    settings = app.settings
    settings.tmp_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=settings.tmp_dir, prefix="backup-") as staging_name:
        staging = Path(staging_name)
        notes = _snapshot(app, staging)
        files = {str(p.relative_to(staging)): file_sha256(p) for p in sorted(staging.rglob("*")) if p.is_file()}
        manifest = {
            "format": "appliance-snapshot/1",
            "created_ms": int(time.time() * 1000),
            "files": files,
            "notes": notes,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as target, _tar_stream(staging) as plain:
                encrypt_stream(plain, target, sealing)
                target.flush()
                os.fsync(target.fileno())
            os.replace(partial, out)
        finally:
            Path(partial).unlink(missing_ok=True)
        size_in = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
    return BackupSummary(out, len(files), size_in, out.stat().st_size, time.perf_counter() - started, tuple(notes))


def _snapshot(app: Appliance, staging: Path) -> list[str]:
    settings = app.settings
    notes: list[str] = []
    checkpoint = settings.checkpoint_file
    with app.store_writes:
        if checkpoint.exists():  # before the audit database: the restored chain then always reaches it
            (staging / "audit").mkdir()
            shutil.copy2(checkpoint, staging / "audit" / "checkpoint.json")
        if settings.store.catalog == "database":
            notes.append("the catalog is in the PostgreSQL database (store.catalog): back it up with its own tools")
        else:
            _sqlite_copy(settings.catalog_file, staging / "catalog.sqlite3")
        if settings.audit.database_url:
            notes.append("the audit database is external (audit.database_url): back it up with its own tools")
        else:
            _sqlite_copy(settings.home / "appliance.sqlite3", staging / "appliance.sqlite3")
        if settings.store.vector_store == "chroma_server":
            notes.append(
                "the vectors are on the Chroma server (store.chroma_url): back up its --path with its own tools"
            )
        else:
            shutil.copytree(settings.chroma_dir, staging / "chroma")
    shutil.copytree(settings.keys_dir, staging / "keys")
    config = settings.home / CONFIG_FILE_NAME
    if config.exists():
        shutil.copy2(config, staging / CONFIG_FILE_NAME)
    if settings.store.chroma_path or settings.store.catalog_path:
        notes.append("store paths outside APPLIANCE_HOME are restored into APPLIANCE_HOME")
    return notes


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (WAL included), through SQLite's backup API."""
    with sqlite3.connect(source) as live, sqlite3.connect(target) as copy:
        live.backup(copy)
    copy.close()
    live.close()


def restore_backup(source: Path, settings: Settings, sealing: Sealing, *, replace: bool = False) -> list[str]:
    """Restore a backup into settings.home (no running appliance may own it); returns notes.

    Existing state is refused unless `replace`, and then moved aside, never deleted.
    """
    home = settings.home
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    present = [name for name in STATE_NAMES if (home / name).exists()]
    if present and not replace:
        raise RestoreError(f"{home} already holds {', '.join(present)}: restore into an empty home, or pass --replace")
    staging = Path(tempfile.mkdtemp(dir=home, prefix=".restore-"))
    try:
        with source.open("rb") as handle:
            _extract(io.BufferedReader(_ChunkReader(decrypt_stream(handle, sealing))), staging)
        manifest = json.loads((staging / MANIFEST).read_text())
        for name, digest in manifest["files"].items():
            path = staging / name
            if not path.is_file() or file_sha256(path) != digest:
                raise RestoreError(f"{source}: {name} does not match its sha256 in the backup manifest")
        notes = list(manifest.get("notes", []))
        if present:
            aside = home / f"replaced-{time.strftime('%Y%m%dT%H%M%S')}"
            aside.mkdir(mode=0o700)
            for name in present:
                os.replace(home / name, aside / name)
            notes.append(f"the state it replaced is in {aside}")
        for name in STATE_NAMES:
            if (staging / name).exists():
                os.replace(staging / name, home / name)
        if settings.audit.database_url and database_url(settings) != f"sqlite:///{home / 'appliance.sqlite3'}":
            notes.append("the audit database is external: restore it with its own tools")
        if settings.audit.checkpoint_file:
            notes.append(
                f"the audit checkpoint was restored to {home / 'audit' / 'checkpoint.json'}: "
                f"put it at audit.checkpoint_file ({settings.audit.checkpoint_file}) if the one there is lost"
            )
        return notes
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract(stream: io.BufferedReader, staging: Path) -> None:
    """Unpack only regular files and folders, only below `staging`."""
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            target = (staging / member.name).resolve()
            if not target.is_relative_to(staging.resolve()) or not (member.isfile() or member.isdir()):
                raise RestoreError(f"the backup holds an unsafe entry {member.name!r}")
            archive.extract(member, staging, filter="data")


class _ChunkReader(io.RawIOBase):
    """A file-like view over decrypted chunks, for tarfile's streaming mode."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._buffer = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


class _tar_stream:
    """The staging folder as an uncompressed tar, read from a pipe-like temporary file."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def __enter__(self) -> BinaryIO:
        self._file = tempfile.TemporaryFile(dir=self._folder.parent)
        with tarfile.open(fileobj=self._file, mode="w") as archive:
            for path in sorted(self._folder.iterdir()):
                archive.add(path, arcname=path.name)
        self._file.seek(0)
        return self._file  # type: ignore[return-value]

    def __exit__(self, *exc: object) -> None:
        self._file.close()
