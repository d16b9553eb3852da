"""Backups: consistent, encrypted, taken while the store's owner runs; restores that verify and answer."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from appliance.backup.crypto import BackupCryptoError, Sealing, decrypt_stream, encrypt_stream
from appliance.cli.control import start_control_server
from tests.conftest import APPLIANCE_BIN, cli_env

PASSPHRASE = "correct horse battery staple"


def _cli(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [APPLIANCE_BIN, *args], input=stdin, env=cli_env(home), capture_output=True, text=True, timeout=300
    )


def _x25519_pair(folder: Path) -> tuple[Path, Path]:
    private = X25519PrivateKey.generate()
    private_path, public_path = folder / "backup.key", folder / "backup.pub"
    private_path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public_path.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private_path, public_path


def test_sealing_round_trips_and_refuses_damage(tmp_path: Path) -> None:
    plain = bytes(range(256)) * 9000  # a little over two chunks
    private_path, public_path = _x25519_pair(tmp_path)
    for sealing, opening in (
        (Sealing(passphrase=PASSPHRASE), Sealing(passphrase=PASSPHRASE)),
        (Sealing(public_key_pem=public_path.read_bytes()), Sealing(private_key_pem=private_path.read_bytes())),
    ):
        sealed = io.BytesIO()
        encrypt_stream(io.BytesIO(plain), sealed, sealing)
        assert plain[:4096] not in sealed.getvalue()
        assert b"".join(decrypt_stream(io.BytesIO(sealed.getvalue()), opening)) == plain
        damaged = bytearray(sealed.getvalue())
        damaged[-100] ^= 1
        with pytest.raises(BackupCryptoError):
            b"".join(decrypt_stream(io.BytesIO(bytes(damaged)), opening))
        with pytest.raises(BackupCryptoError):  # the last chunk cut off
            b"".join(decrypt_stream(io.BytesIO(sealed.getvalue()[:-200]), opening))
    with pytest.raises(BackupCryptoError):
        b"".join(decrypt_stream(io.BytesIO(sealed.getvalue()), Sealing(passphrase="another passphrase")))
    with pytest.raises(BackupCryptoError):
        encrypt_stream(io.BytesIO(b"x"), io.BytesIO(), Sealing(passphrase="short"))


def test_backup_while_serving_then_restore_verifies_and_answers(app, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    note = tmp_path / "memo.txt"
    note.write_text("The harbour office receives parcels every Tuesday morning. Ask for Maria Keller at the desk.\n")
    backup, sealed_to_key = tmp_path / "appliance.backup", tmp_path / "appliance-key.backup"
    private_path, public_path = _x25519_pair(tmp_path)
    server = start_control_server(app, app.settings)
    try:
        assert _cli(home, "ingest", str(note), "--collection", "ops").returncode == 0
        made = _cli(home, "backup", "--out", str(backup), "--passphrase-stdin", stdin=PASSPHRASE + "\n")
        assert made.returncode == 0, made.stderr
        keyed = _cli(home, "backup", "--out", str(sealed_to_key), "--public-key", str(public_path))
        assert keyed.returncode == 0, keyed.stderr
    finally:
        server.close()
    assert backup.stat().st_mode & 0o777 == 0o600
    assert b"harbour" not in backup.read_bytes() and b"PRIVATE KEY" not in backup.read_bytes()
    assert [e["action"] for e in app.audit.events("action = 'backup'")] == ["backup", "backup"]

    for source, opening in ((backup, ["--passphrase-stdin"]), (sealed_to_key, ["--private-key", str(private_path)])):
        target = tmp_path / f"restored-{source.stem}"
        restored = _cli(target, "restore", str(source), *opening, stdin=PASSPHRASE + "\n")
        assert restored.returncode == 0, restored.stderr
        assert "verified" in restored.stdout
        assert _cli(target, "audit", "verify").returncode == 0
        answer = json.loads(
            _cli(target, "ask", "When does the harbour office receive parcels?", "--collection", "ops", "--json").stdout
        )
        assert any("Tuesday" in c["quote"] for c in answer["citations"]), answer
        shown = json.loads(_cli(target, "docs", "show", str(note), "--json").stdout)
        assert "Maria Keller" not in shown["text"] and "<PERSON_1>" in shown["text"]
        # the same keys came back (a restore that made new ones would leave the pseudonyms unmatchable)
        for key in ("pseudonym-hmac.key", "reidentification.key"):
            assert (target / "keys" / key).read_bytes() == (home / "keys" / key).read_bytes(), key

    again = _cli(tmp_path / f"restored-{backup.stem}", "restore", str(backup), "--passphrase-stdin", stdin=PASSPHRASE)
    assert again.returncode == 2 and "--replace" in again.stderr
    wrong = _cli(tmp_path / "elsewhere", "restore", str(backup), "--passphrase-stdin", stdin="not the passphrase\n")
    assert wrong.returncode == 2 and "wrong passphrase or key" in wrong.stderr
    replaced = _cli(
        tmp_path / f"restored-{backup.stem}",
        "restore",
        str(backup),
        "--passphrase-stdin",
        "--replace",
        stdin=PASSPHRASE,
    )
    assert replaced.returncode == 0 and "replaced-" in replaced.stdout


def test_a_file_damaged_inside_a_validly_sealed_backup_is_refused_before_anything_is_replaced(  # type: ignore[no-untyped-def]
    app, tmp_path: Path
) -> None:
    """Sealing shows damage to the archive; the manifest's hashes show a file changed before it was sealed again."""
    import tarfile

    from appliance.backup.archive import RestoreError, restore_backup, write_backup
    from appliance.settings import Settings

    backup = tmp_path / "good.backup"
    write_backup(app, backup, Sealing(passphrase=PASSPHRASE))
    plain = b"".join(decrypt_stream(io.BytesIO(backup.read_bytes()), Sealing(passphrase=PASSPHRASE)))
    repacked = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(plain)) as source, tarfile.open(fileobj=repacked, mode="w") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else None
            if member.name.endswith("keys/pseudonym-hmac.key"):
                data = bytes(b ^ 0xFF for b in data)  # same size, other bytes
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    damaged = tmp_path / "damaged.backup"
    with damaged.open("wb") as out:
        encrypt_stream(io.BytesIO(repacked.getvalue()), out, Sealing(passphrase=PASSPHRASE))
    home = tmp_path / "restore-here"
    with pytest.raises(RestoreError, match=r"pseudonym-hmac\.key does not match its sha256"):
        restore_backup(damaged, Settings(home=home), Sealing(passphrase=PASSPHRASE))
    assert sorted(p.name for p in home.iterdir()) == []  # nothing was put in place
    restore_backup(backup, Settings(home=home), Sealing(passphrase=PASSPHRASE))  # the undamaged one restores
    assert (home / "keys" / "pseudonym-hmac.key").read_bytes() == (
        app.settings.keys_dir / "pseudonym-hmac.key"
    ).read_bytes()
