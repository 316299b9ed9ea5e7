"""ID token validation, done by the app because MSAL Python (1.38+) no longer checks ID tokens.

Checks, in order: algorithm is RS256 (never `none` or an HMAC), signature against the tenant's JWKS
(cached; refetched at most once per unknown `kid`), `iss` equals the discovery issuer, `aud`
contains our client id (and `azp` is us when there are several audiences), `exp`/`nbf`/`iat` with a
small leeway, `tid` is our tenant, and `nonce` matches the one this sign-in sent.

With a generic OpenID Provider (OIDC_ISSUER) every check stays except `tid`: it is Entra's claim, not
OpenID Connect's, and the issuer alone identifies such a provider.
"""

from __future__ import annotations

import base64
import hmac
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
import requests

from .errors import IdTokenError, TenantUnavailable
from .metadata import MetadataProvider

ALLOWED_ALGORITHMS = ("RS256",)
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "sub", "tid")
# OpenID Connect Core 1.0 §2: what every ID token carries (nonce is checked separately when sent).
OIDC_REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "sub")


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
        with self._lock:
            if kid not in self._keys and not self._recently_unknown(kid):
                self._keys = self._fetch()
                if kid not in self._keys:
                    self._unknown_kids[kid] = self._clock()
            key = self._keys.get(kid)
        if key is None:
            raise IdTokenError(f"ID token signed with unknown kid {kid!r} (not in the tenant's JWKS)")
        return key

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
            raise TenantUnavailable(f"JWKS {uri} unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise TenantUnavailable(f"JWKS {uri} answered HTTP {response.status_code}")
        try:
            key_set = jwt.PyJWKSet.from_dict(response.json())
        except (ValueError, jwt.PyJWKSetError) as exc:
            raise TenantUnavailable(f"JWKS {uri} is unusable: {exc}") from exc
        return {key.key_id: key for key in key_set.keys if key.key_id and key.public_key_use in (None, "sig")}


class IdTokenValidator:
    def __init__(
        self,
        *,
        metadata: MetadataProvider,
        jwks: JwksCache,
        client_id: str,
        tenant_id: str | None = None,
        leeway: float = 120.0,
        require_tid: bool = True,
    ) -> None:
        self._metadata = metadata
        self._jwks = jwks
        self._client_id = client_id
        self._tenant_id = tenant_id
        self._leeway = leeway
        # False only for a generic OpenID Provider: Entra's tokens must always name our tenant.
        self._require_tid = require_tid
        self._required_claims = list(REQUIRED_CLAIMS if require_tid else OIDC_REQUIRED_CLAIMS)

    def validate(self, id_token: str, *, expected_nonce: str | None) -> dict[str, Any]:
        header = _unverified_header(id_token)
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise IdTokenError(f"ID token uses algorithm {alg!r}; only {', '.join(ALLOWED_ALGORITHMS)} is accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise IdTokenError("ID token header has no kid")
        key = self._jwks.key_for(kid)
        metadata = self._metadata.get()
        try:
            claims = jwt.decode(
                id_token,
                key=key.key,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=self._client_id,
                issuer=metadata.issuer,
                leeway=self._leeway,
                options={"require": self._required_claims, "verify_iat": True},
            )
        except jwt.InvalidSignatureError as exc:
            raise IdTokenError("ID token signature does not verify") from exc
        except jwt.ExpiredSignatureError as exc:
            raise IdTokenError("ID token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise IdTokenError(f"ID token is not valid yet: {exc}") from exc
        except jwt.InvalidAudienceError as exc:
            raise IdTokenError(f"ID token audience is not this app: {exc}") from exc
        except jwt.InvalidIssuerError as exc:
            raise IdTokenError(f"ID token issuer is not the tenant's ({metadata.issuer})") from exc
        except jwt.InvalidTokenError as exc:
            raise IdTokenError(f"ID token is invalid: {exc}") from exc

        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self._client_id:
            raise IdTokenError("ID token has several audiences and azp is not this app")
        if self._require_tid:
            expected_tid = self._tenant_id or metadata.tenant_id
            if str(claims["tid"]).lower() != expected_tid.lower():
                raise IdTokenError(f"ID token tid {claims['tid']!r} is not this tenant ({expected_tid})")
        if expected_nonce is not None:
            nonce = claims.get("nonce")
            if not isinstance(nonce, str) or not hmac.compare_digest(nonce, expected_nonce):
                raise IdTokenError("ID token nonce does not match this sign-in")
        return claims


def _unverified_header(id_token: str) -> dict[str, Any]:
    """The JOSE header alone, to pick the algorithm and key before anything is verified.

    jwt.get_unverified_header would decode and check all three segments (in Python, byte by byte),
    and jwt.decode does all of that again; the header is covered by the signature, so reading only
    its segment here is enough (measured: benchmarks/results.md, "Profiling and fixes").
    """
    encoded = id_token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except ValueError as exc:  # binascii.Error, UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise IdTokenError(f"ID token is not a well-formed JWT: {exc}") from exc
    if not isinstance(header, dict):
        raise IdTokenError("ID token is not a well-formed JWT: its header is not a JSON object")
    return header
