"""The appliance's own Ed25519 key: signs audit checkpoints and export bundles.

The private key is a 0600 PEM file under APPLIANCE_HOME/keys, created on first use.
Examiners verify with the public key, which they should obtain separately
(`appliance audit public-key`), not from the bundle they are checking.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SIGNING_KEY_NAME = "audit-signing-ed25519.pem"


class Signer:
    """Signs bytes with the appliance key; exposes the public key as PEM."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    @property
    def public_key_pem(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def load_or_create_signer(keys_dir: Path) -> Signer:
    """The signer from keys_dir, creating the key atomically (0600) the first time.

    The key is written in full to a temporary file and then linked into place, so a
    process starting at the same moment never reads a half-written key: it either finds
    no key (and its own link loses the race) or a complete one.
    """
    path = keys_dir / SIGNING_KEY_NAME
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        temporary = keys_dir / f".{SIGNING_KEY_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)  # atomic, and fails if another process got there first
            return Signer(key)
        except FileExistsError:
            pass  # another process created the key first: use theirs
        finally:
            temporary.unlink(missing_ok=True)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise RuntimeError(f"{path} is not an Ed25519 private key") from None
    return Signer(loaded)
