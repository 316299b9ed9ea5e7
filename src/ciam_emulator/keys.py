"""The tenant's token-signing keys.

Two RSA keys are published in the JWKS (like Entra, which publishes the current and the next
key); one of them signs. A third key is never published: tests use it to check that a client
rejects tokens signed by a key it cannot find in the JWKS.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PUBLISHED_KEY_NAMES = ("key-a", "key-b")
UNPUBLISHED_KEY_NAME = "key-unpublished"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_to_b64url(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class SigningKey:
    name: str
    kid: str
    private_key: rsa.RSAPrivateKey

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def public_jwk(self) -> dict[str, Any]:
        numbers = self.public_key.public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _int_to_b64url(numbers.n),
            "e": _int_to_b64url(numbers.e),
        }


def _load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    if path.is_file():
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA private key")
        return loaded
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    temp = path.with_suffix(".tmp")
    temp.write_bytes(pem)
    os.chmod(temp, 0o600)
    temp.replace(path)
    return key


def _thumbprint_kid(key: rsa.RSAPrivateKey) -> str:
    # Entra's kid is a SHA-1 thumbprint of the signing certificate; ours hashes the public key.
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b64url(hashlib.sha1(der, usedforsecurity=False).digest())


class KeyRing:
    """Loads (or creates) the keys in ``keys_dir`` and remembers which one signs."""

    def __init__(self, keys_dir: Path) -> None:
        keys_dir.mkdir(parents=True, exist_ok=True)
        self._active_file = keys_dir / "active"
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        for name in (*PUBLISHED_KEY_NAMES, UNPUBLISHED_KEY_NAME):
            private_key = _load_or_create_key(keys_dir / f"{name}.pem")
            self._keys[name] = SigningKey(name=name, kid=_thumbprint_kid(private_key), private_key=private_key)
        active = self._active_file.read_text().strip() if self._active_file.is_file() else ""
        self._active_name = active if active in self._keys else PUBLISHED_KEY_NAMES[0]

    @property
    def published(self) -> list[SigningKey]:
        return [self._keys[name] for name in PUBLISHED_KEY_NAMES]

    @property
    def unpublished(self) -> SigningKey:
        return self._keys[UNPUBLISHED_KEY_NAME]

    def active(self) -> SigningKey:
        with self._lock:
            return self._keys[self._active_name]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self.published]}

    def find_published(self, kid: str) -> SigningKey | None:
        return next((key for key in self.published if key.kid == kid), None)

    def rotate(self) -> SigningKey:
        """Sign with the other published key from now on (both stay in the JWKS)."""
        with self._lock:
            current = self._active_name if self._active_name in PUBLISHED_KEY_NAMES else PUBLISHED_KEY_NAMES[1]
            self._active_name = next(name for name in PUBLISHED_KEY_NAMES if name != current)
            self._active_file.write_text(self._active_name)
            return self._keys[self._active_name]

    def sign_with_unpublished(self) -> SigningKey:
        """Sign with the key that is not in the JWKS until the next rotate."""
        with self._lock:
            self._active_name = UNPUBLISHED_KEY_NAME
            self._active_file.write_text(self._active_name)
            return self._keys[self._active_name]
