"""MSAL token caches, encrypted before they reach the session store.

A leaked session store (a Redis dump, a copied sessions folder) must not leak refresh tokens, so the
serialized cache is sealed with Fernet. Several keys may be configured: the first encrypts, all of
them decrypt, which is how a key is rotated without signing everybody out. With no key configured,
one is derived from SECRET_KEY (HKDF, its own purpose label) so the default set-up is still encrypted.
"""

from __future__ import annotations

import base64
import json

import msal
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class TokenCacheCodec:
    def __init__(self, keys: tuple[str, ...], *, secret_key: str) -> None:
        fernets = [Fernet(key.encode("ascii")) for key in keys] or [Fernet(_derived_key(secret_key))]
        self._fernet = MultiFernet(fernets)

    def load(self, sealed: bytes | None) -> msal.SerializableTokenCache:
        """The cache from its sealed form; an unreadable one (old key removed, tampered) starts empty."""
        cache = msal.SerializableTokenCache()
        if sealed:
            try:
                cache.deserialize(self._fernet.decrypt(sealed).decode("utf-8"))
            except InvalidToken:
                pass  # the user will simply be asked to sign in again
        return cache

    def seal(self, cache: msal.SerializableTokenCache) -> bytes:
        return self._fernet.encrypt(cache.serialize().encode("utf-8"))


def merge_caches(kept: msal.SerializableTokenCache, newer: msal.SerializableTokenCache) -> msal.SerializableTokenCache:
    """One cache holding both; entries of `newer` win (same keys mean the same credential)."""
    merged_data: dict[str, dict[str, object]] = json.loads(kept.serialize() or "{}")
    for section, entries in json.loads(newer.serialize() or "{}").items():
        merged_data.setdefault(section, {}).update(entries)
    merged = msal.SerializableTokenCache()
    merged.deserialize(json.dumps(merged_data))
    return merged


def _derived_key(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ciam-webapp token cache v1")
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode("utf-8")))


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")
