"""The provider's signing keys (its JWKS), cached per process and refreshed on a schedule.

Shared by the web app (ID tokens) and the mfa-app API (access tokens): a key is looked up by the
token's `kid`; what the key set answers is trusted only as far as the checks here allow.

Bounds (README, security notes):
- The key set is fresh for the JWKS response's `Cache-Control: max-age` (minus `Age`), clamped to
  [5 min, 24 h]; 1 h when the response gives none. A fresh set is used without any request; a stale
  one is refetched before the next key is handed out, so a key the provider withdrew stops being
  accepted at most 24 h (1 h without a max-age) after it left the JWKS.
- If that refetch fails (provider down), the known keys keep being served for a grace of 6 h past
  their freshness, with one new attempt per minute at most; after the grace every lookup fails with
  ProviderUnavailable rather than trusting keys nobody can confirm any more.
- An unknown `kid` triggers one refetch (the provider may have rolled its keys), at most one such
  refetch per 30 s whatever the kid, and a kid still unknown after a refetch is remembered for
  5 min: a stream of tokens with made-up kids cannot become a stream of JWKS requests.
- One request fetches at a time and no other waits for it (a hanging provider would hold every
  thread): while a refresh is running, the others use the keys they have if inside the grace, or
  fail at once with ProviderUnavailable (no keys yet, or a kid that may be the new key).
- Only RSA public keys of at least 2048 bits, meant for signatures (`use` absent or `sig`, `alg`
  absent or RS256), are usable; a kid naming any other key is refused, never handed to PyJWT.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from .discovery import MetadataProvider
from .errors import ProviderUnavailable, UntrustedKey

log = logging.getLogger(__name__)

SIGNING_ALGORITHM = "RS256"
DEFAULT_FRESHNESS = 3600.0  # no max-age in the response
MIN_FRESHNESS = 300.0  # a max-age of 0 or no-cache must not turn every sign-in into a JWKS request
MAX_FRESHNESS = 24 * 3600.0  # bounds how long a withdrawn key stays trusted
STALE_GRACE = 6 * 3600.0  # how long known keys outlive a provider that cannot be reached
RETRY_AFTER_FAILURE = 60.0  # during the grace, one refetch attempt per minute
UNKNOWN_KID_MEMORY = 300.0
UNKNOWN_KID_REFETCH_INTERVAL = 30.0
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


@dataclass(frozen=True)
class KeySet:
    """One fetched JWKS: usable keys by kid, refusals (why a kid may not be used) by kid."""

    by_kid: dict[str, jwt.PyJWK]
    refused: dict[str, str]
    usable: tuple[jwt.PyJWK, ...]  # every usable key, with or without a kid
    fresh_until: float
    usable_until: float


class JwksCache:
    """Signing keys by `kid`, refreshed on the schedule above. `refresh()` fetches now (start-up)."""

    def __init__(
        self,
        metadata: MetadataProvider,
        http: requests.Session,
        *,
        unknown_kid_memory: float = UNKNOWN_KID_MEMORY,
        unknown_kid_refetch_interval: float = UNKNOWN_KID_REFETCH_INTERVAL,
        stale_grace: float = STALE_GRACE,
        retry_after_failure: float = RETRY_AFTER_FAILURE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metadata = metadata
        self._http = http
        self._unknown_kid_memory = unknown_kid_memory
        self._unknown_kid_refetch_interval = unknown_kid_refetch_interval
        self._stale_grace = stale_grace
        self._retry_after_failure = retry_after_failure
        self._clock = clock
        self._lock = threading.Lock()
        self._key_set: KeySet | None = None
        self._retry_at = 0.0
        self._last_unknown_kid_refetch: float | None = None
        self._unknown_kids: dict[str, float] = {}

    def refresh(self) -> KeySet:
        """Fetch the key set now (e.g. before a server forks its workers); ProviderUnavailable on failure."""
        with self._lock:
            self._key_set = self._fetch()
            return self._key_set

    @property
    def keys(self) -> KeySet | None:
        """The key set held now, however old, without fetching (to hand to another process)."""
        return self._key_set

    def preload(self, key_set: KeySet) -> None:
        """Start from a key set fetched elsewhere in this machine (e.g. by gunicorn's master before
        it forked: its deadlines are on the same monotonic clock)."""
        with self._lock:
            self._key_set = key_set

    def key_for(self, kid: str | None) -> jwt.PyJWK:
        """The usable key a token names. Without a kid, the key set's only usable key (OpenID
        Connect Core 1.0 §10.1: a kid may be omitted only when the JWKS holds a single key);
        several usable keys and no kid is refused. UntrustedKey when no usable key matches."""
        key_set, just_fetched = self._current()
        if kid is None:
            if len(key_set.usable) != 1:
                raise UntrustedKey(
                    f"names no kid while the provider's JWKS holds {len(key_set.usable)} usable keys (needs exactly 1)"
                )
            return key_set.usable[0]
        if kid not in key_set.by_kid and kid not in key_set.refused and not just_fetched:
            key_set = self._refetch_for_unknown(kid, key_set)
        if kid in key_set.refused:
            raise UntrustedKey(f"is signed with kid {kid!r}, a key that may not be used: {key_set.refused[kid]}")
        key = key_set.by_kid.get(kid)
        if key is None:
            raise UntrustedKey(f"signed with unknown kid {kid!r} (not in the provider's JWKS)")
        return key

    # -- schedule -----------------------------------------------------------------------------------

    def _servable(self, key_set: KeySet | None, now: float) -> bool:
        if key_set is None:
            return False
        if now < key_set.fresh_until:
            return True
        # Stale: served only inside the grace and while a failed refresh waits for its next attempt.
        return now < key_set.usable_until and now < self._retry_at

    def _current(self) -> tuple[KeySet, bool]:
        """The key set to use, and whether it was fetched by this very call.

        One request fetches; the others never queue behind it (a hanging provider would hold every
        thread): they use the keys they have while still inside the grace, or fail at once."""
        key_set = self._key_set
        if key_set is not None and self._servable(key_set, self._clock()):
            return key_set, False
        if not self._lock.acquire(blocking=False):
            if key_set is not None and self._clock() < key_set.usable_until:
                return key_set, False
            raise ProviderUnavailable("JWKS is being fetched by another request")
        try:
            key_set = self._key_set
            now = self._clock()
            if key_set is not None and self._servable(key_set, now):
                return key_set, False
            try:
                self._key_set = self._fetch()
            except ProviderUnavailable as exc:
                if key_set is None or now >= key_set.usable_until:
                    raise
                self._retry_at = now + self._retry_after_failure
                log.warning(
                    "JWKS refresh failed, serving the known keys for at most %.0f s more: %s",
                    key_set.usable_until - now,
                    exc.reason,
                )
                return key_set, False
            return self._key_set, True
        finally:
            self._lock.release()

    def _refetch_for_unknown(self, kid: str, key_set: KeySet) -> KeySet:
        if self._refetch_refused(kid, self._clock()):
            return key_set
        if not self._lock.acquire(blocking=False):
            # Another request is fetching: the kid may be a new key, so not a refusal yet.
            raise ProviderUnavailable(f"JWKS is being fetched by another request (kid {kid!r} not yet known)")
        try:
            key_set = self._key_set or key_set
            now = self._clock()
            if kid in key_set.by_kid or kid in key_set.refused or self._refetch_refused(kid, now):
                return key_set  # (another thread fetched meanwhile)
            self._last_unknown_kid_refetch = now
            self._key_set = self._fetch()
            if kid not in self._key_set.by_kid and kid not in self._key_set.refused:
                if len(self._unknown_kids) >= 1000:
                    self._unknown_kids.clear()
                self._unknown_kids[kid] = now
            return self._key_set
        finally:
            self._lock.release()

    def _refetch_refused(self, kid: str, now: float) -> bool:
        """No refetch for a kid found unknown a moment ago, nor sooner than the interval after the
        last unknown-kid refetch (a kid turned away here is not remembered: a real new key is
        picked up on a later attempt)."""
        last = self._last_unknown_kid_refetch
        return self._recently_unknown(kid, now) or (
            last is not None and now - last < self._unknown_kid_refetch_interval
        )

    def _recently_unknown(self, kid: str, now: float) -> bool:
        seen = self._unknown_kids.get(kid)
        if seen is not None and now - seen < self._unknown_kid_memory:
            return True
        self._unknown_kids.pop(kid, None)
        return False

    # -- fetching -----------------------------------------------------------------------------------

    def _fetch(self) -> KeySet:
        uri = self._metadata.get().jwks_uri
        try:
            response = self._http.get(uri)
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"JWKS {uri} unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise ProviderUnavailable(f"JWKS {uri} answered HTTP {response.status_code}")
        try:
            document = response.json()
            entries = document["keys"]
            if not isinstance(entries, list):
                raise TypeError("'keys' is not an array")
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderUnavailable(f"JWKS {uri} is unusable: {exc!r}") from exc
        now = self._clock()
        freshness = freshness_from_headers(response.headers)
        by_kid: dict[str, jwt.PyJWK] = {}
        refused: dict[str, str] = {}
        usable: list[jwt.PyJWK] = []
        for entry in entries:
            key, refusal = _usable_key(entry)
            kid = entry.get("kid") if isinstance(entry, dict) else None
            if key is not None:
                usable.append(key)
            if not isinstance(kid, str) or not kid:
                continue
            if kid in by_kid or kid in refused:
                # Two keys under one kid: which one a token means cannot be told, so neither is used.
                by_kid.pop(kid, None)
                refused[kid] = "the JWKS lists this kid more than once"
            elif key is not None:
                by_kid[kid] = key
            else:
                refused[kid] = refusal or "unusable"
        return KeySet(
            by_kid=by_kid,
            refused=refused,
            usable=tuple(usable),
            fresh_until=now + freshness,
            usable_until=now + freshness + self._stale_grace,
        )


def freshness_from_headers(headers: Any) -> float:
    """Seconds the key set may be used without asking again: Cache-Control max-age minus Age
    (RFC 9111 §4.2), clamped to [MIN_FRESHNESS, MAX_FRESHNESS]; DEFAULT_FRESHNESS without a max-age.
    `no-cache`/`no-store` count as max-age 0, i.e. the minimum."""
    cache_control = str(headers.get("Cache-Control") or "")
    match = _MAX_AGE.search(cache_control)
    if match:
        age = str(headers.get("Age") or "0").strip()
        seconds = float(match.group(1)) - (float(age) if age.isdigit() else 0.0)
    elif re.search(r"no-cache|no-store", cache_control, re.IGNORECASE):
        seconds = 0.0
    else:
        seconds = DEFAULT_FRESHNESS
    return min(MAX_FRESHNESS, max(MIN_FRESHNESS, seconds))


def _usable_key(entry: Any) -> tuple[jwt.PyJWK | None, str | None]:
    """(key, None) for an RSA signing public key of at least 2048 bits, else (None, why not)."""
    if not isinstance(entry, dict):
        return None, "not a JSON object"
    kty = entry.get("kty")
    if kty != "RSA":
        return None, f"key type {kty!r}; only RSA keys are accepted"
    if entry.get("use") not in (None, "sig"):
        return None, f"use {entry.get('use')!r} is not 'sig'"
    if entry.get("alg") not in (None, SIGNING_ALGORITHM):
        return None, f"alg {entry.get('alg')!r} is not {SIGNING_ALGORITHM}"
    if "d" in entry:
        # A published private key is compromised by definition.
        return None, "the JWKS publishes a private key"
    try:
        key = jwt.PyJWK(entry, algorithm=SIGNING_ALGORITHM)
    except jwt.PyJWTError as exc:
        return None, f"unreadable RSA key: {exc}"
    if not isinstance(key.key, RSAPublicKey):
        return None, "not an RSA public key"
    too_short = key.Algorithm.check_key_length(key.key)
    if too_short:
        return None, too_short
    return key, None
