"""Encryption of backups: the snapshot holds the signing and pseudonym keys, so it never leaves in clear.

Two ways to hold the key: a passphrase (scrypt) or an operator's X25519 public key (the
private key stays off the server: restore needs it). The stream is cut into chunks, each
sealed with AES-256-GCM; the header and a final-chunk flag are authenticated with every
chunk, so a flipped, dropped, reordered or truncated chunk fails the restore.

File: a JSON header line, then per chunk a 4-byte big-endian length and the ciphertext.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

FORMAT = "appliance-backup/1"
CHUNK_BYTES = 1 << 20
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MIN_PASSPHRASE_CHARS = 12


class BackupCryptoError(ValueError):
    """Wrong passphrase or key, or a damaged file (message says which it could be)."""


@dataclass(frozen=True)
class Sealing:
    """How a backup is (to be) encrypted: exactly one of passphrase, public key or private key."""

    passphrase: str | None = None
    public_key_pem: bytes | None = None
    private_key_pem: bytes | None = None


def encrypt_stream(source: BinaryIO, target: BinaryIO, sealing: Sealing) -> None:
    """Write `source` encrypted to `target`."""
    header, key = _new_header(sealing)
    header_bytes = json.dumps(header, sort_keys=True).encode()
    target.write(header_bytes + b"\n")
    aead, prefix = AESGCM(key), base64.b64decode(str(header["nonce_prefix"]))
    counter = 0
    chunk = source.read(CHUNK_BYTES)
    while True:
        following = source.read(CHUNK_BYTES)
        final = not following
        sealed = aead.encrypt(
            prefix + struct.pack(">I", counter), chunk, header_bytes + (b"\x01" if final else b"\x00")
        )
        target.write(struct.pack(">I", len(sealed)) + sealed)
        if final:
            return
        chunk, counter = following, counter + 1


def decrypt_stream(source: BinaryIO, sealing: Sealing) -> Iterator[bytes]:
    """The plaintext chunks of an encrypted backup; BackupCryptoError on any damage or a wrong key."""
    header_bytes = source.readline(4096).rstrip(b"\n")
    try:
        header = json.loads(header_bytes)
    except ValueError:
        raise BackupCryptoError("not an appliance backup (no header)") from None
    if header.get("format") != FORMAT:
        raise BackupCryptoError(f"not an appliance backup (format {header.get('format')!r})")
    aead, prefix = AESGCM(_key_for(header, sealing)), base64.b64decode(header["nonce_prefix"])
    counter = 0
    while True:
        size_bytes = source.read(4)
        if len(size_bytes) < 4:
            raise BackupCryptoError("the backup is truncated")
        sealed = source.read(struct.unpack(">I", size_bytes)[0])
        nonce = prefix + struct.pack(">I", counter)
        for final in (False, True):
            try:
                chunk = aead.decrypt(nonce, sealed, header_bytes + (b"\x01" if final else b"\x00"))
            except InvalidTag:
                continue
            yield chunk
            if final:
                if source.read(1):
                    raise BackupCryptoError("the backup has data after its last chunk")
                return
            break
        else:
            if counter == 0:
                raise BackupCryptoError("wrong passphrase or key, or a damaged backup")
            raise BackupCryptoError(f"the backup is damaged (chunk {counter})")
        counter += 1


def _new_header(sealing: Sealing) -> tuple[dict[str, object], bytes]:
    header: dict[str, object] = {"format": FORMAT, "nonce_prefix": _b64(os.urandom(8))}
    if sealing.passphrase is not None:
        if len(sealing.passphrase) < MIN_PASSPHRASE_CHARS:
            raise BackupCryptoError(f"a backup passphrase needs at least {MIN_PASSPHRASE_CHARS} characters")
        salt = os.urandom(16)
        header.update({"kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt)})
        return header, _scrypt(sealing.passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    if sealing.public_key_pem is not None:
        recipient = serialization.load_pem_public_key(sealing.public_key_pem)
        if not isinstance(recipient, X25519PublicKey):
            raise BackupCryptoError("the backup public key must be an X25519 key (openssl genpkey -algorithm X25519)")
        ephemeral = X25519PrivateKey.generate()
        ephemeral_public = ephemeral.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        header.update({"kdf": "x25519-hkdf-sha256", "ephemeral": _b64(ephemeral_public)})
        return header, _hkdf(ephemeral.exchange(recipient), ephemeral_public)
    raise BackupCryptoError("a backup needs a passphrase or a public key")


def _key_for(header: dict[str, object], sealing: Sealing) -> bytes:
    if header.get("kdf") == "scrypt":
        if sealing.passphrase is None:
            raise BackupCryptoError("this backup was sealed with a passphrase: give it (--passphrase-stdin)")
        salt = base64.b64decode(str(header["salt"]))
        return _scrypt(sealing.passphrase, salt, int(str(header["n"])), int(str(header["r"])), int(str(header["p"])))
    if header.get("kdf") == "x25519-hkdf-sha256":
        if sealing.private_key_pem is None:
            raise BackupCryptoError("this backup was sealed to a public key: give the private key (--private-key)")
        private = serialization.load_pem_private_key(sealing.private_key_pem, password=None)
        if not isinstance(private, X25519PrivateKey):
            raise BackupCryptoError("the private key is not an X25519 key")
        ephemeral_public = base64.b64decode(str(header["ephemeral"]))
        return _hkdf(private.exchange(X25519PublicKey.from_public_bytes(ephemeral_public)), ephemeral_public)
    raise BackupCryptoError(f"unknown key derivation {header.get('kdf')!r}")


def _scrypt(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())


def _hkdf(shared: bytes, ephemeral_public: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral_public, info=FORMAT.encode()).derive(shared)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
