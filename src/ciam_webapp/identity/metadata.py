"""The tenant's OpenID Connect discovery document, fetched once per process and cached.

MSAL reads only the authorize and token endpoints from discovery; the app also needs the issuer,
the JWKS URI (to validate ID tokens) and the end-session endpoint (to sign out), so it reads the
same document itself, through the same HTTP session.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from .errors import TenantUnavailable

CIAM_HOST_SUFFIX = ".ciamlogin.com"


@dataclass(frozen=True)
class TenantMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    end_session_endpoint: str
    jwks_uri: str

    @property
    def tenant_id(self) -> str:
        """Entra issuers end in `/{tenant id}/v2.0`; the tenant id is the segment before `v2.0`."""
        segments = [s for s in urlsplit(self.issuer).path.split("/") if s]
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


class MetadataProvider:
    def __init__(self, authority: str, http: requests.Session, *, max_age: float = 24 * 3600) -> None:
        self.url = discovery_url(authority)
        self._http = http
        self._max_age = max_age
        self._lock = threading.Lock()
        self._metadata: TenantMetadata | None = None
        self._fetched_at = 0.0

    def get(self) -> TenantMetadata:
        metadata = self._metadata
        if metadata is not None and time.monotonic() - self._fetched_at < self._max_age:
            return metadata
        with self._lock:
            if self._metadata is None or time.monotonic() - self._fetched_at >= self._max_age:
                self._metadata = self._fetch()
                self._fetched_at = time.monotonic()
            return self._metadata

    def _fetch(self) -> TenantMetadata:
        try:
            response = self._http.get(self.url)
        except requests.RequestException as exc:
            raise TenantUnavailable(f"discovery {self.url} unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise TenantUnavailable(f"discovery {self.url} answered HTTP {response.status_code}")
        try:
            doc = response.json()
            return TenantMetadata(
                issuer=doc["issuer"],
                authorization_endpoint=doc["authorization_endpoint"],
                token_endpoint=doc["token_endpoint"],
                end_session_endpoint=doc["end_session_endpoint"],
                jwks_uri=doc["jwks_uri"],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise TenantUnavailable(f"discovery {self.url} returned an unusable document: {exc!r}") from exc
