"""Graph tokens on behalf of the caller (OAuth 2.0 on-behalf-of), cached per assertion. No Flask.

MSAL Python's `acquire_token_on_behalf_of` always calls the token endpoint (entra-notes §13), so
each incoming token (the assertion) gets its own small MSAL cache: silent acquisition first, the
exchange only on a miss. The cache is found by a hash of the assertion and sealed with a key
derived from the assertion itself: whoever reads the store (memory, a Redis dump) without the
assertion can neither find a given user's entry nor decrypt any. No token is ever in a key or a log.
Entries live as long as the assertion does: once it has expired nobody can present it again.

The store is in memory (bounded, least recently used dropped first) or, for several instances, in
Redis (OBO_CACHE_REDIS_URL). A store that fails is a miss, never an error: the exchange still works.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msal
import redis
import requests
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .access_tokens import AccessToken
from .errors import ClaimsChallenge, DeploymentError, TemporarilyUnavailable
from .errors import InvalidToken as InvalidAccessToken

log = logging.getLogger(__name__)

# What MSAL raises when the tenant cannot be reached or answers 5xx.
TRANSPORT_ERRORS = (requests.RequestException, msal.exceptions.MsalServiceError)
# AADSTS codes (entra-notes §3, §13) that mean the assertion itself is refused: expired, bad
# signature, wrong audience or issuer, malformed.
ASSERTION_REFUSED_CODES = frozenset({50013, 500133, 50027, 7000112})
# No admin consent for the API's Graph permission (customers cannot consent; entra-notes §12).
CONSENT_MISSING_CODES = frozenset({65001})
# The API's own credential or registration is refused.
CLIENT_REFUSED_ERRORS = frozenset({"invalid_client", "unauthorized_client", "invalid_scope"})


class OboCacheStore(Protocol):
    def load(self, lookup: str) -> bytes | None: ...

    def save(self, lookup: str, sealed: bytes, ttl_seconds: int) -> None: ...


class MemoryOboCacheStore:
    """Per process, at most `max_entries` (least recently used dropped first), each until it expires."""

    def __init__(self, max_entries: int = 2_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def load(self, lookup: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(lookup)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[lookup]
                return None
            self._entries.move_to_end(lookup)
            return entry[1]

    def save(self, lookup: str, sealed: bytes, ttl_seconds: int) -> None:
        with self._lock:
            self._entries[lookup] = (self._clock() + ttl_seconds, sealed)
            self._entries.move_to_end(lookup)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class RedisOboCacheStore:
    """Shared by every instance; Redis expires each entry with its assertion."""

    def __init__(self, client: redis.Redis, key_prefix: str = "ciam-api:obo:") -> None:
        self._redis = client
        self._prefix = key_prefix

    def load(self, lookup: str) -> bytes | None:
        try:
            value = self._redis.get(self._prefix + lookup)
        except redis.RedisError as exc:
            log.warning(
                "OBO cache store unreachable; exchanging the token instead", extra={"error": type(exc).__name__}
            )
            return None
        return value if isinstance(value, bytes) else None

    def save(self, lookup: str, sealed: bytes, ttl_seconds: int) -> None:
        try:
            self._redis.set(self._prefix + lookup, sealed, ex=ttl_seconds)
        except redis.RedisError as exc:
            log.warning("OBO cache store unreachable; token not cached", extra={"error": type(exc).__name__})


def redis_store(url: str, key_prefix: str, *, timeout: float) -> RedisOboCacheStore:
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    return RedisOboCacheStore(client, key_prefix)


def _derive(assertion: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(assertion.encode("ascii"))


def cache_lookup(assertion: str) -> str:
    """Where the assertion's cache lives: a one-way derivation, never the token."""
    return base64.urlsafe_b64encode(_derive(assertion, b"ciam-api obo cache lookup v1")).decode("ascii").rstrip("=")


def _sealer(assertion: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive(assertion, b"ciam-api obo cache seal v1")))


@dataclass(frozen=True)
class GraphToken:
    access_token: str
    from_cache: bool


class OnBehalfOfClient:
    def __init__(
        self,
        *,
        client_id: str,
        client_credential: str | dict[str, str],
        authority: str,
        scopes: tuple[str, ...],
        http: requests.Session,
        timeout: float,
        store: OboCacheStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client_id = client_id
        self._client_credential = client_credential
        self._authority = authority
        self._scopes = list(scopes)
        self._http = http
        self._timeout = timeout
        self._store = store
        self._clock = clock
        # MSAL's HTTP cache (tenant discovery) shared by every per-request application object.
        self._http_cache: dict[str, Any] = {}

    def graph_token(self, incoming: AccessToken, *, claims_challenge: str | None = None) -> GraphToken:
        """A Graph token for the caller's user. With `claims_challenge` (Graph asked for more) the
        cache is skipped and the exchange carries the claims."""
        lookup = cache_lookup(incoming.raw)
        sealer = _sealer(incoming.raw)
        cache = msal.SerializableTokenCache()
        sealed = self._store.load(lookup)
        if sealed:
            try:
                cache.deserialize(sealer.decrypt(sealed).decode("utf-8"))
            except InvalidToken:
                log.warning("OBO cache entry unreadable; exchanging the token instead")
        try:
            app = msal.ConfidentialClientApplication(
                self._client_id,
                client_credential=self._client_credential,
                authority=self._authority,
                token_cache=cache,
                http_client=self._http,
                http_cache=self._http_cache,
                timeout=self._timeout,
                instance_discovery=False,  # CIAM hosts skip it anyway; a local tenant must skip it
            )
            result = None if claims_challenge else self._silent(app, incoming)
            from_cache = bool(result and "access_token" in result)
            if not from_cache:
                result = app.acquire_token_on_behalf_of(incoming.raw, self._scopes, claims_challenge=claims_challenge)
        except TRANSPORT_ERRORS as exc:
            raise TemporarilyUnavailable(f"token endpoint unreachable: {type(exc).__name__}") from exc
        except ValueError as exc:
            # MSAL raises ValueError for a 4xx or non-JSON discovery answer.
            raise TemporarilyUnavailable(f"tenant discovery refused: {exc}") from exc
        if not result or "access_token" not in result:
            raise _error_from(result or {}, incoming)
        if cache.has_state_changed:
            ttl = int(incoming.expires_at - self._clock())
            if ttl > 0:
                self._store.save(lookup, sealer.encrypt(cache.serialize().encode("utf-8")), ttl)
        return GraphToken(access_token=result["access_token"], from_cache=from_cache)

    def _silent(self, app: msal.ConfidentialClientApplication, incoming: AccessToken) -> dict[str, Any] | None:
        # Only the account this assertion is about (the cache holds no other, but be sure).
        home_account_id = f"{incoming.claims['oid']}.{incoming.claims['tid']}".lower()
        for account in app.get_accounts():
            if str(account.get("home_account_id", "")).lower() == home_account_id:
                return app.acquire_token_silent_with_error(self._scopes, account=account)
        return None


def _error_from(result: dict[str, Any], incoming: AccessToken) -> Exception:
    error = str(result.get("error") or "no_access_token")
    codes = {code for code in result.get("error_codes") or [] if isinstance(code, int)}
    # Safe to log: error names, AADSTS codes and correlation ids; the description may echo input, so not it.
    details = {
        "error": error,
        "error_codes": sorted(codes),
        "suberror": result.get("suberror"),
        "correlation_id": result.get("correlation_id"),
        "user": incoming.user,
    }
    claims = result.get("claims")
    if isinstance(claims, str) and claims and (error == "interaction_required" or error == "invalid_grant"):
        log.info("on-behalf-of exchange needs more claims (conditional access)", extra=details)
        return ClaimsChallenge(f"on-behalf-of answered {error} {sorted(codes)} with claims", claims)
    if codes & CONSENT_MISSING_CODES or result.get("suberror") == "consent_required" or error == "consent_required":
        log.error(
            "DEPLOYMENT ERROR: no admin consent for the API's Graph permission; grant it (ciam-register "
            "or the admin centre)",
            extra=details,
        )
        return DeploymentError(f"on-behalf-of: consent missing {sorted(codes)}")
    if error in CLIENT_REFUSED_ERRORS:
        log.error("DEPLOYMENT ERROR: the tenant refused the API's own credential or request", extra=details)
        return DeploymentError(f"on-behalf-of: {error} {sorted(codes)}")
    if error in ("temporarily_unavailable", "server_error"):
        log.warning("on-behalf-of: the tenant is unavailable", extra=details)
        return TemporarilyUnavailable(f"on-behalf-of: {error} {sorted(codes)}")
    if codes & ASSERTION_REFUSED_CODES or error in ("invalid_grant", "interaction_required"):
        # A bad or expired assertion (AADSTS50013, 500133, 50027), or a grant the user lost.
        log.info("on-behalf-of: the tenant refused the assertion", extra=details)
        return InvalidAccessToken(f"on-behalf-of refused the assertion: {error} {sorted(codes)}")
    log.error("on-behalf-of: unexpected answer from the tenant", extra=details)
    return DeploymentError(f"on-behalf-of: unexpected {error} {sorted(codes)}")
