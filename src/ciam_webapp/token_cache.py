"""MSAL token caches, encrypted before they reach the session store.

A leaked session store (a Redis dump, a copied sessions folder) must not leak refresh tokens, so the
serialized cache is sealed with Fernet. Several keys may be configured: the first encrypts, all of
them decrypt, which is how a key is rotated without signing everybody out. With no key configured,
one is derived from SECRET_KEY (HKDF, its own purpose label) so the default set-up is still encrypted.

The cache is compressed before it is sealed: MSAL's JSON with two access tokens and an ID token is
~9 KB, and every request reads the session, so this keeps a signed-in user's session under 8 KiB.
(Compressing before encrypting leaks plaintext through the length only to someone who sees
ciphertext sizes while choosing part of the plaintext; the sealed cache never leaves the server.)
"""

from __future__ import annotations

import base64
import json
import zlib

import msal
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# First byte of a sealed cache's plaintext: zlib-compressed JSON. Caches sealed before compression
# start with "{" and are still read.
_COMPRESSED = b"\x01"


class TokenCacheCodec:
    def __init__(self, keys: tuple[str, ...], *, secret_key: str) -> None:
        fernets = [Fernet(key.encode("ascii")) for key in keys] or [Fernet(_derived_key(secret_key))]
        self._fernet = MultiFernet(fernets)

    def load(self, sealed: bytes | None) -> msal.SerializableTokenCache:
        """The cache from its sealed form; an unreadable one (old key removed, tampered) starts empty."""
        cache = msal.SerializableTokenCache()
        if sealed:
            try:
                plaintext = self._fernet.decrypt(sealed)
                if plaintext.startswith(_COMPRESSED):
                    # Authenticated by Fernet, so only we could have compressed it: no size guard needed.
                    plaintext = zlib.decompress(plaintext[len(_COMPRESSED) :])
                cache.deserialize(plaintext.decode("utf-8"))
            except (InvalidToken, zlib.error):
                pass  # the user will simply be asked to sign in again
        return cache

    def seal(self, cache: msal.SerializableTokenCache) -> bytes:
        return self._fernet.encrypt(_COMPRESSED + zlib.compress(cache.serialize().encode("utf-8"), 6))


def merge_caches(kept: msal.SerializableTokenCache, newer: msal.SerializableTokenCache) -> msal.SerializableTokenCache:
    """One cache holding both; entries of `newer` win (same keys mean the same credential)."""
    merged_data: dict[str, dict[str, object]] = json.loads(kept.serialize() or "{}")
    for section, entries in json.loads(newer.serialize() or "{}").items():
        merged_data.setdefault(section, {}).update(entries)
    merged = msal.SerializableTokenCache()
    merged.deserialize(json.dumps(merged_data))
    return merged


def merge_changes(
    base: msal.SerializableTokenCache, theirs: msal.SerializableTokenCache, ours: msal.SerializableTokenCache
) -> msal.SerializableTokenCache:
    """Three-way merge for two requests that changed one session's cache at once: start from `theirs`
    (what the other request saved), then apply only what `ours` changed since `base` (what this
    request loaded): entries it added or replaced, and entries it removed. Entries `ours` merely
    carried over from `base` never overwrite newer ones in `theirs`."""
    base_data: dict[str, dict[str, object]] = json.loads(base.serialize() or "{}")
    ours_data: dict[str, dict[str, object]] = json.loads(ours.serialize() or "{}")
    merged_data: dict[str, dict[str, object]] = json.loads(theirs.serialize() or "{}")
    for section in set(base_data) | set(ours_data):
        before, after = base_data.get(section, {}), ours_data.get(section, {})
        target = merged_data.setdefault(section, {})
        for key in set(before) | set(after):
            if key in after and before.get(key) != after[key]:
                target[key] = after[key]
            elif key in before and key not in after:
                target.pop(key, None)
    merged = msal.SerializableTokenCache()
    merged.deserialize(json.dumps(merged_data))
    return merged


def _derived_key(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ciam-webapp token cache v1")
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode("utf-8")))


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")
