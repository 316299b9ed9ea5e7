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
from typing import Any

import jwt

from ciam_core.discovery import MetadataProvider
from ciam_core.errors import ProviderUnavailable, UntrustedKey
from ciam_core.jwks import JwksCache

from .errors import IdTokenError, TenantUnavailable

ALLOWED_ALGORITHMS = ("RS256",)
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "sub", "tid")
# OpenID Connect Core 1.0 §2: what every ID token carries (nonce is checked separately when sent).
OIDC_REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "sub")


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
        try:
            key = self._jwks.key_for(kid)
            metadata = self._metadata.get()
        except UntrustedKey as exc:
            raise IdTokenError(f"ID token {exc.reason}") from exc
        except ProviderUnavailable as exc:
            raise TenantUnavailable(exc.reason) from exc
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
