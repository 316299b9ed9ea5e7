"""Validation of the access tokens callers present to the API. No Flask, no trust in the caller.

Checks, in order (entra-notes §12, §13; "Access token claims reference"): ciam_core's TokenVerifier,
shared with the web app's ID tokens (RS256 only, never `none` or an HMAC; `typ` JWT or at+jwt; a
key from the tenant's JWKS under its hardened rules; numeric dates; `iss` equals discovery's
issuer; `exp`/`nbf`/`iat` with a small leeway); `aud` is exactly this API's client id (v2 tokens;
a Graph token or another API's fails here); `ver` is "2.0"; `tid` is our tenant; `azp` is an
allowed client app; `scp` holds the required scope; and, when configured, `acrs` holds the
required authentication context.

Every refusal raises a typed error carrying the reason for the log; callers answer with RFC 6750's
codes only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ciam_core.discovery import MetadataProvider
from ciam_core.errors import ProviderUnavailable, TokenRejected
from ciam_core.jwks import JwksCache
from ciam_core.jwt_verification import ACCESS_TOKEN_TYPES, TokenVerifier

from .errors import ClaimsChallenge, InsufficientScope, InvalidToken, TemporarilyUnavailable

# On top of iss, aud, exp, iat (ciam_core.jwt_verification).
REQUIRED_CLAIMS = ("nbf", "tid", "ver", "azp", "oid", "sub")
# A real token is a few kilobytes; anything far larger is refused before any decoding.
MAX_TOKEN_LENGTH = 16 * 1024
# Client capability that says "I can handle a claims challenge" (xms_cc optional claim).
CLAIMS_CHALLENGE_CAPABILITY = "cp1"


@dataclass(frozen=True)
class AccessToken:
    """A validated access token: the raw token (for the on-behalf-of assertion) and its claims."""

    raw: str
    claims: dict[str, Any]

    @property
    def expires_at(self) -> int:
        return int(self.claims["exp"])

    @property
    def user(self) -> str:
        """Who the token is about, for the log: tenant and object id (no name, no email)."""
        return f"{self.claims['tid']}/{self.claims['oid']}"


def auth_context_claims(context_id: str) -> str:
    """The claims request for an authentication context (Microsoft's claims-challenge guidance)."""
    return json.dumps({"access_token": {"acrs": {"essential": True, "value": context_id}}}, separators=(",", ":"))


class AccessTokenValidator:
    def __init__(
        self,
        *,
        metadata: MetadataProvider,
        jwks: JwksCache,
        client_id: str,
        tenant_id: str,
        allowed_client_apps: frozenset[str],
        required_scope: str,
        required_auth_context: str | None = None,
        leeway: float = 60.0,
    ) -> None:
        self._verifier = TokenVerifier(metadata=metadata, jwks=jwks, leeway=leeway)
        self._client_id = client_id
        self._tenant_id = tenant_id.lower()
        self._allowed_client_apps = frozenset(app.lower() for app in allowed_client_apps)
        self._required_scope = required_scope
        self._required_auth_context = required_auth_context

    def validate(self, token: str) -> AccessToken:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("not a compact JWS of a plausible size")
        try:
            claims = self._verifier.verify(
                token,
                audience=self._client_id,
                accepted_types=ACCESS_TOKEN_TYPES,
                required_claims=REQUIRED_CLAIMS,
                kind="access token",
            )
        except TokenRejected as exc:
            raise InvalidToken(exc.reason) from exc
        except ProviderUnavailable as exc:
            raise TemporarilyUnavailable(exc.reason) from exc

        # v2 access tokens name exactly one audience, this API's client id (a list is not one of ours).
        if claims["aud"] != self._client_id:
            raise InvalidToken(f"access token audience {claims['aud']!r} is not exactly this API")
        if claims["ver"] != "2.0":
            raise InvalidToken(f"token version {claims['ver']!r}, not 2.0")
        if str(claims["tid"]).lower() != self._tenant_id:
            raise InvalidToken(f"tid {claims['tid']!r} is not this tenant")
        if str(claims["azp"]).lower() not in self._allowed_client_apps:
            raise InvalidToken(f"client app (azp) {claims['azp']!r} may not call this API")
        scopes = claims.get("scp")
        if not isinstance(scopes, str) or self._required_scope not in scopes.split(" "):
            # No scp at all is an app-only token: it cannot act for a user.
            raise InsufficientScope(f"scp {scopes!r} lacks {self._required_scope}")
        if self._required_auth_context is not None:
            self._check_auth_context(claims)
        return AccessToken(raw=token, claims=claims)

    def _check_auth_context(self, claims: dict[str, Any]) -> None:
        contexts = _string_list(claims.get("acrs"))
        if self._required_auth_context in contexts:
            return
        reason = f"acrs {contexts!r} lacks the required authentication context {self._required_auth_context}"
        if CLAIMS_CHALLENGE_CAPABILITY in _string_list(claims.get("xms_cc")):
            raise ClaimsChallenge(reason, auth_context_claims(self._required_auth_context))
        # A client that did not declare cp1 cannot handle a claims challenge (it would loop), so it
        # gets the plain refusal; it must ask for the context itself.
        raise InsufficientScope(reason + " (client did not declare cp1)")


def _string_list(value: Any) -> list[str]:
    """`acrs` and `xms_cc` are arrays of strings; tolerate a single string, ignore anything else."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []
