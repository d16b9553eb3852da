"""`appliance backup` (through the running service when there is one) and `appliance restore`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from appliance.settings import Settings


def add_backup_commands(commands: Any) -> None:
    """Register `backup` and `restore` on the root parser's subparsers."""
    backup = commands.add_parser("backup", help="encrypted, consistent snapshot of databases, vectors and keys")
    backup.add_argument("--out", type=Path, required=True, metavar="FILE")
    seal = backup.add_mutually_exclusive_group(required=True)
    seal.add_argument("--passphrase-stdin", action="store_true", help="read the passphrase from standard input")
    seal.add_argument("--public-key", type=Path, metavar="KEYFILE", help="an operator's X25519 public key (PEM)")
    restore = commands.add_parser("restore", help="restore a backup into APPLIANCE_HOME (service stopped)")
    restore.add_argument("backup", type=Path, metavar="FILE")
    unseal = restore.add_mutually_exclusive_group(required=True)
    unseal.add_argument("--passphrase-stdin", action="store_true")
    unseal.add_argument("--private-key", type=Path, metavar="KEYFILE", help="the X25519 private key (PEM)")
    restore.add_argument("--replace", action="store_true", help="set the current state aside and replace it")


def cmd_backup(args: argparse.Namespace, settings: Settings, run: Any, error: type[Exception]) -> int:
    """`run(settings, command, args)` is the CLI's store-command runner (socket or local)."""
    request: dict[str, Any] = {"out": str(args.out.absolute())}
    if args.passphrase_stdin:
        request["passphrase"] = _stdin_secret(error)
    else:
        request["public_key_pem"] = _read(args.public_key, error).decode()
    result = run(settings, "backup", request)
    print(
        f"backup written to {result['path']}: {result['files']} files, {result['bytes_in']:,} bytes "
        f"({result['bytes_out']:,} encrypted) in {result['seconds']} s"
    )
    for note in result["notes"]:
        print(f"note: {note}")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings, error: type[Exception]) -> int:
    from appliance.actors import os_operator
    from appliance.audit import events as audit_events
    from appliance.audit.verify import verify_log
    from appliance.backup.archive import RestoreError, restore_backup
    from appliance.backup.crypto import BackupCryptoError, Sealing
    from appliance.build import build_records
    from appliance.store.lock import StoreLock

    if not args.backup.is_file():
        raise error(f"{args.backup}: no such backup file")
    if args.passphrase_stdin:
        sealing = Sealing(passphrase=_stdin_secret(error))
    else:
        sealing = Sealing(private_key_pem=_read(args.private_key, error))
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = StoreLock(settings.lock_file)
    lock.acquire()  # a running service owns the home: stop it first (the message names its pid)
    try:
        notes = restore_backup(args.backup, settings, sealing, replace=args.replace)
    except (RestoreError, BackupCryptoError) as problem:
        raise error(f"{args.backup}: {problem}") from None
    finally:
        lock.release()
    with build_records(settings) as records:
        result = verify_log(records.audit, settings.audit.checkpoint_copy)
        records.audit.record(
            os_operator(), audit_events.RESTORE, subject=args.backup.name, details={"chain_ok": result.ok}
        )
    print(f"restored {args.backup} into {settings.home}")
    print(
        f"audit chain: {result.chain.events} events, "
        + ("verified" if result.ok else f"FAILED: {result.chain.problem}")
    )
    for note in notes:
        print(f"note: {note}")
    return 0 if result.ok else 1


def _stdin_secret(error: type[Exception]) -> str:
    secret = sys.stdin.readline().rstrip("\n")
    if not secret:
        raise error("no passphrase on standard input")
    return secret


def _read(path: Path, error: type[Exception]) -> bytes:
    try:
        return path.read_bytes()
    except OSError as problem:
        raise error(f"{path}: cannot read the key ({problem.strerror})") from None
