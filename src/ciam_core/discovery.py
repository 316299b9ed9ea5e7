"""The tenant's OpenID Connect discovery document, fetched once per process and cached.

MSAL reads only the authorize and token endpoints from discovery; the app also needs the issuer,
the JWKS URI (to validate ID tokens) and the end-session endpoint (to sign out), so it reads the
same document itself, through the same HTTP session.

Two kinds of provider: Entra External ID (the default; the document lives under the tenant's
`/v2.0/`, and an end-session endpoint is required), or any OpenID Provider named by its issuer
(OIDC_ISSUER; OpenID Connect Discovery 1.0 §4: the document is at `{issuer}/.well-known/...` and
its `issuer` must be identical to the one configured; RP-Initiated Logout is optional there).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from .errors import ProviderUnavailable

CIAM_HOST_SUFFIX = ".ciamlogin.com"


@dataclass(frozen=True)
class TenantMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    # None only for a generic provider without RP-Initiated Logout (Entra always has one).
    end_session_endpoint: str | None
    jwks_uri: str
    # "Initiating User Registration via OpenID Connect 1.0": a provider that lists `create` here opens
    # its sign-up page for prompt=create. Entra does not list it, but documents prompt=create.
    prompt_values_supported: tuple[str, ...] = ()
    # RFC 9207: the provider puts `iss` in every authorization response, and the client must check it.
    authorization_response_iss_parameter_supported: bool = False

    @property
    def tenant_id(self) -> str:
        """Entra issuers end in `/{tenant id}/v2.0`; the tenant id is the segment before `v2.0`."""
        segments = [s for s in urlsplit(self.issuer).path.split("/") if s]
        if not segments:
            return ""  # an issuer without a path names no tenant (and matches no `tid`)
        return segments[-2] if len(segments) >= 2 else segments[-1]


def discovery_url(authority: str) -> str:
    """The URL MSAL itself fetches for this authority (see entra-notes §1)."""
    parts = urlsplit(authority)
    tenant = parts.path.strip("/")
    if not tenant and parts.hostname and parts.hostname.endswith(CIAM_HOST_SUFFIX):
        tenant = parts.hostname[: -len(CIAM_HOST_SUFFIX)] + ".onmicrosoft.com"
    if not tenant:
        raise ValueError(f"authority {authority!r} has no tenant segment")
    return f"{parts.scheme}://{parts.netloc}/{tenant}/v2.0/.well-known/openid-configuration"


def oidc_discovery_url(issuer: str) -> str:
    """OpenID Connect Discovery 1.0 §4: drop a terminating `/` from the issuer, then append the path.

    The same URL MSAL fetches for `oidc_authority=` (it appends to the authority without the slash).
    """
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


class MetadataProvider:
    def __init__(
        self,
        authority: str,
        http: requests.Session,
        *,
        max_age: float = 24 * 3600,
        oidc_issuer: str | None = None,
    ) -> None:
        # oidc_issuer set: a generic OpenID Provider, whose discovery must name exactly that issuer.
        self._oidc_issuer = oidc_issuer
        self.authority = authority
        self.url = oidc_discovery_url(oidc_issuer) if oidc_issuer else discovery_url(authority)
        self._http = http
        self._max_age = max_age
        self._lock = threading.Lock()
        self._metadata: TenantMetadata | None = None
        self._fetched_at = 0.0

    def get(self) -> TenantMetadata:
        metadata = self._metadata
        if metadata is not None and time.monotonic() - self._fetched_at < self._max_age:
            return metadata
        # One request fetches; the others never queue behind it (a hanging provider would hold every
        # thread of the process): they use the document they have, or fail at once as the provider
        # being unavailable.
        if not self._lock.acquire(blocking=False):
            if metadata is not None:
                return metadata
            raise ProviderUnavailable(f"discovery {self.url} is being fetched by another request")
        try:
            if self._metadata is None or time.monotonic() - self._fetched_at >= self._max_age:
                self._metadata = self._fetch()
                self._fetched_at = time.monotonic()
            return self._metadata
        finally:
            self._lock.release()

    def cached(self) -> TenantMetadata | None:
        """The document held now, however old, without fetching (to hand to another process)."""
        return self._metadata

    def preload(self, metadata: TenantMetadata) -> None:
        """Start from a document fetched elsewhere (e.g. by gunicorn's master before it forked)."""
        with self._lock:
            self._metadata = metadata
            self._fetched_at = time.monotonic()

    def _fetch(self) -> TenantMetadata:
        if urlsplit(self.url).scheme != "https":
            # Whoever can change a document fetched in clear chooses every endpoint and key in it.
            raise ProviderUnavailable(f"discovery {self.url} refused: the authority is not an https URL")
        try:
            response = self._http.get(self.url)
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"discovery {self.url} unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise ProviderUnavailable(f"discovery {self.url} answered HTTP {response.status_code}")
        try:
            doc = response.json()
            if not isinstance(doc, dict):
                raise TypeError("the document is not a JSON object")
            # RP-Initiated Logout is optional for an OpenID Provider, never missing in Entra.
            end_session = doc.get("end_session_endpoint") if self._oidc_issuer else doc["end_session_endpoint"]
            metadata = TenantMetadata(
                issuer=doc["issuer"],
                authorization_endpoint=_https_url(doc["authorization_endpoint"], "authorization_endpoint"),
                token_endpoint=_https_url(doc["token_endpoint"], "token_endpoint"),
                end_session_endpoint=None if end_session is None else _https_url(end_session, "end_session_endpoint"),
                jwks_uri=_https_url(doc["jwks_uri"], "jwks_uri"),
                prompt_values_supported=_strings(doc.get("prompt_values_supported")),
                authorization_response_iss_parameter_supported=(
                    doc.get("authorization_response_iss_parameter_supported") is True
                ),
            )
            if not isinstance(metadata.issuer, str) or not metadata.issuer:
                raise TypeError(f"issuer {metadata.issuer!r} is not a string")
        except NotHttps as exc:
            raise ProviderUnavailable(f"discovery {self.url} refused: {exc}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderUnavailable(f"discovery {self.url} returned an unusable document: {exc!r}") from exc
        if self._oidc_issuer is not None and metadata.issuer != self._oidc_issuer:
            # OpenID Connect Discovery 1.0 §4.3: a mismatch means the wrong provider (or an impostor).
            raise ProviderUnavailable(
                f"discovery {self.url} names issuer {metadata.issuer!r}, not OIDC_ISSUER {self._oidc_issuer!r}"
            )
        if self._oidc_issuer is None:
            self._check_tenant(metadata)
        return metadata

    def _check_tenant(self, metadata: TenantMetadata) -> None:
        """The issuer must name the tenant AUTHORITY names. An authority's path holds the tenant as
        a GUID or as a domain (`{name}.onmicrosoft.com`, also what MSAL derives for a path-less
        ciamlogin.com authority; entra-notes §1); the issuer always holds the GUID (security-tokens
        doc), so only a GUID in the authority can be compared; a domain cannot be mapped to its GUID
        without asking the tenant itself, so it is left to the issuer and `tid` checks."""
        segments = [s for s in urlsplit(self.authority).path.split("/") if s]
        if not segments or not _is_guid(segments[0]):
            return
        if metadata.tenant_id.lower() != segments[0].lower():
            raise ProviderUnavailable(
                f"discovery {self.url} names issuer {metadata.issuer!r}, whose tenant is not the "
                f"authority's tenant {segments[0]}"
            )


class NotHttps(ValueError):
    """An endpoint in discovery is not an https URL."""


def _https_url(value: object, name: str) -> str:
    """An endpoint from discovery: only https, so that keys, codes and tokens never travel in clear
    and no one on the path can substitute the JWKS (OpenID Connect Discovery 1.0 §3: URLs using https)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} is not a string: {value!r}")
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise NotHttps(f"{name} {value!r} is not an https URL")
    return value


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


def _strings(value: object) -> tuple[str, ...]:
    """A JSON array of strings from discovery (absent means empty); anything else is unusable."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"expected an array of strings, got {value!r}")
    return tuple(value)
