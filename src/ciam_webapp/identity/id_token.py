"""ID token validation, done by the app because MSAL Python (1.38+) no longer checks ID tokens.

The JWT checks every token goes through live in `ciam_core.jwt_verification` (shared with the
mfa-app API): RS256 only, `typ` absent or JWT (an access token, `at+jwt`, is refused), a usable
RSA key from the tenant's JWKS (a token without `kid` only when the JWKS holds exactly one usable
key), `exp`/`nbf`/`iat`/`auth_time` JSON numbers within sane bounds, signature, `iss` equal to the
discovery issuer, `aud` containing our client id, lifetimes with a small leeway. On top of those,
the ID token's own rules: `azp`, when present, is us (and required when there are several
audiences; OpenID Connect Core 1.0 §3.1.3.7), `tid` is our tenant, and `nonce` matches the one
this sign-in sent.

With a generic OpenID Provider (OIDC_ISSUER) every check stays except `tid`: it is Entra's claim, not
OpenID Connect's, and the issuer alone identifies such a provider.
"""

from __future__ import annotations

import hmac
from typing import Any

from ciam_core.discovery import MetadataProvider
from ciam_core.errors import ProviderUnavailable, TokenRejected
from ciam_core.jwks import JwksCache
from ciam_core.jwt_verification import ID_TOKEN_TYPES, TokenVerifier

from .errors import IdTokenError, TenantUnavailable

__all__ = ["IdTokenValidator", "JwksCache"]

# On top of iss, aud, exp, iat (always required). OpenID Connect Core 1.0 §2: every ID token has `sub`.
REQUIRED_CLAIMS = ("sub", "tid")
OIDC_REQUIRED_CLAIMS = ("sub",)


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
        self._verifier = TokenVerifier(metadata=metadata, jwks=jwks, leeway=leeway)
        self._client_id = client_id
        self._tenant_id = tenant_id
        # False only for a generic OpenID Provider: Entra's tokens must always name our tenant.
        self._require_tid = require_tid
        self._required_claims = REQUIRED_CLAIMS if require_tid else OIDC_REQUIRED_CLAIMS

    @property
    def jwks(self) -> JwksCache:
        return self._verifier.jwks

    def validate(self, id_token: str, *, expected_nonce: str | None) -> dict[str, Any]:
        try:
            claims = self._verifier.verify(
                id_token,
                audience=self._client_id,
                accepted_types=ID_TOKEN_TYPES,
                required_claims=self._required_claims,
                kind="ID token",
            )
            metadata = self._metadata.get()
        except TokenRejected as exc:
            raise IdTokenError(exc.reason) from exc
        except ProviderUnavailable as exc:
            raise TenantUnavailable(exc.reason) from exc

        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        if azp is not None and azp != self._client_id:
            raise IdTokenError(f"ID token azp {azp!r} names another client than this app")
        if len(audiences) > 1 and azp is None:
            raise IdTokenError("ID token has several audiences and no azp naming this app")
        if self._require_tid:
            expected_tid = self._tenant_id or metadata.tenant_id
            if str(claims["tid"]).lower() != expected_tid.lower():
                raise IdTokenError(f"ID token tid {claims['tid']!r} is not this tenant ({expected_tid})")
        if expected_nonce is not None:
            nonce = claims.get("nonce")
            if not isinstance(nonce, str) or not hmac.compare_digest(nonce, expected_nonce):
                raise IdTokenError("ID token nonce does not match this sign-in")
        return claims
