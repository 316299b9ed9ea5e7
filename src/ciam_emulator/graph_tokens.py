"""Access tokens for Microsoft Graph, opaque to every client.

Entra's access-token docs: tokens for Microsoft Graph (and other Microsoft APIs) are in a format the
client cannot validate and must not read; only the API a token is for looks inside it
(learn.microsoft.com/entra/identity-platform/access-tokens). So the emulator does not sign them with
the published JWKS key: the claims are sealed with AES-GCM under a key only the emulator has
(``instance/keys/graph-token.key``). A client sees a random-looking string with no dots; it cannot
decode it, verify it against the JWKS, or forge one. The emulator's Graph opens it again.
Tokens for the tenant's own APIs stay JWTs signed with the JWKS key (tokens.py): an API validates those.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ciam_emulator.errors import TokenValidationError

SEALING_KEY_FILE_NAME = "graph-token.key"
_FORMAT_VERSION = b"\x01"
_NONCE_BYTES = 12
# Binds a sealed blob to its purpose, so nothing else sealed with this key could pass as a token.
_ASSOCIATED_DATA = b"ciam-emulator graph access token v1"


class GraphTokenKey:
    """The emulator's private AES-256 key for Graph access tokens (created once, then reused)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("a Graph token key is 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def load_or_create(cls, keys_dir: Path) -> GraphTokenKey:
        path = Path(keys_dir) / SEALING_KEY_FILE_NAME
        if not path.is_file():
            _create_once(path, secrets.token_bytes(32))
        return cls(path.read_bytes())

    def seal(self, claims: dict[str, Any]) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        plaintext = json.dumps(claims, separators=(",", ":")).encode("utf-8")
        sealed = _FORMAT_VERSION + nonce + self._aead.encrypt(nonce, plaintext, _ASSOCIATED_DATA)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def open(self, token: str) -> dict[str, Any]:
        """The claims of a token this emulator sealed; TokenValidationError for anything else."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise TokenValidationError("The token is malformed.") from exc
        if not raw.startswith(_FORMAT_VERSION) or len(raw) <= 1 + _NONCE_BYTES:
            raise TokenValidationError("The token is malformed.")
        nonce, ciphertext = raw[1 : 1 + _NONCE_BYTES], raw[1 + _NONCE_BYTES :]
        try:
            plaintext = self._aead.decrypt(nonce, ciphertext, _ASSOCIATED_DATA)
        except InvalidTag as exc:
            raise TokenValidationError("Signature validation failed.") from exc
        claims = json.loads(plaintext)
        if not isinstance(claims, dict):
            raise TokenValidationError("The token is malformed.")
        return claims


def _create_once(path: Path, key: bytes) -> None:
    """Write ``key`` to ``path`` unless another process got there first (then theirs is kept).

    Several emulator processes (gunicorn workers) may start on one instance folder at once; linking
    a finished temporary file into place is atomic and fails if the name exists, so all of them end
    up reading the same key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key)
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
    finally:
        temp.unlink(missing_ok=True)
