"""The provider's signing keys (its JWKS), cached per process.

Shared by the web app (ID tokens) and the mfa-app API (access tokens): a key is looked up by the
token's `kid`; what the key set answers is trusted only as far as the checks here allow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import jwt
import requests

from .discovery import MetadataProvider
from .errors import ProviderUnavailable, UntrustedKey


class JwksCache:
    """Signing keys by `kid`. An unknown `kid` triggers one refetch (the tenant may have rolled its
    keys); a `kid` still unknown after that is remembered for a while, so a stream of tokens with
    made-up kids cannot turn into a stream of JWKS requests."""

    def __init__(
        self,
        metadata: MetadataProvider,
        http: requests.Session,
        *,
        unknown_kid_memory: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metadata = metadata
        self._http = http
        self._unknown_kid_memory = unknown_kid_memory
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._unknown_kids: dict[str, float] = {}

    def key_for(self, kid: str) -> jwt.PyJWK:
        key = self._keys.get(kid)
        if key is not None:
            return key
        # Never queue behind another request's fetch: a hanging provider would hold every thread.
        if not self._lock.acquire(blocking=False):
            raise ProviderUnavailable(f"JWKS is being fetched by another request (kid {kid!r} not yet known)")
        try:
            if kid not in self._keys and not self._recently_unknown(kid):
                self._keys = self._fetch()
                if kid not in self._keys:
                    self._unknown_kids[kid] = self._clock()
            key = self._keys.get(kid)
        finally:
            self._lock.release()
        if key is None:
            raise UntrustedKey(f"signed with unknown kid {kid!r} (not in the provider's JWKS)")
        return key

    def refresh(self) -> None:
        """Fetch the key set now (e.g. at start-up, before gunicorn forks its workers)."""
        with self._lock:
            self._keys = self._fetch()

    @property
    def keys(self) -> dict[str, jwt.PyJWK]:
        return dict(self._keys)

    def preload(self, keys: dict[str, jwt.PyJWK]) -> None:
        """Start from keys fetched elsewhere (e.g. by gunicorn's master before it forked)."""
        with self._lock:
            self._keys = dict(keys)

    def _recently_unknown(self, kid: str) -> bool:
        seen = self._unknown_kids.get(kid)
        if seen is not None and self._clock() - seen < self._unknown_kid_memory:
            return True
        self._unknown_kids.pop(kid, None)
        if len(self._unknown_kids) > 1000:
            self._unknown_kids.clear()
        return False

    def _fetch(self) -> dict[str, jwt.PyJWK]:
        uri = self._metadata.get().jwks_uri
        try:
            response = self._http.get(uri)
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"JWKS {uri} unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise ProviderUnavailable(f"JWKS {uri} answered HTTP {response.status_code}")
        try:
            key_set = jwt.PyJWKSet.from_dict(response.json())
        except (ValueError, jwt.PyJWKSetError) as exc:
            raise ProviderUnavailable(f"JWKS {uri} is unusable: {exc}") from exc
        return {key.key_id: key for key in key_set.keys if key.key_id and key.public_key_use in (None, "sig")}


